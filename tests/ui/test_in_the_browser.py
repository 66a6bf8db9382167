"""The pages in a real browser (Debian's Chromium through Playwright): a DPO's morning, and
the refusals a browser must meet. Screenshots of each page go to the screenshots folder.

Few and meaningful: one browser for the session, two tests."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

from tests.ui.conftest import XSS, Live, browser_login


def _no_dialogs(page: Any) -> list[str]:
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen


def test_a_dpos_morning(page: Any, live: Live) -> None:
    site = live.site
    rid = site.overdue_access_request()
    ref = site.breach(title=f"Lost laptop {XSS}", hours_ago=10)
    dialogs = _no_dialogs(page)

    page.goto("/ui/requests")  # no session: the login page, and back here after it
    assert "/ui/login?next=/ui/requests" in page.url
    page.shot("login")
    page.get_by_label("API key").fill(site.keys["dpo"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/ui/requests")

    page.goto("/ui/")
    today = page.locator("#requests")
    assert "1 overdue" in today.inner_text()
    page.shot("today")
    today.get_by_role("link", name=rid).click()
    page.wait_for_url(f"**/ui/requests/{rid}")
    page.shot("request")
    page.get_by_role("link", name="Run…").click()
    page.get_by_role("button", name="Run the request").click()
    page.get_by_text("Run finished: the request is now completed").wait_for()
    page.get_by_role("link", name="Open the package…").click()
    page.get_by_label("Reason").fill("sent via secure portal, ticket 42")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download the package (ZIP)").click()
    download = dl.value
    assert download.suggested_filename == f"{rid}-package.zip"
    with open(download.path(), "rb") as fh:
        assert sorted(zipfile.ZipFile(io.BytesIO(fh.read())).namelist()) == [
            "package.html", "package.json"]

    page.goto("/ui/breaches")
    page.shot("breaches")
    page.get_by_role("link", name=ref).click()
    hours = page.locator("#hours-left").inner_text()
    assert re.fullmatch(r"6[12]\.\d hours left", hours), hours
    assert XSS in page.locator("h1").inner_text()  # shown as text, never run
    page.get_by_role("link", name="Refresh the clock").click()  # htmx: swapped in place
    page.wait_for_function("document.querySelector('#clock') !== null")
    assert page.url.endswith(f"/ui/breaches/{ref}")
    assert re.fullmatch(r"6[12]\.\d hours left", page.locator("#hours-left").inner_text())
    page.shot("breach")
    assert dialogs == []

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/ui/login")
    page.goto("/ui/")
    assert "/ui/login" in page.url


def test_refusals_in_the_browser(page: Any, live: Live) -> None:
    site = live.site
    ref = site.breach()
    browser_login(page, site.keys["dpo"])
    page.goto(f"/ui/breaches/{ref}")
    # a form whose CSRF token is missing (as a forged cross-site form would be)
    page.evaluate("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    page.get_by_role("button", name="Assess the risk").click()
    page.get_by_role("heading", name="Form refused").wait_for()
    page.shot("csrf-refused")
    page.goto(f"/ui/breaches/{ref}")
    assert page.get_by_text("Not assessed yet.").count() == 1  # nothing changed

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/ui/login")
    browser_login(page, site.keys["auditor"])
    nav = page.get_by_role("navigation", name="Pages")
    assert nav.get_by_role("link", name="Consent").count() == 0
    page.goto("/ui/consent")  # an auditor may not see consent history
    page.get_by_role("heading", name="Not for your role").wait_for()
    page.shot("auditor-refused")

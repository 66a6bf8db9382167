"""Every page, in a real browser, checked by axe-core (vendored in tests/ui/vendor): no serious
or critical violation. And the charts: drawn by the vendored Chart.js under the pages' real
Content-Security-Policy (no violation reported), each beside the table of its figures, which
stays readable with JavaScript off. Screenshots of each page go to the screenshots folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.ui.conftest import CUSTOMER, Live, Site, browser_login
from tests.ui.test_decisions_page import decided, with_fairness

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def populate(site: Site) -> dict[str, str]:
    """One of everything a page lists: consents, a run, decisions, a request, a breach."""
    import veil
    from veil.consent import Ledger

    ledger = Ledger(site.ws, site.policy)
    for i in range(3):
        ledger.grant(f"C-{i}", "offers", channel="web_form", action="clicked 'I agree'",
                     collector="web")
    src = site.root / "customers.csv"
    src.write_text("customer_id,email,balance\n" + "".join(
        f"C-{i},c{i}@example.com,{i}.5\n" for i in range(5)), "utf-8")
    veil.run(site.root / "policy.yaml", "offers", src, site.root / "o.parquet", workspace=site.ws)
    receipt = json.loads((site.root / "o.parquet.receipt.json").read_text("utf-8"))
    _, refused = decided(site)
    with_fairness(site)
    request = site.overdue_access_request()
    breach = site.breach()
    return {"run": receipt["run_id"], "decision": refused, "request": request,
            "breach": breach}


def pages(ids: dict[str, str]) -> list[tuple[str, str]]:
    return [("today", "/ui/"), ("requests", "/ui/requests"),
            ("request", f"/ui/requests/{ids['request']}"), ("breaches", "/ui/breaches"),
            ("breach", f"/ui/breaches/{ids['breach']}"), ("consent", "/ui/consent"),
            ("runs", "/ui/runs"), ("run", f"/ui/runs/{ids['run']}"),
            ("records", "/ui/records"), ("dpia", "/ui/records/dpia/scoring"),
            ("decisions", "/ui/decisions"), ("decision", f"/ui/decisions/{ids['decision']}"),
            ("not-found", "/ui/runs/0123456789")]


def serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    page.add_script_tag(content=AXE.read_text("utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} at "
            + "; ".join(n["target"][0] for n in v["nodes"][:3])
            for v in result["violations"] if v["impact"] in SERIOUS]


def test_every_page_is_accessible_and_its_charts_are_drawn(browser: Any, live: Live,
                                                            screenshots: Path) -> None:
    """One populated site for both checks (a browser test is costly)."""
    populated = populate(live.site)
    no_serious_violation(browser, live, populated, screenshots)
    charts_drawn_under_the_csp(browser, live, populated)
    readable_on_a_phone(browser, live, populated, screenshots)


def readable_on_a_phone(browser: Any, live: Live, populated: dict[str, str],
                        screenshots: Path) -> None:
    """At a phone's width (390 CSS pixels) no page scrolls sideways: wide tables scroll inside
    their own box, the page itself fits."""
    context = browser.new_context(base_url=live.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(15_000)
    browser_login(page, live.site.keys["dpo"])
    wide: dict[str, int] = {}
    for path in ("/ui/", "/ui/requests", "/ui/breaches", "/ui/consent", "/ui/runs",
                 f"/ui/runs/{populated['run']}", "/ui/records", "/ui/decisions",
                 f"/ui/decisions/{populated['decision']}"):
        page.goto(path)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 391:
            wide[path] = width
        page.screenshot(path=str(screenshots / f"phone{path.replace('/', '_')[:60]}.png"))
    context.close()
    assert wide == {}


def no_serious_violation(browser: Any, live: Live, populated: dict[str, str],
                         screenshots: Path) -> None:
    # axe is injected as a script of the test: this context lets it past the page's CSP
    context = browser.new_context(base_url=live.url, bypass_csp=True,
                                  viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    found: dict[str, list[str]] = {}
    page.goto("/ui/login")
    found["login"] = serious(page)
    browser_login(page, live.site.keys["dpo"])
    for name, path in pages(populated):
        page.goto(path)
        page.wait_for_load_state("load")
        found[name] = serious(page)
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    page.goto("/ui/consent")
    page.get_by_label("Subject id").fill(CUSTOMER)
    page.get_by_role("button", name="Look up").click()
    page.wait_for_selector("#lookup-result")
    found["consent-lookup"] = serious(page)
    page.screenshot(path=str(screenshots / "consent-lookup.png"), full_page=True)
    page.goto("/ui/records")  # printable: navigation and forms left out, the records kept
    page.emulate_media(media="print")
    assert not page.locator("header.top").is_visible()
    assert page.get_by_role("heading", name="Purpose offers").is_visible()
    page.emulate_media(media="screen")
    context.close()
    assert {k: v for k, v in found.items() if v} == {}


def charts_drawn_under_the_csp(browser: Any, live: Live, populated: dict[str, str]) -> None:
    """Drawn by the vendored Chart.js with the page's CSP in force (no violation reported),
    each chart beside its table; with JavaScript off, the tables alone."""
    context = browser.new_context(base_url=live.url, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    browser_login(page, live.site.keys["dpo"])
    for path, charts in (("/ui/consent", 2), (f"/ui/runs/{populated['run']}", 1),
                         ("/ui/decisions", 1), (f"/ui/decisions/{populated['decision']}", 1)):
        page.goto(path)
        page.wait_for_function(f"document.querySelectorAll('figure.chart canvas').length"
                               f" >= {charts}")
        drawn = page.evaluate("""() => [...document.querySelectorAll('figure.chart')].map(f =>
            [!!f.querySelector('canvas[role=img][aria-label]'),
             !!f.querySelector('table.chart-data'), f.querySelector('canvas') ?
             f.querySelector('canvas').width > 0 : false])""")
        assert drawn and all(all(x) for x in drawn), (path, drawn)
    context.close()
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []

    no_js = browser.new_context(base_url=live.url, java_script_enabled=False)
    page = no_js.new_page()
    browser_login(page, live.site.keys["dpo"])
    page.goto("/ui/consent")
    assert page.locator("canvas").count() == 0
    assert page.locator("table.chart-data").count() >= 2
    assert page.get_by_role("row", name="offers").count() >= 1
    no_js.close()

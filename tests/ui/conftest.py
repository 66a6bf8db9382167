"""Fixtures of the pages' tests: a workspace served with keys per role, logged-in TestClients,
data that needs attention, and the browser harness (Playwright driving Debian's Chromium).

``site`` gives a workspace (SQLite) with the service tests' policy (time zone Europe/Berlin),
one API key per role and ``site.client(role)``: a TestClient logged in through the login form.
``live`` serves the same on a real port (uvicorn in a thread) for ``browser``, one Chromium per
test session (``PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH``, else ``chromium`` on the PATH; the
browser tests skip, saying so, when there is none: ``.ci/run`` installs it). ``shot(page,
name)`` writes a screenshot to ``VEIL_UI_SCREENSHOTS`` (else a temporary folder).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import SERVICE_KEK_VAR, make_keys, make_workspace

ZONE = "Europe/Berlin"
CUSTOMER = "anna.schmidt@example.com"  # looks like personal data on purpose
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="session", autouse=True)
def ui_kek() -> Iterator[None]:
    from veil.kek.providers import EnvKEK

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SERVICE_KEK_VAR, os.environ.get(SERVICE_KEK_VAR) or EnvKEK.new_secret())
        yield


def csrf_of(html: str, action: str | None = None) -> str:
    """The CSRF token of the page's first form (of the form posting to ``action``)."""
    if action is not None:
        html = html[html.index(f'action="{action}"'):]
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


@dataclass
class Site:
    """A workspace served by the service app, with one API key per role."""

    root: Path
    ws: Any
    keys: dict[str, str]
    clients: list[Any] = field(default_factory=list)

    @property
    def policy(self) -> Any:
        from veil.policy import load_policy

        return load_policy(self.root / "policy.yaml")

    def app(self) -> Any:
        from veil.service import ServiceConfig, create_app

        return create_app(ServiceConfig.load(self.root, policy=str(self.root / "policy.yaml"),
                                             rate_limit=0))

    def client(self, role: str | None = None) -> Any:
        """A TestClient (closed at the end of the test), logged in as ``role`` when given."""
        from fastapi.testclient import TestClient

        c = TestClient(self.app(), raise_server_exceptions=False)
        c.__enter__()
        self.clients.append(c)
        if role is not None:
            login(c, self.keys[role])
        return c

    # -- data that needs attention ------------------------------------------------------

    def overdue_access_request(self) -> str:
        """An access request received 40 days ago (overdue) for a consenting customer."""
        from veil.consent import Ledger
        from veil.lifecycle import requests

        Ledger(self.ws, self.policy).grant(CUSTOMER, "offers", channel="web_form",
                                           action="ticked the box", collector="tests",
                                           notice_version="1")
        received = datetime.now(UTC) - timedelta(days=40)
        rec = requests(self.ws, self.policy).open("access", CUSTOMER, received=received,
                                                  actor="tests")
        return str(rec.id)

    def breach(self, title: str = "Laptop lost", *, hours_ago: float = 10.0,
               other: str = "a laptop with customer notes") -> str:
        from veil.incidents import Breaches

        aware = datetime.now(UTC) - timedelta(hours=hours_ago)
        b = Breaches(self.ws, policy=self.policy, actor="tests").open(
            title=title, occurred_at=aware - timedelta(hours=1), aware_at=aware,
            nature=["confidentiality"], other=[other])
        return str(b.ref)


def login(client: Any, key: str, next_path: str | None = None) -> Any:
    """Log in through the form (its double-submit token included); the final response."""
    page = client.get("/ui/login" + (f"?next={next_path}" if next_path else ""))
    assert page.status_code == 200, page.text[:300]
    data = {"key": key, "csrf": csrf_of(page.text, "/ui/login"), "next": next_path or "/ui/"}
    return client.post("/ui/login", data=data)


@pytest.fixture(scope="session")
def site_template(tmp_path_factory: pytest.TempPathFactory, ui_kek: None
                  ) -> tuple[Path, dict[str, str]]:
    """One workspace made once (policy, notice, model, keys); each test gets a copy."""
    root = tmp_path_factory.mktemp("ui-template") / "ws"
    root.mkdir()
    ws = make_workspace(root)
    policy = root / "policy.yaml"
    text = policy.read_text("utf-8")
    policy.write_text(text.replace("  name: Test Bank SE\n",
                                   f"  name: Test Bank SE\n  timezone: {ZONE}\n", 1), "utf-8")
    keys = make_keys(ws)
    ws.close()
    return root, keys


@pytest.fixture
def site(tmp_path: Path, site_template: tuple[Path, dict[str, str]]) -> Iterator[Site]:
    from veil.store.workspace import Workspace

    root = tmp_path / "ws"
    shutil.copytree(site_template[0], root)
    ws = Workspace.open(root).ready()
    s = Site(root, ws, dict(site_template[1]))
    yield s
    for c in s.clients:
        c.__exit__(None, None, None)
    ws.close()


# -- the browser -------------------------------------------------------------------------------

def chromium_path() -> str | None:
    given = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH")
    if given:
        return given if os.path.isfile(given) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (Debian's; Playwright downloads nothing)."""
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium: apt-get install chromium (or set "
                    "PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH); .ci/run installs it")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (the test extra has it)")
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=path, headless=True,
                           args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
    yield b
    b.close()
    pw.stop()


@dataclass
class Live:
    site: Site
    url: str


@pytest.fixture
def live(site: Site) -> Iterator[Live]:
    """The site served by uvicorn on 127.0.0.1 (a free port), in a thread of this process."""
    import uvicorn

    config = uvicorn.Config(site.app(), host="127.0.0.1", port=0, log_level="warning",
                            access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:  # it starts, or its thread ends: no deadline to race
        assert thread.is_alive(), "the server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Live(site, f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("VEIL_UI_SCREENSHOTS")
    folder = Path(given) if given else tmp_path_factory.mktemp("ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Any, live: Live, screenshots: Path) -> Iterator[Any]:
    """A fresh browser context (no cookies) on the live site; ``page.shot(name)`` saves a
    full-page screenshot."""
    context = browser.new_context(base_url=live.url, accept_downloads=True,
                                  viewport={"width": 1200, "height": 900})
    p = context.new_page()
    p.set_default_timeout(15_000)
    p.shot = lambda name: p.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
    yield p
    context.close()


def browser_login(page: Any, key: str) -> None:
    page.goto("/ui/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/ui/(\?.*)?$|.*/ui/[a-z].*"))

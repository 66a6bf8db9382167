"""The pages' security rules through the real app: no page without a session, cookies
HttpOnly / SameSite=Strict / Secure under TLS, a new session id at every login (no fixation),
logout and expiry end the session on the server, a revoked key ends its sessions, every form
needs its CSRF token, ``next`` never leaves the site, one-time links work once."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from tests.ui.conftest import Site, csrf_of, login
from veil.store.schema import ui_sessions
from veil.ui.auth import COOKIE, safe_next
from veil.ui.sessions import IDLE, SessionStore, digest, now_us

PAGES = ["/ui/", "/ui/requests", "/ui/requests/abcd1234", "/ui/breaches",
         "/ui/breaches/BR-0001", "/ui/requests/abcd1234/confirm?action=run"]


def events(site: Site, action: str) -> list:
    from veil.audit.log import AuditLog

    return list(AuditLog(site.ws).events(action=action))


@pytest.mark.parametrize("path", PAGES)
def test_pages_without_a_session_redirect_to_login_and_back(site: Site, path: str) -> None:
    c = site.client()
    r = c.get(path, follow_redirects=False)
    assert r.status_code == 303
    target = r.headers["location"]
    assert target.startswith("/ui/login")
    if path != "/ui/":
        assert "next=" in target
        # after logging in, the browser comes back to the page it asked for
        back = login(c, site.keys["dpo"], next_path=path.split("?")[0])
        assert str(back.url).endswith(path.split("?")[0])


def test_forms_without_a_session_go_to_login_and_change_nothing(site: Site) -> None:
    rid = site.overdue_access_request()
    c = site.client()
    r = c.post(f"/ui/requests/{rid}/run", data={"csrf": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert site_request_status(site, rid) == "open"


def site_request_status(site: Site, rid: str) -> str:
    from veil.lifecycle import requests

    return requests(site.ws, site.policy).get(rid).status


def test_login_sets_a_strict_httponly_cookie_and_records_the_person(site: Site) -> None:
    c = site.client()
    r = login(c, site.keys["dpo"])
    assert r.status_code == 200 and "Today" in r.text
    cookie = next(h for h in r.history[0].headers.get_list("set-cookie")
                  if h.startswith(f"{COOKIE}="))
    flags = {p.strip().lower() for p in cookie.split(";")}
    assert "httponly" in flags and "samesite=strict" in flags and "path=/ui" in flags
    assert "secure" not in flags  # plain HTTP on loopback: a Secure cookie would not come back
    key_id = site.keys["dpo"].split("_")[1]
    logins = events(site, "ui.login")
    assert [e.actor for e in logins] == [f"key:{key_id}"]
    secret = site.keys["dpo"].split("_")[2]
    assert all(secret.encode() not in e.data for e in logins)


def test_the_cookie_is_secure_under_tls(site: Site) -> None:
    from fastapi.testclient import TestClient

    with TestClient(site.app(), base_url="https://testserver") as c:
        page = c.get("/ui/login")
        assert "secure" in page.headers["set-cookie"].lower()
        r = c.post("/ui/login", data={"key": site.keys["dpo"], "csrf": csrf_of(page.text)},
                   follow_redirects=False)
        assert r.status_code == 303
        assert "secure" in r.headers["set-cookie"].lower()


def test_a_bad_key_is_refused_and_recorded(site: Site) -> None:
    c = site.client()
    r = login(c, "veil_000000000000_" + "A" * 43)
    assert r.status_code == 401 and "not valid" in r.text
    assert COOKIE not in c.cookies
    assert [e.outcome for e in events(site, "ui.login")] == ["denied"]


def test_login_makes_a_new_session_id_and_ends_a_planted_one(site: Site) -> None:
    """Session fixation: an id the attacker knows (planted in the victim's browser) is
    never the victim's session after login."""
    attacker = site.client("auditor")
    planted = attacker.cookies.get(COOKIE)
    victim = site.client()
    victim.cookies.set(COOKIE, planted, domain="testserver.local", path="/ui")
    login(victim, site.keys["dpo"])
    assert victim.cookies.get(COOKIE) != planted
    assert victim.get("/ui/requests").status_code == 200  # the dpo's session
    # the planted session is over: the attacker holds nothing
    assert attacker.get("/ui/", follow_redirects=False).status_code == 303
    made_up = site.client()
    made_up.cookies.set(COOKIE, "chosen-by-attacker", domain="testserver.local", path="/ui")
    login(made_up, site.keys["dpo"])
    assert made_up.cookies.get(COOKIE) != "chosen-by-attacker"


def test_logout_ends_the_session_on_the_server(site: Site) -> None:
    c = site.client("dpo")
    sid = c.cookies.get(COOKIE)
    r = c.post("/ui/logout", data={"csrf": csrf_of(c.get("/ui/").text)},
               follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    replay = site.client()
    replay.cookies.set(COOKIE, sid, domain="testserver.local", path="/ui")
    assert replay.get("/ui/", follow_redirects=False).status_code == 303
    assert len(events(site, "ui.logout")) == 1


def test_an_idle_or_expired_session_ends(site: Site) -> None:
    c = site.client("dpo")
    h = digest(c.cookies.get(COOKIE))
    with site.ws.engine.begin() as conn:
        conn.execute(ui_sessions.update().where(ui_sessions.c.sid_hash == h)
                     .values(seen_us=now_us() - (IDLE + 5) * 1_000_000))
    assert c.get("/ui/", follow_redirects=False).status_code == 303
    c2 = site.client("dpo")
    h2 = digest(c2.cookies.get(COOKIE))
    with site.ws.engine.begin() as conn:
        conn.execute(ui_sessions.update().where(ui_sessions.c.sid_hash == h2)
                     .values(expires_us=now_us() - 1))
    assert c2.get("/ui/", follow_redirects=False).status_code == 303


def test_revoking_the_key_ends_its_sessions(site: Site) -> None:
    from veil.service import ApiKeyStore

    c = site.client("dpo")
    assert c.get("/ui/", follow_redirects=False).status_code == 200
    ApiKeyStore(site.ws).revoke(site.keys["dpo"].split("_")[1], by="tests")
    assert c.get("/ui/", follow_redirects=False).status_code == 303


def test_the_session_table_holds_no_usable_cookie(site: Site) -> None:
    c = site.client("dpo")
    sid = c.cookies.get(COOKIE)
    with site.ws.engine.connect() as conn:
        stored = [tuple(r) for r in conn.execute(sa.select(ui_sessions))]
    assert stored and all(sid not in map(str, row) for row in stored)


@pytest.mark.parametrize("token", [None, "", "wrong"])
def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
        site: Site, token: str | None) -> None:
    rid = site.overdue_access_request()
    c = site.client("dpo")
    data = {} if token is None else {"csrf": token}
    r = c.post(f"/ui/requests/{rid}/run", data=data)
    assert r.status_code == 403 and "security token" in r.text
    assert site_request_status(site, rid) == "open"
    r = c.post("/ui/logout", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert c.get("/ui/", follow_redirects=False).status_code == 200  # still logged in


def test_a_csrf_token_of_another_session_is_refused(site: Site) -> None:
    rid = site.overdue_access_request()
    other = site.client("dpo")
    theirs = csrf_of(other.get("/ui/").text)
    c = site.client("dpo")
    assert c.post(f"/ui/requests/{rid}/run", data={"csrf": theirs}).status_code == 403
    assert site_request_status(site, rid) == "open"


def test_the_login_form_needs_its_own_token(site: Site) -> None:
    c = site.client()
    r = c.post("/ui/login", data={"key": site.keys["dpo"]})
    assert r.status_code == 403
    assert COOKIE not in c.cookies


@pytest.mark.parametrize("evil", [
    "https://evil.example/", "//evil.example/ui/", "/\\evil.example", "javascript:alert(1)",
    "/ui//evil.example", "http:/evil.example", "/other", "/ui@evil.example", " /ui/"])
def test_next_never_leaves_the_site(site: Site, evil: str) -> None:
    c = site.client()
    page = c.get("/ui/login", params={"next": evil})
    r = c.post("/ui/login", data={"key": site.keys["dpo"], "csrf": csrf_of(page.text),
                                  "next": evil}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/"


@given(st.text(max_size=60))
def test_safe_next_is_always_a_path_under_ui(value: str) -> None:
    out = safe_next(value)
    parts = urlsplit(out)
    assert out.startswith("/ui") and not parts.scheme and not parts.netloc
    assert "//" not in out and "\\" not in out
    assert out in (value, "/ui/")


def test_a_one_time_link_opens_one_session_once(site: Site) -> None:
    token = SessionStore(site.ws).make_link(actor="dpo-on-laptop", role="dpo")
    c = site.client()
    r = c.get("/ui/login/link", params={"token": token})
    assert r.status_code == 200 and "Today" in r.text and "dpo-on-laptop" in r.text
    again = site.client()
    r = again.get("/ui/login/link", params={"token": token})
    assert r.status_code == 401 and "used already" in r.text
    assert COOKIE not in again.cookies
    assert [e.outcome for e in events(site, "ui.login")] == ["success", "denied"]


def test_an_expired_link_is_refused(site: Site) -> None:
    token = SessionStore(site.ws).make_link(actor="dpo-on-laptop", role="dpo", lifetime=-1)
    assert site.client().get("/ui/login/link", params={"token": token}).status_code == 401


def test_pages_carry_a_strict_content_security_policy(site: Site) -> None:
    c = site.client("dpo")
    r = c.get("/ui/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "form-action 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"


def test_assets_come_only_from_the_static_folder(site: Site) -> None:
    c = site.client()
    assert c.get("/ui/static/vendor/htmx/htmx.min.js").status_code == 200
    for bad in ("/ui/static/../sessions.py", "/ui/static/%2e%2e/sessions.py",
                "/ui/static/../../veil/__init__.py", "/ui/static/vendor"):
        assert c.get(bad).status_code == 404, bad


def test_failed_logins_are_throttled_per_address(site: Site, monkeypatch) -> None:
    from veil.service.middleware import RateLimiter

    monkeypatch.setattr(RateLimiter, "clock", staticmethod(lambda: 1000.0))  # no refill
    c = site.client()
    token = csrf_of(c.get("/ui/login").text, "/ui/login")
    bad = {"key": "veil_000000000000_" + "A" * 43, "csrf": token}
    codes = [c.post("/ui/login", data=bad).status_code for _ in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429
    assert len(events(site, "ui.login")) == 20  # the throttled one is not recorded


def test_a_form_over_the_size_limit_is_refused_and_changes_nothing(site: Site) -> None:
    """The pages take no file uploads; a form body over the service's limit (1 MiB) is refused
    with 413 and one line saying so before any page code runs, and nothing changes."""
    rid = site.overdue_access_request()
    c = site.client("dpo")
    r = c.post(f"/ui/requests/{rid}/run", data={"csrf": "x", "note": "a" * 1_100_000})
    assert r.status_code == 413 and "request body is larger than" in r.text
    assert site_request_status(site, rid) == "open"

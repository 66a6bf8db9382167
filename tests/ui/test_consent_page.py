"""The Consent page through the real app: coverage and weekly figures, notices, and the subject
lookup (an id posted in a form, answered by pseudonym, recorded in the audit log, shown only to
a role that may read consent history)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from tests.ui.conftest import CUSTOMER, XSS, Site, csrf_of
from veil.consent import Ledger
from veil.ui.pages.consent_cache import FiguresCache
from veil.ui.pages.consent_figures import consent_figures

NOW = datetime.now(UTC)


def consents(site: Site) -> Ledger:
    """Five customers consented to offers two weeks ago; one withdrew since."""
    ledger = Ledger(site.ws, site.policy)
    for i in range(4):
        ledger.grant(f"C-{i}", "offers", channel="web_form", action="clicked 'I agree'",
                     collector="web", time=NOW - timedelta(days=14))
    ledger.grant(CUSTOMER, "offers", channel="branch", action=f"signed the form {XSS}",
                 collector="branch-17", time=NOW - timedelta(days=13))
    ledger.withdraw("C-0", "offers", channel="app", collector="app", time=NOW - timedelta(days=2))
    return ledger


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def audit(site: Site, action: str) -> list:
    from veil.audit.log import AuditLog

    return [e.event for e in AuditLog(site.ws).events(action=action)]


def test_the_dpo_sees_coverage_weekly_figures_notices_and_the_lookup(site: Site) -> None:
    consents(site)
    r = site.client("dpo").get("/ui/consent")
    assert r.status_code == 200
    t = text(r.text)
    assert "offers 5 4 80.0% 1 0 0" in t  # subjects, valid, coverage, withdrawn, ...
    assert 'id="consent-in-force"' in r.text and 'data-chart="line"' in r.text
    in_force = re.search(r'id="consent-in-force".*?</table>', r.text, re.S).group(0)
    cells = re.findall(r'data-v="(\d*)"', in_force)
    assert cells[-3:] == ["4", "5", "4"] and set(cells[:-3]) == {"0"}  # at each week's end
    activity = re.search(r'Consent events per week: offers.*?</table>', r.text, re.S).group(0)
    per_week = [int(v) for v in re.findall(r'data-v="(\d+)"', activity)]
    rows = [per_week[i:i + 4] for i in range(0, len(per_week), 4)]  # granted ... expired
    assert rows[-3:] == [[4, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]]
    assert "Notices and their versions" in t and "2024-01-01 01:00 CET" in t  # Berlin time
    assert 'action="/ui/consent/lookup"' in r.text and 'method="post"' in r.text
    assert "/ui/static/vendor/chartjs/chart.umd.min.js" in r.text


def test_the_figures_match_the_library_function(site: Site) -> None:
    consents(site)
    figures = consent_figures(site.ws.engine)
    r = site.client("dpo").get("/ui/consent/figures")
    assert r.status_code == 200 and "<html" not in r.text  # the section alone (htmx)
    in_force = re.search(r'id="consent-in-force".*?</table>', r.text, re.S).group(0)
    assert [int(v) for v in re.findall(r'data-v="(\d+)"', in_force)] == figures.in_force["offers"]
    assert f"over {figures.events} consent events" in text(r.text)


def test_looking_up_a_subject_shows_the_pseudonym_never_the_id(site: Site) -> None:
    ledger = consents(site)
    c = site.client("dpo")
    page = c.get("/ui/consent")
    r = c.post("/ui/consent/lookup", data={"csrf": csrf_of(page.text), "subject": CUSTOMER})
    assert r.status_code == 200
    assert CUSTOMER not in r.text and "anna.schmidt" not in r.text
    assert ledger.ref(CUSTOMER) in r.text  # "subject #..."
    t = text(r.text)
    assert "offers yes ok" in t and "branch-17" in t and "granted" in t
    assert XSS not in r.text and "&lt;script&gt;" in r.text  # the action text, escaped
    events = audit(site, "consent.lookup")
    assert len(events) == 1
    ev = events[0]
    assert ev.subjects == (ledger.ref.token(CUSTOMER),) and ev.actor.startswith("key:")
    assert CUSTOMER not in ev.canonical_bytes().decode()


def test_an_unknown_subject_has_no_consent(site: Site) -> None:
    consents(site)
    c = site.client("dpo")
    r = c.post("/ui/consent/lookup",
               data={"csrf": csrf_of(c.get("/ui/consent").text), "subject": "C-404"})
    assert r.status_code == 200
    assert "no consent events for this subject" in text(r.text) and "C-404" not in r.text


def test_a_blank_or_overlong_id_gets_a_message_and_nothing_is_recorded(site: Site) -> None:
    c = site.client("dpo")
    token = csrf_of(c.get("/ui/consent").text)
    r = c.post("/ui/consent/lookup", data={"csrf": token, "subject": "  "})
    assert r.status_code == 422 and "Type the subject&#39;s id" in r.text
    r = c.post("/ui/consent/lookup", data={"csrf": token, "subject": "x" * 300})
    assert r.status_code == 422 and "longer than 256 characters" in r.text
    assert audit(site, "consent.lookup") == []


def test_the_lookup_needs_its_csrf_token(site: Site) -> None:
    consents(site)
    c = site.client("dpo")
    r = c.post("/ui/consent/lookup", data={"subject": CUSTOMER})
    assert r.status_code == 403 and CUSTOMER not in r.text
    assert audit(site, "consent.lookup") == []


def test_a_role_without_consent_history_sees_no_lookup(site: Site) -> None:
    consents(site)
    c = site.client("engineer")  # consent.check, not consent.history
    r = c.get("/ui/consent")
    assert r.status_code == 200 and "offers" in r.text
    assert "/ui/consent/lookup" not in r.text and "Look up one subject" not in r.text
    r = c.post("/ui/consent/lookup", data={"csrf": csrf_of(r.text), "subject": CUSTOMER})
    assert r.status_code == 403 and "consent.history" in r.text
    assert audit(site, "consent.lookup") == []


def test_a_role_without_consent_permissions_does_not_see_the_page(site: Site) -> None:
    c = site.client("auditor")
    assert 'href="/ui/consent"' not in c.get("/ui/").text
    assert c.get("/ui/consent").status_code == 403


def test_a_large_ledger_shows_its_figures_when_the_background_computation_ends(
        site: Site) -> None:
    consents(site)
    c = site.client("dpo")
    engine = c.app.state.service.workspace.engine
    cache = FiguresCache(lambda: consent_figures(engine), lambda: 10**9)  # "large"
    c.app.state.consent_figures = {id(engine): cache}
    r = c.get("/ui/consent")
    assert r.status_code == 200
    assert "being computed" in r.text and 'hx-get="/ui/consent/figures"' in r.text
    cache.wait(30)
    r = c.get("/ui/consent/figures")
    assert "offers 5 4 80.0%" in text(r.text) and "hx-get" not in r.text

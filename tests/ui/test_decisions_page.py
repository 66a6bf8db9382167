"""The Decisions pages through the real app: the review queue (refusals and contests, soonest
due first), the last 30 days counted, fairness at registration as a chart with its table, the
bias checks recorded in the audit log, and one decision's explanation with its history. Reading
the queue or a decision is an audit event naming the person."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

from tests.service.conftest import MODEL
from tests.ui.conftest import CUSTOMER, XSS, Site
from veil.decisions import DecisionLedger


def text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def audit(site: Site, action: str) -> list[Any]:
    from veil.audit.log import AuditLog

    return [e.event for e in AuditLog(site.ws).events(action=action)]


def decided(site: Site) -> tuple[str, str]:
    """An approval, and a refusal the customer contested: their ids."""
    ledger = DecisionLedger(site.ws, site.policy)
    ok = ledger.record(MODEL, "C-1", {"balance": 900.0}, 0.9, reasons={"balance": 0.3})
    no = ledger.record(MODEL, CUSTOMER, {"balance": 12.5}, 0.2, reasons={"balance": -0.4})
    ledger.contest(no.id, f"My balance is usually higher {XSS}", by="service:web")
    return ok.id, no.id


FAIRNESS = {
    "source": "holdout at registration (score >= threshold counted as an approval)",
    "attributes": [{
        "attribute": "gender", "demographic_parity_difference": 0.12,
        "demographic_parity_ci": [0.05, 0.2], "equalized_odds_difference": None,
        "equalized_odds_ci": [None, None],
        "groups": [{"group": "f", "decisions": 480, "selection_rate": 0.55,
                    "selection_ci": [0.5, 0.6]},
                   {"group": "m", "decisions": 520, "selection_rate": 0.67,
                    "selection_ci": [0.62, 0.71]}]}],
}


def with_fairness(site: Site) -> None:
    """A second version of the model whose card holds fairness figures, and a bias check."""
    from veil.audit.log import AuditLog
    from veil.store.schema import decision_models

    with site.ws.engine.begin() as conn:
        conn.execute(decision_models.insert().values(
            name=MODEL, version=2, purpose="scoring", features=["balance"], threshold=0.5,
            kind="external", artifact=None, artifact_sha256=None, trained_on=[],
            registered_at=datetime.now(UTC), registered_by="tests", gate={},
            card={"fairness": FAIRNESS}))
    AuditLog(site.ws).record(
        "key:dpo", "decisions.fairness", purpose="scoring", outcome="success",
        legal_basis="Art. 10(2)(f) and 10(5) EU AI Act", counts={"decisions": 1000},
        details={"gender.groups": 2, "gender.demographic_parity_difference": 0.08,
                 "gender.equalized_odds_difference": 0.11})


def test_the_queue_counts_and_fairness(site: Site) -> None:
    _, refused = decided(site)
    with_fairness(site)
    r = site.client("auditor").get("/ui/decisions")
    assert r.status_code == 200
    t = text(r.text)
    assert "1 decisions wait for a person" in t
    assert f'href="/ui/decisions/{refused}"' in r.text and "contest" in t
    assert "scoring approve 1" in t and "scoring refuse 1" in t
    chart = re.search(r'id="fair-score-v2-0".*?</table>', r.text, re.S).group(0)
    assert 'data-percent="1"' in chart
    assert re.findall(r'data-v="([0-9.]+)"', chart) == ["0.55", "0.67"]
    assert "f (480 decisions; 95% interval 50.0% to 60.0%) 55.0%" in text(chart)
    assert "gender 0.120 -" in t  # the differences, with the one not measured shown as "-"
    assert "gender: 0.080; 0.110" in t  # the bias check from the audit log
    assert "No fairness report at registration" in t  # version 1 has none
    queue_reads = audit(site, "decision.queue")
    assert len(queue_reads) == 1 and queue_reads[0].actor.startswith("key:")


def test_one_decision_with_its_explanation(site: Site) -> None:
    _, refused = decided(site)
    r = site.client("reviewer").get(f"/ui/decisions/{refused}")
    assert r.status_code == 200
    t = text(r.text)
    assert "Outcome refuse" in t and "Status contested" in t and "Made automatically" in t
    assert "Your account balance is low (lowered the score)" in t  # the policy's reason text
    chart = re.search(r'id="decision-factors".*?</table>', r.text, re.S).group(0)
    assert re.findall(r'data-v="(-?[0-9.]+)"', chart) == ["-0.4"]
    assert "Contest the decision" in t and "privacy@test-bank.example" in t
    assert "contest" in t and "My balance is usually higher" in t
    assert XSS not in r.text and "&lt;img src=x" in r.text
    assert CUSTOMER not in r.text
    shown = audit(site, "decision.show")
    assert shown and shown[-1].actor.startswith("key:")


def test_unknown_or_malformed_decision_ids(site: Site) -> None:
    c = site.client("dpo")
    r = c.get("/ui/decisions/" + "0" * 32)
    assert r.status_code == 404 and "no decision" in r.text
    r = c.get("/ui/decisions/nope")
    assert r.status_code == 404 and "32 hexadecimal" in r.text


def test_roles_without_decisions_read_are_refused(site: Site) -> None:
    c = site.client("engineer")
    assert 'href="/ui/decisions"' not in c.get("/ui/").text
    assert c.get("/ui/decisions").status_code == 403


def test_the_pages_queue_is_the_libraries_queue(site: Site) -> None:
    """The page counts and cuts the queue in SQL; it lists what the library's queue lists, in
    its order, with the same reasons and due dates (refusals, contests, reviewed ones out)."""
    from veil.ui.pages.decisions_view import review_queue

    ledger = DecisionLedger(site.ws, site.policy)
    recs = [ledger.record(MODEL, f"C-{i}", {"balance": float(i)}, score,
                          reasons={"balance": -0.1})
            for i, score in enumerate([0.1, 0.2, 0.3, 0.9, 0.45, 0.52, 0.05])]
    ledger.contest(recs[3].id, "please look again", by="service:web")
    ledger.contest(recs[1].id, "my income rose", by="service:web")
    ledger.review(recs[2].id, reviewer="credit-team", outcome="approve", rationale="checked")
    now = datetime.now(UTC)
    want = ledger.review_queue(now)
    items, waiting, overdue = review_queue(site.ws.engine, now)
    assert waiting == len(want) >= 4 and overdue == sum(i.overdue for i in want)
    assert [(i.decision_id, i.why, i.due, i.overdue, i.model, i.outcome) for i in items] == [
        (i.decision_id, i.why, i.due, i.overdue, i.model, i.outcome) for i in want]
    assert recs[2].id not in {i.decision_id for i in items}  # reviewed
    cut, total, _ = review_queue(site.ws.engine, now, limit=2)
    assert [i.decision_id for i in cut] == [i.decision_id for i in want[:2]] and total == waiting

"""Human intervention: the review queue with its due dates, contest -> review -> final decision
(a new row linked to the automated one), the refusals that record nothing, and a property test
that the ledger stays append-only through any sequence of contests and reviews."""

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.decisions.ledger_fixtures import MODEL
from veil.audit.log import AuditLog
from veil.errors import ConflictError, InputError, NotFoundError
from veil.store.schema import decision_events, decisions

FEATS = {"annual_income": 28000.0, "account_balance": 120.5}


def test_contest_review_final(ledger) -> None:
    rec = ledger.record(MODEL, "S-1", FEATS, 0.9)  # approved, not routed
    assert rec.status == "final" and ledger.review_queue() == []
    c = ledger.contest(rec.id, "My income is higher than you think", by="subject")
    assert c.status == "contested"
    (item,) = ledger.review_queue()
    assert item.decision_id == rec.id and item.why == "contest" and not item.overdue
    h = ledger.history(rec.id)
    assert h[0].kind == "contest" and h[0].text == "My income is higher than you think"
    assert h[0].due == h[0].at + relativedelta(months=1)  # contest_due: 1 month
    assert item.due == h[0].due
    final = ledger.review(rec.id, reviewer="Credit review team", outcome="refuse",
                          rationale="Income could not be verified")
    assert final.final_of == rec.id and final.status == "final" and final.outcome == "refuse"
    assert final.decided_by == "reviewer:Credit review team" and not final.inputs_available
    auto = ledger.get(rec.id)
    assert auto.status == "reviewed" and auto.final_id == final.id and auto.outcome == "approve"
    assert ledger.review_queue() == []
    kinds = [(x.kind, x.outcome, x.final_id) for x in ledger.history(rec.id)]
    assert kinds == [("contest", None, None), ("review", "refuse", final.id)]
    actions = [e.event.action for e in AuditLog(ledger.workspace).events(action="decision.*")]
    assert actions == ["decision.record", "decision.contest", "decision.review"]


def test_routed_decisions_wait_with_their_due_date(ledger) -> None:
    refused = ledger.record(MODEL, "S-1", FEATS, 0.1)
    near = ledger.record(MODEL, "S-2", FEATS, 0.52)
    q = ledger.review_queue()
    assert [(i.decision_id, i.why) for i in q] == [(refused.id, "refusal"),
                                                    (near.id, "near_threshold")]
    assert q[0].due == refused.decided_at + timedelta(days=5)
    later = ledger.review_queue(now=refused.decided_at + timedelta(days=6))
    assert all(i.overdue for i in later)
    ledger.review(near.id, reviewer="Head of credit risk", outcome="approve",
                  rationale="Confirmed")
    assert [i.decision_id for i in ledger.review_queue()] == [refused.id]


def test_a_person_named_as_reviewer_is_kept_in_the_ledger_not_the_audit_log(ledger) -> None:
    rec = ledger.record(MODEL, "S-1", FEATS, 0.1)
    final = ledger.review(rec.id, reviewer="Anna Schmidt", outcome="approve",
                          rationale="Checked the payslips")
    assert final.decided_by == "reviewer:Anna Schmidt"
    (ev,) = [e.event for e in AuditLog(ledger.workspace).events(action="decision.review")]
    assert ev.actor.startswith("person:") and "Anna" not in ev.actor


def _rows(ledger) -> int:  # type: ignore[no-untyped-def]
    with ledger.engine.connect() as conn:
        return sum(int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar())
                   for t in (decisions, decision_events))


def test_refusals_record_nothing(ledger) -> None:
    final_one = ledger.record(MODEL, "S-1", FEATS, 0.9)
    routed = ledger.record(MODEL, "S-2", FEATS, 0.1)
    final = ledger.review(routed.id, reviewer="Team", outcome="refuse", rationale="ok")
    before = _rows(ledger)
    cases = [
        (lambda: ledger.contest("f" * 32, "view", by="subject"), NotFoundError, "no decision"),
        (lambda: ledger.contest(routed.id, "view", by="subject"), ConflictError,
         "already final and reviewed"),
        (lambda: ledger.contest(final.id, "view", by="subject"), ConflictError,
         "reviewer's final decision"),
        (lambda: ledger.contest(final_one.id, "  ", by="subject"), InputError, "empty"),
        (lambda: ledger.review(final_one.id, reviewer="T", outcome="approve", rationale="r"),
         ConflictError, "not waiting for review"),
        (lambda: ledger.review(routed.id, reviewer="T", outcome="approve", rationale="r"),
         ConflictError, "already final and reviewed"),
    ]
    for call, kind, match in cases:
        with pytest.raises(kind, match=match):
            call()
    ledger.contest(final_one.id, "view", by="subject")
    with pytest.raises(ConflictError, match="already contested"):
        ledger.contest(final_one.id, "again", by="subject")
    with pytest.raises(InputError, match="reviewer's name"):
        ledger.review(final_one.id, reviewer=" ", outcome="approve", rationale="r")
    assert _rows(ledger) == before + 1  # only the one valid contest


@settings(max_examples=8, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["contest", "review", "actual"]),
                                st.integers(0, 2)), max_size=8))
def test_append_only_through_any_sequence(ledger, steps) -> None:
    recs = [ledger.record(MODEL, f"P-{i}", FEATS, s) for i, s in enumerate((0.9, 0.1, 0.5))]
    snapshot = {r.id: r.to_dict() for r in recs}
    for op, i in steps:
        rid = recs[i].id
        try:
            if op == "contest":
                ledger.contest(rid, "my view", by="subject")
            elif op == "review":
                ledger.review(rid, reviewer="Team", outcome="approve", rationale="r")
            else:
                ledger.record_actual(rid, 1)
        except (ConflictError, InputError):
            pass
    for rid, before in snapshot.items():
        now = ledger.get(rid).to_dict()
        for k in ("model", "subject", "score", "threshold", "outcome", "reasons", "decided_at",
                  "decided_by", "review", "review_due"):
            assert now[k] == before[k]
        assert now["status"] in ("final", "review", "contested", "reviewed")
        finals = [r for r in ledger.list() if r.final_of == rid]
        assert len(finals) == (1 if now["status"] == "reviewed" else 0)

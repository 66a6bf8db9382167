"""The decision ledger: a round trip (record, get, list, inputs), batches with their counts, the
refusals (unknown model or purpose, undeclared features, objecting subjects) that record
nothing, the audit trail, and append-only storage."""

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
import sqlalchemy as sa

from tests.decisions.ledger_fixtures import MODEL, add_model
from veil.audit.log import AuditLog
from veil.errors import InputError, NotFoundError
from veil.store.schema import decision_sessions, decisions

FEATS = {"annual_income": 28000.0, "account_balance": 120.5}


def _count(ws) -> int:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar())


def test_round_trip_keeps_the_record_clear_and_the_inputs_sealed(ledger) -> None:
    rec = ledger.record(MODEL, "CUST-0000042", FEATS, 0.31,
                        reasons={"annual_income": -0.9, "account_balance": 0.2})
    assert rec.model == MODEL and rec.model_version == 1 and rec.purpose == "credit_scoring"
    assert rec.subject == ledger.token("CUST-0000042") and len(rec.subject) == 64
    assert rec.outcome == "refuse" and rec.threshold == 0.5
    assert rec.decided_by == "model:credit-pd.v1"
    assert [r.feature for r in rec.reasons] == ["annual_income", "account_balance"]
    # a refusal goes to review (sample policy: refusals: true, due: 5 days)
    assert rec.status == "review" and rec.review == "refusal"
    assert rec.review_due == rec.decided_at + timedelta(days=5)
    assert rec.retain_until is not None and rec.retain_until.month == (
        (rec.decided_at.month + 5) % 12) + 1  # log_retention: 6 months (calendar)
    got = ledger.get(rec.id)
    assert got.to_dict() == rec.to_dict()
    assert ledger.inputs(rec.id, actor="tests") == FEATS
    # nothing personal in the clear row: the id and the values are only in the ciphertext
    with ledger.engine.connect() as conn:
        row = conn.execute(sa.select(decisions).where(decisions.c.id == rec.id)).one()
    clear = json.dumps([str(v) for k, v in row._mapping.items() if k != "inputs"])
    assert "CUST-0000042" not in clear and "28000" not in clear
    assert b"CUST-0000042" not in row.inputs and b"28000" not in row.inputs
    assert [r.id for r in ledger.for_subject("CUST-0000042")] == [rec.id]
    assert ledger.list(subject_id="CUST-OTHER") == []


def test_outcome_threshold_and_routing(ledger) -> None:
    hi = ledger.record(MODEL, "S-1", FEATS, 0.9)
    near = ledger.record(MODEL, "S-2", FEATS, 0.53)  # within near_threshold 0.05
    custom = ledger.record(MODEL, "S-3", FEATS, 0.9, threshold=0.2, outcome="manual-check")
    assert (hi.outcome, hi.status, hi.review) == ("approve", "final", None)
    assert (near.outcome, near.review) == ("approve", "near_threshold")
    assert (custom.outcome, custom.threshold, custom.review) == ("manual-check", 0.2, None)


@pytest.mark.parametrize("call, match", [
    (lambda led: led.record("no-such-model", "S", FEATS, 0.5), "no-such-model"),
    (lambda led: led.record(MODEL, "S", {"annual_income": 1, "religion": "x"}, 0.5),
     "not declared.*religion"),
    (lambda led: led.record(MODEL, "S", FEATS, float("nan")), "finite"),
    (lambda led: led.record_batch(MODEL, ["A", "B"], {"annual_income": [1, 2],
                                                      "gender": ["f", "m"]}, [0.1, 0.2]),
     "not declared.*gender"),
    (lambda led: led.record_batch(MODEL, ["A"], {"annual_income": [1, 2]}, [0.1, 0.2]),
     "1 subjects for 2"),
])
def test_bad_input_is_one_clear_error_and_records_nothing(ledger, call, match) -> None:
    with pytest.raises(InputError, match=match):
        call(ledger)
    assert _count(ledger.workspace) == 0


def test_a_purpose_without_automated_decisions_is_refused(ledger) -> None:
    add_model(ledger.workspace, "fraud", purpose="fraud_detection")
    with pytest.raises(InputError, match="declares no automated_decisions"):
        ledger.record("fraud", "S", FEATS, 0.5)
    assert _count(ledger.workspace) == 0


def test_unknown_decision_is_not_found(ledger) -> None:
    with pytest.raises(NotFoundError, match="no decision"):
        ledger.get("0" * 32)


def _object(ws, subject: str, purpose: str = "credit_scoring") -> None:  # type: ignore[no-untyped-def]
    from veil.consent.models import SubjectRef
    from veil.rights.exclusions import add_exclusions

    with ws.engine.begin() as conn:
        add_exclusions(conn, SubjectRef(ws.root).token(subject), "objected", [purpose], "R1")


def test_objecting_subjects_are_refused_online_and_skipped_in_batches(ledger) -> None:
    _object(ledger.workspace, "OBJ-1")
    with pytest.raises(InputError, match=r"excluded from 'credit_scoring' \(objected\)") as e:
        ledger.record(MODEL, "OBJ-1", FEATS, 0.7)
    assert "OBJ-1" not in str(e.value)
    table = pa.table({"annual_income": [1.0, 2.0, 3.0], "account_balance": [4.0, 5.0, 6.0]})
    b = ledger.record_batch(MODEL, ["A", "OBJ-1", "C"], table, [0.9, 0.9, 0.1])
    assert len(b) == 2 and b.skipped == {"objected": 1} and b.skipped_rows == [1]
    assert b.review == 1  # C's refusal
    assert [ledger.inputs(i) for i in b] == [
        {"annual_income": 1.0, "account_balance": 4.0},
        {"annual_income": 3.0, "account_balance": 6.0}]
    assert ledger.for_subject("OBJ-1") == []
    with ledger.engine.connect() as conn:
        s = conn.execute(sa.select(decision_sessions)).one()
    assert (s.kind, s.decisions, s.skipped) == ("batch", 2, 1)


def test_audit_events_per_decision_and_one_per_batch(ledger) -> None:
    rec = ledger.record(MODEL, "S-1", FEATS, 0.9)
    b = ledger.record_batch(MODEL, [f"B-{i}" for i in range(50)],
                            {"annual_income": list(range(50))}, [0.9] * 50)
    log = AuditLog(ledger.workspace)
    one = [e.event for e in log.events(action="decision.record")]
    assert len(one) == 1 and one[0].details["decision"] == rec.id
    assert list(one[0].subjects) == [rec.subject]
    batch = [e.event for e in log.events(action="decision.batch")]
    assert len(batch) == 1 and batch[0].counts["decisions"] == 50
    import hashlib
    digest = hashlib.sha256("\n".join(b).encode()).hexdigest()
    assert batch[0].digests["decisions"] == f"sha256:{digest}"
    assert batch[0].details["session"] == b.session


def test_scoring_session_records_its_period_of_use(ledger) -> None:
    _object(ledger.workspace, "OBJ-2")
    with ledger.scoring(MODEL) as s:
        a = s.decide("S-1", FEATS, 0.8)
        with pytest.raises(InputError):
            s.decide("OBJ-2", FEATS, 0.8)
    assert a.session == s.id and (s.decided, s.refused) == (1, 1)
    sess = ledger.sessions(MODEL)
    assert [(x["kind"], x["decisions"], x["skipped"]) for x in sess] == [("online", 1, 1)]
    assert sess[0]["ended_at"] is not None
    events = [e.event for e in AuditLog(ledger.workspace).events(action="decision.*")]
    assert [e.action for e in events] == [  # by default each decision carries its own event
        "decision.session.start", "decision.record", "decision.session.end"]
    assert list(events[1].subjects) == [a.subject] and events[1].details["decision"] == a.id


def test_a_session_can_audit_each_decision_and_groups_the_others(ledger) -> None:
    with ledger.scoring(MODEL, audit_every=None) as s:
        a = s.decide("S-1", FEATS, 0.8)
    with ledger.scoring(MODEL, audit_every=3600) as s2:
        recs = [s2.decide(f"G-{i}", FEATS, 0.8) for i in range(5)]
    log = AuditLog(ledger.workspace)
    (each,) = [e.event for e in log.events(action="decision.record")]
    assert each.details["decision"] == a.id
    groups = [e.event for e in log.events(action="decision.session.decisions")]
    assert [g.counts["decisions"] for g in groups] == [1, 4]  # first at once, rest at the end
    import hashlib
    assert groups[1].digests["decisions"] == "sha256:" + hashlib.sha256(
        "\n".join(r.id for r in recs[1:]).encode()).hexdigest()


def test_list_filters(ledger) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = ledger.record(MODEL, "S-1", FEATS, 0.9, at=t0)
    b = ledger.record(MODEL, "S-2", FEATS, 0.1, at=t0 + timedelta(days=2))
    assert [r.id for r in ledger.list()] == [a.id, b.id]
    assert [r.id for r in ledger.list(status="review")] == [b.id]
    assert [r.id for r in ledger.list(since=t0 + timedelta(days=1))] == [b.id]
    assert [r.id for r in ledger.list(until=t0 + timedelta(days=1))] == [a.id]
    assert ledger.list(model="other") == [] and ledger.list(purpose="other") == []


def test_async_ledger(workspace, policy) -> None:  # noqa: F811
    import asyncio

    from veil.decisions import AsyncDecisionLedger

    add_model(workspace)
    led = AsyncDecisionLedger(workspace, policy)

    async def go() -> list[str]:
        r = await led.record(MODEL, "S-1", FEATS, 0.9)
        got = await led.get(r.id)
        return [r.id, got.id]

    a, b = asyncio.run(go())
    assert a == b

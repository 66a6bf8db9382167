"""The ledger's writes are one transaction each (issue 19's speed work): a batch or an online
decision, its subjects' new keys, its rows and its audit event are stored together or not at
all; batch ids are time-ordered and come back in input order; a person's decisions are found
through the 8-byte subject index; sessions commit without waiting for the disk and stop their
checkpoint thread when they end. On SQLite and PostgreSQL."""

# ruff: noqa: F811  (pytest fixtures imported from ledger_fixtures are parameters here)
from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.decisions.ledger_fixtures import MODEL
from veil.audit.log import AuditLog
from veil.decisions.ids import new_ids, subject8
from veil.decisions.inputs import as_rows
from veil.store.schema import audit_leaves, decisions, subject_keys

FEATS = {"annual_income": 28000.0, "account_balance": 120.5}


def _counts(ws: Any) -> tuple[int, int, int]:
    with ws.engine.connect() as conn:
        return tuple(int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar())
                     for t in (decisions, subject_keys, audit_leaves))  # type: ignore[return-value]


class Boom(RuntimeError):
    pass


def _fail_append(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit append inside the ledger's transaction fails (after the rows and keys)."""
    def boom(self: Any, conn: Any, events: Any) -> list[int]:
        raise Boom("audit store down")

    monkeypatch.setattr(AuditLog, "append_in", boom)


def test_a_failed_batch_leaves_no_keys_rows_or_events(ledger, monkeypatch) -> None:
    assert ledger.keys is not None  # the first epoch is made (and audited) on first use
    before = _counts(ledger.workspace)
    subjects = [f"FB-{i}" for i in range(30)]
    table = {"annual_income": [float(i) for i in range(30)]}
    with monkeypatch.context() as m:
        _fail_append(m)
        with pytest.raises(Boom):
            ledger.record_batch(MODEL, subjects, table, [0.9] * 30)
    assert _counts(ledger.workspace) == before
    ids = ledger.record_batch(MODEL, subjects, table, [0.9] * 30)  # the retry makes new keys
    assert [ledger.inputs(i) for i in ids[:3]] == [{"annual_income": float(i)} for i in range(3)]


@pytest.mark.parametrize("online", ["record", "session"])
def test_a_failed_online_decision_leaves_nothing(ledger, monkeypatch, online) -> None:
    assert ledger.keys is not None  # the first epoch is made (and audited) on first use
    before = _counts(ledger.workspace)
    with ledger.scoring(MODEL, audit_every=None) as s:
        decide = s.decide if online == "session" else (
            lambda *a: ledger.record(MODEL, *a))
        after_start = _counts(ledger.workspace)
        with monkeypatch.context() as m:
            _fail_append(m)
            with pytest.raises(Boom):
                decide("FO-1", FEATS, 0.7)
        assert _counts(ledger.workspace) == after_start
        rec = decide("FO-1", FEATS, 0.7)
    assert ledger.inputs(rec.id) == FEATS
    assert _counts(ledger.workspace)[0] == before[0] + 1


def test_batch_ids_increase_in_write_order_and_return_in_input_order(ledger) -> None:
    subjects = [f"ORD-{i}" for i in (5, 3, 9, 1, 3)]
    incomes = [50.0, 30.0, 90.0, 10.0, 31.0]
    ids = ledger.record_batch(MODEL, subjects, {"annual_income": incomes}, [0.9] * 5)
    assert [ledger.inputs(i) for i in ids] == [{"annual_income": v} for v in incomes]
    assert [ledger.get(i).subject for i in ids] == ledger.tokens(subjects)
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(decisions.c.id, decisions.c.subject, decisions.c.subject8)
                            .order_by(decisions.c.id)).all()
    assert [r.subject for r in rows] == sorted(r.subject for r in rows)  # pseudonym order
    assert all(r.subject8 == subject8(r.subject) for r in rows)
    assert [r.id for r in ledger.for_subject("ORD-3")] == sorted([ids[1], ids[4]])


def test_ids_are_time_ordered_hex() -> None:
    a = new_ids(1000)
    assert a == sorted(a) and len(set(a)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in a)
    assert new_ids(1)[0][:12] >= a[-1][:12]  # the millisecond prefix never goes back


def test_subject8_is_the_signed_first_eight_bytes() -> None:
    assert subject8("0" * 64) == -(2**63)
    assert subject8("f" * 64) == 2**63 - 1
    assert subject8("8000000000000000" + "0" * 48) == 0


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_batch_seals_each_row_under_its_subjects_key(ledger, data) -> None:
    """Random batches (repeated subjects, subjects with a key already, objecting ones, any
    JSON value): every recorded decision opens to its own row, one key per subject."""
    from tests.decisions.test_ledger_records_decisions import _object

    tag = new_ids(1)[0][-8:]
    pool = [f"P-{tag}-{i}" for i in range(6)]
    subjects = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=12))
    kind = data.draw(st.sampled_from([st.floats(allow_nan=False), st.integers(-10**6, 10**6),
                                      st.booleans(), st.text(max_size=8)]))
    values = st.one_of(kind, st.none())  # a column holds one type (and nulls)
    incomes = data.draw(st.lists(values, min_size=len(subjects), max_size=len(subjects)))
    known = data.draw(st.sets(st.sampled_from(pool), max_size=2))
    for s in sorted(known):
        ledger.record(MODEL, s, FEATS, 0.7)
    objecting = data.draw(st.sampled_from([None, *pool]))
    if objecting is not None:
        _object(ledger.workspace, objecting)
    table = {"annual_income": incomes, "account_balance": [1.5] * len(subjects)}
    ids = ledger.record_batch(MODEL, subjects, table, [0.8] * len(subjects))
    kept = [i for i, s in enumerate(subjects) if s != objecting]
    assert ids.skipped_rows == [i for i, s in enumerate(subjects) if s == objecting]
    _, rows = as_rows(table)
    assert [ledger.inputs(i) for i in ids] == [rows[i] for i in kept]
    tokens = ledger.tokens(sorted((set(subjects) - {objecting}) | known))
    with ledger.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(subject_keys).where(
            subject_keys.c.subject.in_(tokens))).scalar()
    assert n == len(tokens)


def test_a_session_audits_each_decision_in_its_transaction_and_stops_its_thread(
        ledger) -> None:
    with ledger.scoring(MODEL, audit_every=None) as s:
        recs = [s.decide(f"TH-{i}", FEATS, 0.8) for i in range(3)]
        if ledger.engine.dialect.name == "sqlite":
            assert any(t.name == "veil-decisions-checkpoint" for t in threading.enumerate())
            with s._sync.engine.connect() as conn:  # the session's own connections
                assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    assert not any(t.name == "veil-decisions-checkpoint" for t in threading.enumerate())
    events = [e.event for e in AuditLog(ledger.workspace).events(action="decision.record")]
    assert [e.details["decision"] for e in events] == [r.id for r in recs]
    assert {r.session for r in recs} == {s.id}
    with ledger.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() != 0 \
            if ledger.engine.dialect.name == "sqlite" else True


def test_a_shared_session_serves_every_caller_until_the_ledger_closes(ledger) -> None:
    a = ledger.shared_session(MODEL).decide("SH-1", FEATS, 0.8)
    b = ledger.shared_session(MODEL).decide("SH-2", FEATS, 0.2)
    assert a.session == b.session
    ledger.close()
    (row,) = [x for x in ledger.sessions(MODEL) if x["id"] == a.session]
    assert row["ended_at"] is not None and row["decisions"] == 2
    assert ledger.shared_session(MODEL).id != a.session  # a new one after close
    ledger.close()

"""`AuditLog.append_in`: events appended inside the caller's transaction commit or roll back with
the caller's rows; after a rollback the log's cached tree is reloaded, so the next append (by
either path) and a full verification agree with the stored tree. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from veil.audit.event import AuditEvent
from veil.audit.log import AuditLog
from veil.store.schema import decision_sessions
from veil.store.transactions import write_transaction


def _event(i: int) -> AuditEvent:
    return AuditEvent(time=datetime(2026, 1, 1, tzinfo=UTC), actor="svc:tests",
                      action="test.append_in", purpose="testing", legal_basis="Art. 6(1)(f)",
                      outcome="success", counts={"n": i})


def _session_row(conn: sa.Connection, sid: str) -> None:
    conn.execute(decision_sessions.insert().values(
        id=sid, model="m", model_version=1, kind="batch", started_at=datetime.now(UTC),
        decisions=0, skipped=0, by="tests"))


def _sessions(ws) -> int:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(decision_sessions))
                   .scalar())


def test_events_commit_and_roll_back_with_the_callers_rows(workspace) -> None:
    log = AuditLog(workspace)
    log.append([_event(0)])
    with write_transaction(workspace.engine, "testing", durable=True) as conn:
        _session_row(conn, "a" * 32)
        assert log.append_in(conn, [_event(1), _event(2)]) == [1, 2]
    assert log.head().size == 3 and _sessions(workspace) == 1
    with pytest.raises(RuntimeError), write_transaction(workspace.engine, "testing") as conn:
        _session_row(conn, "b" * 32)
        assert log.append_in(conn, [_event(3)]) == [3]
        raise RuntimeError("the caller fails after the append")
    assert log.head().size == 3 and _sessions(workspace) == 1
    assert log.append([_event(4)]) == [3]  # the rolled-back leaf's index is reused
    with write_transaction(workspace.engine, "testing") as conn:
        assert log.append_in(conn, [_event(5)]) == [4]
    report = log.verify()
    assert report.size == 5
    assert [e.event.counts["n"] for e in log.events(action="test.append_in")] == [0, 1, 2, 4, 5]

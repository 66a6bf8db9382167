"""A request's run holds it by a lease and records each step, so crashes, killed runs and
concurrent runs leave a true record: a dead run's lease is taken over, two runs act once, a
crash after an effect keeps the certificate true, an interrupted completion writes its audit
event once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from veil.errors import ConflictError
from veil.rights import Requests, Store
from veil.store.schema import dsr_requests


def _dsr_events(ws, request_id: str, action: str) -> int:  # type: ignore[no-untyped-def]
    from veil.audit.log import AuditLog

    return sum(1 for le in AuditLog(ws).events(action=action, outcome="success")
               if le.event.details.get("request") == request_id)


def test_killed_run_is_taken_over_after_the_lease(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    rid = reqs.open("erasure", bank.subject).id
    now = datetime.now(UTC)
    with bank.ws.engine.begin() as conn:  # a run killed just after taking the request
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            status="running", lease_owner="dead-run", running_since=now))
    with pytest.raises(ConflictError, match="is being run .* --force"):
        reqs.run(rid)
    with bank.ws.engine.begin() as conn:
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            running_since=now - timedelta(minutes=45)))
    done = reqs.run(rid)
    assert done.status == "completed" and done.lease_owner is None
    rid2 = reqs.open("access", bank.other).id
    with bank.ws.engine.begin() as conn:
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid2).values(
            status="running", lease_owner="dead-run", running_since=datetime.now(UTC)))
    assert reqs.run(rid2, force=True).status == "completed"


def test_concurrent_runs_act_once(bank) -> None:
    rid = Requests(bank.ws, bank.policy).open("erasure", bank.subject).id
    results: list[object] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        reqs = Requests(bank.ws, bank.policy)
        barrier.wait()
        try:
            results.append(reqs.run(rid))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    recs = [r for r in results if not isinstance(r, Exception)]
    assert len(recs) >= 1 and all(isinstance(r, ConflictError) for r in results
                                  if isinstance(r, Exception))
    rec = Requests(bank.ws, bank.policy).get(rid)
    assert rec.status == "completed"
    assert rec.result["stores"]["transactions"]["rows"] == bank.rows
    cert = json.loads(Path(rec.result["certificate"][0]).read_text())
    assert cert["stores"]["transactions"]["rows"] == bank.rows
    assert cert["subject_key"] == "destroyed"
    assert _dsr_events(bank.ws, rid, "dsr.run") == 1


def test_crash_after_the_effect_keeps_the_certificate_true(bank, monkeypatch) -> None:
    reqs = Requests(bank.ws, bank.policy)
    rid = reqs.open("erasure", bank.subject).id
    real = Requests._step
    crashed: list[str] = []

    def crash(self, request_id, step, status, detail, owner=None, conn=None):  # type: ignore[no-untyped-def]
        if step == "store:transactions" and status == "done" and not crashed:
            crashed.append(step)
            raise KeyboardInterrupt  # killed after deleting, before recording
        return real(self, request_id, step, status, detail, owner, conn)

    monkeypatch.setattr(Requests, "_step", crash)
    with pytest.raises(KeyboardInterrupt):
        reqs.run(rid)
    monkeypatch.setattr(Requests, "_step", real)
    assert Store(bank.policy, "transactions", bank.ws).count(bank.subject) == 0
    rec = reqs.run(rid)
    st = rec.result["stores"]["transactions"]
    assert (st["rows"], st["deleted_earlier"], st["remaining"]) == (bank.rows, bank.rows, 0)
    step = next(s for s in rec.steps if s["step"] == "store:transactions")
    assert step["attempts"] == 2


def test_interrupted_completion_writes_the_audit_event_once(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    rid = reqs.open("restriction", bank.subject).id
    assert _dsr_events(bank.ws, rid, "dsr.open") == 1
    reqs.run(rid)
    assert _dsr_events(bank.ws, rid, "dsr.run") == 1
    with bank.ws.engine.begin() as conn:  # the status change was lost after the audit event
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            status="running", lease_owner="gone", running_since=datetime.now(UTC)))
    assert reqs.run(rid, force=True).status == "completed"
    assert _dsr_events(bank.ws, rid, "dsr.run") == 1

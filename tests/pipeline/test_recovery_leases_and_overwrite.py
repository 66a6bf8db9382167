"""A run's lease on its output path: a second run to a path being written is refused, a dead
holder is recovered (rolled back before the commit, finished after it), a run that lost its
lease publishes nothing, and replacing an output needs overwrite and is recorded."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

import veil
from veil.audit.log import AuditLog
from veil.errors import RunRefused
from veil.io.writers import temp_path_for
from veil.pipeline.lease import Holder, Lease, RunLease, claim, lease_of
from veil.pipeline.recovery import recover_stale_runs
from veil.store.schema import keysets, lineage_outputs, retention_outputs, run_leases, runs

POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: cid
    fields:
      cid: direct_identifier
      amount: {category: transaction, type: float}
purposes:
  scoring:
    description: d
    legal_basis: contract
    retention: 2 years
    datasets:
      tx:
        fields:
          amount: keep
"""
CSV = "cid,amount\n" + "".join(f"C{i},{i}.5\n" for i in range(40))


@pytest.fixture
def files(workspace, tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "p.yaml").write_text(POLICY)
    (tmp_path / "in.csv").write_text(CSV)
    return tmp_path


def _run(files: Path, out: str, **kw):  # type: ignore[no-untyped-def]
    return veil.run(files / "p.yaml", "scoring", files / "in.csv", files / out, **kw)


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _lease(host: str, pid: int, age: float, run_id: str = "r" * 32) -> Lease:
    now = datetime.now(UTC)
    return Lease("k", run_id, "/x/out.parquet", Holder(host, pid, None), now,
                 now - timedelta(seconds=age), "writing", {})


# -- who counts as gone ------------------------------------------------------------------------


def test_a_holder_on_this_host_is_gone_exactly_when_its_process_is() -> None:
    here = socket.gethostname()
    dead = _dead_pid()
    assert _lease(here, dead, 0).stale_reason() == f"its process {dead} is gone"
    assert _lease(here, os.getppid(), 10**6).stale_reason() is None  # alive, however late
    # a pid now used by a process that started after the lease was taken: gone
    mine = Holder.me()
    if mine.proc_start is not None:
        reused = Lease("k", "r", "/x", Holder(here, os.getppid(), 1), datetime.now(UTC),
                       datetime.now(UTC), "writing", {})
        assert "reused" in (reused.stale_reason() or "")
    # this process's own lease counts as live only while its run holds it
    assert _lease(here, os.getpid(), 0, "z" * 32).stale_reason() == (
        "its run in this process ended without releasing it")


@settings(max_examples=50, deadline=None)
@given(age=st.floats(0, 10_000), limit=st.floats(1, 5_000))
def test_a_holder_on_another_host_is_gone_when_its_heartbeat_is_older_than_the_limit(
        age: float, limit: float) -> None:
    lease = _lease("elsewhere.example", 1, age)
    now = lease.heartbeat_at + timedelta(seconds=age)
    assert (lease.stale_reason(now, limit) is not None) == (lease.age(now) > limit)


# -- two runs, one path ------------------------------------------------------------------------


def test_a_second_run_to_a_path_being_written_is_refused(files: Path, workspace) -> None:
    inside, go_on = threading.Event(), threading.Event()
    result: list[object] = []

    def first() -> None:
        def progress(_pos: int, _size: int | None) -> None:
            inside.set()
            go_on.wait(60)

        result.append(veil.run(files / "p.yaml", "scoring", files / "in.csv",
                               files / "out.parquet", progress=progress))

    t = threading.Thread(target=first)
    t.start()
    try:
        assert inside.wait(60)
        with pytest.raises(RunRefused, match="being written by run"):
            _run(files, "out.parquet")
        assert _run(files, "other.parquet").rows_out == 40  # another path: no conflict
    finally:
        go_on.set()
        t.join(60)
    assert result and (files / "out.parquet").is_file()
    with workspace.engine.connect() as c:
        assert c.execute(sa.select(run_leases)).all() == []
        assert sorted(c.execute(sa.select(runs.c.status)).scalars()) == ["succeeded"] * 2


def test_the_heartbeat_refreshes_the_lease_and_notices_a_takeover(workspace, tmp_path) -> None:
    lease = RunLease(workspace.engine, "h" * 32, tmp_path / "o.parquet")
    t0 = datetime.now(UTC) - timedelta(hours=1)
    with workspace.engine.begin() as conn:
        lease.insert(conn, [], t0)
    lease.start_heartbeat(every=0.05)
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while datetime.now(UTC) < deadline:
            with workspace.engine.connect() as conn:
                held = lease_of(conn, run_id="h" * 32)
            assert held is not None
            if held.heartbeat_at > t0 + timedelta(minutes=30):
                break
            threading.Event().wait(0.05)  # the heartbeat thread's turn (no busy loop)
        else:
            pytest.fail("no heartbeat")
        with workspace.engine.begin() as conn:  # another process takes it over
            conn.execute(run_leases.update().values(pid=_dead_pid()))
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        while not lease.lost and datetime.now(UTC) < deadline:
            threading.Event().wait(0.05)
        assert lease.lost
        with workspace.engine.begin() as conn:
            assert not lease.publishing(conn, [])
    finally:
        lease.release()


def test_a_run_that_lost_its_lease_publishes_nothing(files: Path, workspace) -> None:
    def progress(_pos: int, _size: int | None) -> None:
        with workspace.engine.begin() as conn:  # presumed dead and taken over meanwhile
            conn.execute(run_leases.update().values(pid=_dead_pid()))

    with pytest.raises(RunRefused, match="lost its lease"):
        veil.run(files / "p.yaml", "scoring", files / "in.csv", files / "out.parquet",
                 progress=progress)
    assert not (files / "out.parquet").exists()
    assert not list(files.glob(".out.parquet*"))
    with workspace.engine.connect() as c:
        assert c.execute(sa.select(runs.c.status)).scalar_one() == "failed"


# -- recovery ----------------------------------------------------------------------------------


def _dead_run(workspace, out: Path, phase: str = "writing",  # type: ignore[no-untyped-def]
              moves: list[tuple[Path, Path]] | None = None, digest: str | None = None,
              status: str = "running") -> tuple[str, list[Path]]:
    """A run recorded as a killed process would leave it, with its temporary files."""
    run_id = os.urandom(16).hex()
    temp = [temp_path_for(out), temp_path_for(Path(f"{out}.receipt.json"))]
    for p in temp:
        p.write_bytes(b"part-written")
    now = datetime.now(UTC)
    with workspace.engine.begin() as conn:
        conn.execute(runs.insert().values(
            id=run_id, started_at=now, status=status, actor="t", purpose="scoring",
            dataset="tx", policy_path="p.yaml", policy_digest="0" * 64, input_ref="in.csv",
            output_ref=str(out), output_digest=digest))
        lease = RunLease(workspace.engine, run_id, out)
        lease.insert(conn, temp, now)
        conn.execute(run_leases.update().where(run_leases.c.run_id == run_id).values(
            pid=_dead_pid(), phase=phase,
            files={"temp": [str(p) for p in temp],
                   "moves": [[str(a), str(b)] for a, b in moves or []]}))
    lease.stop()
    return run_id, temp


def test_a_dead_writing_run_is_rolled_back_by_the_next_run(files: Path, workspace) -> None:
    out = files / "out.parquet"
    run_id, temp = _dead_run(workspace, out)
    res = _run(files, "out.parquet")  # the path is free again: recovered first
    assert not any(p.exists() for p in temp)
    with workspace.engine.connect() as c:
        row = c.execute(sa.select(runs).where(runs.c.id == run_id)).one()
    assert row.status == "failed" and "is gone; nothing was published" in row.error
    ev = [e.event for e in AuditLog(workspace).events(action="run.recover")]
    assert [e.details["run_id"] for e in ev] == [run_id] and ev[0].outcome == "failure"
    assert veil.read(res.output).num_rows == 40


def test_a_dead_committed_run_is_finished_or_rolled_back_by_its_digest(files: Path,
                                                                       workspace) -> None:
    import hashlib

    out = files / "out.parquet"
    tmp_out, tmp_receipt = temp_path_for(out), temp_path_for(Path(f"{out}.receipt.json"))
    tmp_out.write_bytes(b"the whole output")
    tmp_receipt.write_text("{}")
    digest = hashlib.sha256(b"the whole output").hexdigest()
    moves = [(tmp_out, out), (tmp_receipt, Path(f"{out}.receipt.json"))]
    run_id, _ = _dead_run(workspace, out, "publishing", moves, digest, "succeeded")
    [done] = recover_stale_runs(workspace)
    assert done.result == "published" and out.read_bytes() == b"the whole output"
    assert Path(f"{out}.receipt.json").read_text() == "{}"
    # the same, but the temporary output is not the committed one: rolled back
    other = files / "b.parquet"
    tmp_b = temp_path_for(other)
    tmp_b.write_bytes(b"truncated")
    run_b, _ = _dead_run(workspace, other, "publishing", [(tmp_b, other)], digest, "succeeded")
    with workspace.engine.begin() as conn:
        conn.execute(retention_outputs.insert().values(
            run_id=run_b, output_ref=str(other), purpose="scoring", retention="2 years",
            created_at=datetime.now(UTC), expires_at=datetime.now(UTC), own_key=False,
            state="live"))
    [undone] = recover_stale_runs(workspace)
    assert undone.result == "rolled back" and not other.exists() and not tmp_b.exists()
    with workspace.engine.connect() as c:
        assert c.execute(sa.select(runs.c.status).where(runs.c.id == run_b)).scalar() == \
            "failed"
        assert c.execute(sa.select(retention_outputs).where(
            retention_outputs.c.run_id == run_b)).all() == []
    assert recover_stale_runs(workspace) == []


def test_only_one_process_claims_a_stale_lease(workspace, tmp_path: Path) -> None:
    run_id, _ = _dead_run(workspace, tmp_path / "o.parquet")
    with workspace.engine.connect() as conn:
        held = lease_of(conn, run_id=run_id)
    assert held is not None
    assert claim(workspace.engine, held) is True
    assert claim(workspace.engine, held) is False  # the holder changed: another claims it


# -- overwrite ---------------------------------------------------------------------------------


def test_overwrite_is_needed_and_recorded_and_retention_keeps_the_new_file(
        files: Path, workspace) -> None:
    from veil.lifecycle import dispose_output

    first = _run(files, "out.parquet")
    before = (files / "out.parquet").read_bytes()
    with pytest.raises(RunRefused, match="the output exists: pass --overwrite"):
        _run(files, "out.parquet")
    assert (files / "out.parquet").read_bytes() == before
    second = _run(files, "out.parquet", overwrite=True)
    assert second.receipt["replaces"] == [first.run_id]
    with workspace.engine.connect() as c:
        for t in (retention_outputs, lineage_outputs):
            got = dict(c.execute(sa.select(t.c.run_id, t.c.replaced_by)).all())
            assert got == {first.run_id: second.run_id, second.run_id: None}
        assert list(c.execute(sa.select(runs.c.status)).scalars()) == ["succeeded"] * 2
    [ev] = [e.event for e in AuditLog(workspace).events(action="run.overwrite")]
    assert ev.details["replaces"] == first.run_id and ev.details["run_id"] == second.run_id
    done = dispose_output(workspace, first.run_id, reason="test")
    assert done.file.startswith("already absent (replaced by run")
    assert veil.read(files / "out.parquet").num_rows == 40  # the new output and its key live
    receipt = json.loads((files / "out.parquet.receipt.json").read_text())
    assert receipt["run_id"] == second.run_id
    with workspace.engine.connect() as c:
        assert c.execute(sa.select(keysets.c.status).where(
            keysets.c.name == f"output.{first.run_id}")).scalar() == "DESTROYED"


def test_the_service_recovers_dead_runs_when_it_starts(workspace, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from veil.service import create_app
    from veil.service.config import ServiceConfig

    run_id, temp = _dead_run(workspace, tmp_path / "svc.parquet")
    app = create_app(ServiceConfig.load(Path(workspace.root), policy="sample", rate_limit=0))
    with TestClient(app):  # the lifespan runs: startup recovers
        pass
    with workspace.engine.connect() as c:
        row = c.execute(sa.select(runs).where(runs.c.id == run_id)).one()
    assert row.status == "failed" and not any(p.exists() for p in temp)

"""`veil doctor` finds what crashes and outages leave (a leftover temporary file, a run left
running without a lease, a request held by a dead process, an audit outbox backlog, a stopped
disposal), exits 5 while any remains, and `--repair` fixes each and records it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

import veil
from veil.audit.event import format_time
from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.store.schema import audit_outbox, dsr_requests, retention_outputs, runs

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


def veil_cli(*args: str) -> int:
    return main(list(args))


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_a_healthy_workspace_says_ok(workspace, capsys) -> None:
    assert veil_cli("doctor") == 0
    assert "OK: nothing needs attention" in capsys.readouterr().out
    assert veil_cli("doctor", "--help") == 0
    assert "Example: veil doctor --repair" in capsys.readouterr().out


def test_doctor_reports_then_repairs_what_a_crash_left(workspace, capsys) -> None:
    ws, root = workspace, workspace.root
    with open(root / "veil.toml", "a") as f:  # an audit sink that cannot take events yet
        f.write('\n[audit.sinks.archive]\ntype = "jsonl"\npath = "blocked/forwarded.jsonl"\n')
    (root / "blocked").write_text("a file where the sink's folder should be")
    (root / "p.yaml").write_text(POLICY)
    (root / "in.csv").write_text("cid,amount\n" + "".join(f"C{i},{i}\n" for i in range(20)))
    kept = veil.run(root / "p.yaml", "scoring", root / "in.csv", root / "kept.parquet")
    gone = veil.run(root / "p.yaml", "scoring", root / "in.csv", root / "gone.parquet")
    old_tmp = root / ".kept.parquet.0123456789ab.tmp"
    new_tmp = root / ".kept.parquet.ba9876543210.tmp"
    for p in (old_tmp, new_tmp):
        p.write_bytes(b"part")
    hour_ago = time.time() - 3600
    os.utime(old_tmp, (hour_ago, hour_ago))
    now = datetime.now(UTC)
    node = os.uname().nodename[:20]
    with ws.engine.begin() as c:
        c.execute(runs.insert().values(  # a run left running by a Veil without leases
            id="f" * 32, started_at=now, status="running", actor="t", purpose="scoring",
            dataset="tx", policy_path="p.yaml", policy_digest="0" * 64, input_ref="in.csv",
            output_ref="lost.parquet"))
        c.execute(dsr_requests.insert().values(  # a request held by a process that is gone
            id="RQ-DEAD", kind="access", subject="ab" * 32, received_at=now, due_at=now,
            extended_months=0, status="running", policy_path="p.yaml", opened_by="t",
            updated_at=now, lease_owner=f"t@{node}:{_dead_pid()}:cafe0001",
            running_since=now))
        c.execute(retention_outputs.update().where(  # a disposal stopped after its intent
            retention_outputs.c.run_id == gone.run_id).values(
            state="intent", disposal_reason="test: expired",
            disposal_started_at=now - timedelta(hours=1)))

    assert veil_cli("doctor", "--json") == 5
    out = capsys.readouterr()
    found = json.loads(out.out)["found"]
    assert sorted((f["kind"], f["target"]) for f in found) == sorted([
        ("temp_file", str(old_tmp)), ("unleased_run", "f" * 32),
        ("request_lease", "RQ-DEAD"), ("audit_outbox", "archive"),
        ("disposal", gone.run_id)])
    assert "problem(s) need attention: run `veil doctor --repair`" in out.err

    assert veil_cli("doctor", "--repair") == 5  # the sink's folder is still blocked
    assert "audit_outbox" in capsys.readouterr().out
    (root / "blocked").unlink()
    with ws.engine.begin() as c:  # the backoff ran out: the events are due again
        c.execute(audit_outbox.update().values(next_attempt=format_time(now)))
    assert veil_cli("doctor", "--repair", "--json") == 0
    assert json.loads(capsys.readouterr().out)["healthy"]
    assert veil_cli("doctor") == 0

    assert not old_tmp.exists() and new_tmp.exists()  # a fresh one may be a write going on
    assert not (root / "gone.parquet").exists() and (root / "kept.parquet").exists()
    with ws.engine.connect() as c:
        assert c.execute(sa.select(runs.c.status).where(runs.c.id == "f" * 32)).scalar() == \
            "failed"
        req = c.execute(sa.select(dsr_requests).where(dsr_requests.c.id == "RQ-DEAD")).one()
        assert req.status == "failed" and req.lease_owner is None
        assert c.execute(sa.select(retention_outputs.c.state).where(
            retention_outputs.c.run_id == gone.run_id)).scalar() == "done"
    assert (root / "blocked" / "forwarded.jsonl").stat().st_size > 0
    repairs = [e.event for e in AuditLog(ws).events(action="doctor.repair")]
    assert [dict(e.counts) for e in repairs] == [
        {"repaired:audit_outbox": 1, "repaired:disposal": 1, "repaired:request_lease": 1,
         "repaired:temp_file": 1, "repaired:unleased_run": 1, "failed": 0},
        {"repaired:audit_outbox": 1, "failed": 0}]
    assert veil_cli("audit", "verify") == 0
    assert veil.read(kept.output).num_rows == 20

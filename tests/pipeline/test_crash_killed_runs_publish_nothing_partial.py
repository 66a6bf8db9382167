"""`veil run` killed with SIGKILL at points through its life: before the commit nothing is
published, after it the publishing is finished; never an output with another's receipt or
without one once recovered; `veil doctor` reports and repairs, or the next command recovers;
the audit log verifies; a rerun gives the same output (plaintext digest)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from veil.cli.main import main
from veil.store.schema import run_leases, runs

CRASH = Path(__file__).with_name("crash_points.py")
RUN = ["run", "-p", "sample", "--purpose", "credit_scoring", "tx.csv"]


def veil(*args: str) -> int:
    return main(list(args))


def killed(point: str, *args: str) -> None:
    """Run `veil ARGS` in a process that SIGKILLs itself at ``point``."""
    p = subprocess.run([sys.executable, str(CRASH), point, *args], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr[-2000:])


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith((".tmp", ".old")))


def plaintext(out: Path) -> str:
    r = json.loads(Path(f"{out}.receipt.json").read_text())
    return r["output"]["encryption"]["plaintext_sha256"]


def consistent(out: Path) -> None:
    """A receipt beside an output is that output's (and names it by digest)."""
    receipt = Path(f"{out}.receipt.json")
    if out.exists() and receipt.exists():
        assert json.loads(receipt.read_text())["output"]["sha256"] == sha(out)
    if not out.exists():
        assert not receipt.exists(), "a receipt without its output"


def status_of(ws, out: Path) -> list[str]:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as c:
        return list(c.execute(sa.select(runs.c.status).where(runs.c.output_ref == out.name)
                              .order_by(runs.c.started_at)).scalars())


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: each case costs a process; the lease's SQL is tested on PostgreSQL in
    test_recovery_*."""
    return f"sqlite:///{tmp_path / 'veil.db'}"


@pytest.fixture
def sample(workspace):  # type: ignore[no-untyped-def]
    assert veil("sample", "--rows", "400", "--seed", "4", "-o", "tx.csv") == 0
    assert veil(*RUN, "-o", "ref.parquet") == 0
    return workspace


# point, "committed": whether the run passed its commit point when killed
POINTS = [("write", False), ("sealed", False), ("replace:1", True), ("replace:2", True)]


@pytest.mark.parametrize(("point", "committed"), POINTS)
def test_killed_run_is_rolled_back_or_finished_by_doctor(sample, capsys, point: str,
                                                         committed: bool) -> None:
    ws, out = sample, Path("out.parquet")
    killed(point, *RUN, "-o", str(out))
    consistent(out)
    if not committed:
        assert not out.exists()
    assert temps(Path(".")), "the kill should leave temporary files"
    assert {Path(t).stat().st_mode & 0o777 for t in temps(Path("."))} == {0o600}
    assert status_of(ws, out) == ["succeeded" if committed else "running"]
    capsys.readouterr()
    assert veil("doctor", "--json") == 5
    found = json.loads(capsys.readouterr().out)["found"]
    assert [f["kind"] for f in found] == ["stale_run"]
    assert veil("doctor", "--repair", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["healthy"] and report["remaining"] == []
    assert temps(Path(".")) == []
    consistent(out)
    assert out.exists() == committed
    assert status_of(ws, out) == ["succeeded" if committed else "failed"]
    with ws.engine.connect() as c:
        assert c.execute(sa.select(run_leases)).all() == []
    assert veil("audit", "verify") == 0
    again = ["--overwrite"] if committed else []
    assert veil(*RUN, "-o", str(out), *again) == 0
    assert plaintext(out) == plaintext(Path("ref.parquet"))
    consistent(out)
    assert veil("doctor") == 0


def test_killed_overwrite_never_pairs_an_output_with_the_old_receipt(sample, capsys) -> None:
    """Killed between the output's rename and the receipt's: the new output stands without a
    receipt (the old one was removed first); the next command puts the new receipt in place."""
    ws, out = sample, Path("ref.parquet")
    old = sha(out)
    killed("replace:2", *RUN, "-o", str(out), "--overwrite")
    assert sha(out) != old and not Path(f"{out}.receipt.json").exists()
    capsys.readouterr()
    assert veil("runs", "list") == 0  # any command that opens the workspace recovers
    assert "recovered run" in capsys.readouterr().err
    consistent(out)
    assert json.loads(Path(f"{out}.receipt.json").read_text())["replaces"]
    assert status_of(ws, out) == ["succeeded", "succeeded"]
    assert temps(Path(".")) == []
    assert veil("audit", "verify") == 0


def test_run_killed_from_outside_is_recovered_by_the_next_run(sample, capsys) -> None:
    """kill -9 from another process while the run writes; the next run to the same path
    recovers it (its process is gone) and publishes."""
    ws, out = sample, Path("out.parquet")
    p = subprocess.Popen([sys.executable, str(CRASH), "pause", *RUN, "-o", str(out)],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "PAUSED"
        assert veil(*RUN, "-o", str(out)) == 6  # the path is being written: refused
        assert "being written by run" in capsys.readouterr().err
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.kill()
        p.wait()
    assert temps(Path("."))
    assert veil(*RUN, "-o", str(out)) == 0
    assert temps(Path(".")) == []
    assert status_of(ws, out) == ["failed", "succeeded"]
    with ws.engine.connect() as c:
        error = c.execute(sa.select(runs.c.error).where(runs.c.status == "failed")).scalar()
    assert f"its process {p.pid} is gone" in error
    assert plaintext(out) == plaintext(Path("ref.parquet"))
    assert veil("audit", "verify") == 0

"""`veil consent import` and `veil dsr run` (an erasure) killed with SIGKILL part-way: the
ledger is all or nothing, the audit log verifies, `veil doctor --repair` frees a request its
dead run held, and running again ends in the state an uninterrupted run gives."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from veil.cli.main import main
from veil.store.schema import consent_events, dsr_requests

CRASH = Path(__file__).with_name("crash_points.py")


def veil(*args: str) -> int:
    return main(list(args))


def killed(point: str, *args: str) -> None:
    p = subprocess.run([sys.executable, str(CRASH), point, *args], capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, (p.returncode, p.stderr[-2000:])


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: each case costs a process (the ledger and requests have their own
    PostgreSQL tests)."""
    return f"sqlite:///{tmp_path / 'veil.db'}"


def _statuses(ws, rows: list[dict[str, str]]) -> dict[tuple[str, str], str]:  # type: ignore[no-untyped-def]
    from veil.consent.ledger import Ledger
    from veil.policy import load_policy
    from veil.sample import SAMPLE_POLICY

    led = Ledger(ws, load_policy(SAMPLE_POLICY))
    at = "2030-01-01T00:00:00Z"
    return {(r["subject"], r["purpose"]): led.check(r["subject"], r["purpose"], at).reason
            for r in rows}


def _events(ws) -> int:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(consent_events)).scalar_one()


@pytest.fixture
def consent_file(workspace) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The sample (300 rows) and its consent file's rows."""
    assert veil("sample", "--rows", "300", "--seed", "2", "-o", "tx.csv",
                "--consents", "c.csv") == 0
    with open("c.csv", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def consents(consent_file, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The consent rows, and the statuses an uninterrupted import gives (imported into a
    second workspace)."""
    from veil.consent.interchange import import_csv
    from veil.consent.ledger import Ledger
    from veil.policy import load_policy
    from veil.sample import SAMPLE_POLICY
    from veil.store.workspace import init_workspace

    ref, _ = init_workspace(tmp_path / "reference")
    import_csv(Ledger(ref, load_policy(SAMPLE_POLICY)), "c.csv")
    expected = _statuses(ref, consent_file)
    ref.close()
    return consent_file, expected


def test_an_import_killed_before_its_commit_changes_nothing(workspace, consents) -> None:
    rows, expected = consents
    killed("commit:1", "consent", "import", "c.csv", "-p", "sample")
    assert _events(workspace) == 0
    assert veil("audit", "verify") == 0
    assert veil("doctor") == 0
    assert veil("consent", "import", "c.csv", "-p", "sample") == 0
    assert _statuses(workspace, rows) == expected
    assert veil("audit", "verify") == 0


def test_an_import_and_its_audit_events_commit_together(workspace, consents) -> None:
    """Killed at its commit: neither consent events nor their audit events; the rerun stores
    both (they are written in one transaction)."""
    from veil.audit.log import AuditLog

    rows, expected = consents
    killed("commit:1", "consent", "import", "c.csv", "-p", "sample")
    assert _events(workspace) == 0
    assert not list(AuditLog(workspace).events(action="consent.granted"))
    assert veil("consent", "import", "c.csv", "-p", "sample") == 0
    assert _events(workspace) == len(rows) and _statuses(workspace, rows) == expected
    assert list(AuditLog(workspace).events(action="consent.granted"))
    assert veil("consent", "import", "c.csv", "-p", "sample") != 0  # repeated event ids
    assert _events(workspace) == len(rows)
    assert veil("audit", "verify") == 0


# -- erasure -----------------------------------------------------------------------------------


@pytest.fixture
def erasures(workspace, consent_file):  # type: ignore[no-untyped-def]
    """The sample in its registered store, an output holding everyone, and per subject the
    number of their rows."""
    assert veil("consent", "import", "c.csv", "-p", "sample") == 0
    assert veil("dsr", "load-store", "transactions", "tx.csv", "-p", "sample") == 0
    assert veil("run", "-p", "sample", "--purpose", "credit_scoring", "tx.csv",
                "-o", "credit.parquet") == 0
    counts: dict[str, int] = {}
    with open("tx.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            counts[r["customer_id"]] = counts.get(r["customer_id"], 0) + 1
    return counts


def _open_erasure(subject: str, capsys) -> str:  # type: ignore[no-untyped-def]
    capsys.readouterr()
    assert veil("dsr", "open", "erasure", subject, "-p", "sample", "--json") == 0
    return str(json.loads(capsys.readouterr().out)["id"])


# commit points of `veil dsr run` for an erasure: 4th = the store's rows deleted (the commit
# is lost), 9th = the subject's key shredded (the commit is lost); audit:3 = the completion's
# audit event not yet written (every effect committed)
@pytest.mark.parametrize("point", ["commit:4", "commit:9", "audit:3"])
def test_an_erasure_killed_part_way_is_resumed_to_the_same_end(workspace, erasures, capsys,
                                                               point: str) -> None:
    subject = sorted(erasures)[3]
    rid = _open_erasure(subject, capsys)
    killed(point, "dsr", "run", rid, "-p", "sample")
    with workspace.engine.connect() as c:
        assert c.execute(sa.select(dsr_requests.c.status).where(
            dsr_requests.c.id == rid)).scalar() == "running"
    assert veil("audit", "verify") == 0
    assert veil("dsr", "run", rid, "-p", "sample") != 0  # held by the dead run
    capsys.readouterr()
    assert veil("doctor", "--json") == 5
    found = json.loads(capsys.readouterr().out)["found"]
    assert [(f["kind"], f["target"]) for f in found] == [("request_lease", rid)]
    assert veil("doctor", "--repair") == 0
    capsys.readouterr()
    assert veil("dsr", "run", rid, "-p", "sample", "--json") == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["status"] == "completed"
    assert rec["result"]["stores"]["transactions"]["rows"] == erasures[subject]
    cert = json.loads(Path(rec["result"]["certificate"][0]).read_text())
    assert cert["subject_key"] == "destroyed"
    assert cert["stores"]["transactions"]["rows"] == erasures[subject]
    assert veil("audit", "verify") == 0
    assert veil("doctor") == 0

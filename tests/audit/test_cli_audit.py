"""`veil audit ...` end to end through the real entry point (`veil.cli.main.main`): output,
exit codes (8 for a failed verification) and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil.audit.offline_verify as offline
from veil.audit.log import AuditLog
from veil.cli import main as cli_main
from veil.cli.audit import audit_app
from veil.store.schema import audit_leaves

if not any(g.name == "audit" for g in cli_main.app.registered_groups):
    cli_main.app.add_typer(audit_app, name="audit")  # the lead's main registers it the same way

COMMANDS = [
    "log",
    "show",
    "head",
    "public-key",
    "prove",
    "verify-proof",
    "verify",
    "export",
    "verify-export",
    "deliver",
    "checkpoint",
]


def veil(*args: str) -> int:
    return cli_main.main(list(args))


@pytest.fixture
def filled(workspace, make_event) -> AuditLog:  # type: ignore[no-untyped-def]
    log = AuditLog(workspace, sinks=[])
    log.append([make_event(i) for i in range(12)])
    return log


def test_help_has_a_description_and_an_example(capsys) -> None:
    assert veil("audit", "--help") == 0
    out = capsys.readouterr().out
    for cmd in COMMANDS:
        assert cmd in out
        assert veil("audit", cmd, "--help") == 0
        text = capsys.readouterr().out
        assert "Example: veil audit " + cmd.split("-")[0] in text, cmd


def test_cli_flow(filled: AuditLog, tmp_path: Path, capsys) -> None:
    assert veil("audit", "log", "--limit", "3") == 0
    out = capsys.readouterr().out
    assert "11" in out and "10" in out and "9" in out and "run.start" not in out.split("9")[-1]
    assert veil("audit", "log", "--action", "run.start", "--json") == 0
    items = json.loads(capsys.readouterr().out)
    assert [x["idx"] for x in items] == [10, 5, 0]
    assert all(x["event"]["action"] == "run.start" for x in items)
    assert (
        veil("audit", "log", "--purpose", "marketing", "--since", "2024-05-01T00:00:06Z", "--json")
        == 0
    )
    assert [x["idx"] for x in json.loads(capsys.readouterr().out)] == [11, 8]

    assert veil("audit", "show", "4") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["idx"] == 4 and shown["covered_by_signed_head"] is None
    assert shown["event"]["counts"]["rows_in"] == 1004

    assert veil("audit", "head") == 0
    assert "no signed head yet" in capsys.readouterr().out
    assert veil("audit", "head", "--sign", "--json") == 0
    head = json.loads(capsys.readouterr().out)
    assert head["size"] == 12 and head["signed_head"]["size"] == 12
    assert head["signed_head"]["note"].startswith(filled.origin + "\n12\n")

    key = tmp_path / "key.pem"
    assert veil("audit", "public-key", "-o", str(key)) == 0
    assert key.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    proof = tmp_path / "p4.json"
    assert veil("audit", "prove", "4", "-o", str(proof)) == 0
    assert "head of size 12" in capsys.readouterr().out
    assert veil("audit", "verify-proof", str(proof), "--public-key", str(key)) == 0
    assert "VERIFIED" in capsys.readouterr().out
    assert veil("audit", "verify-proof", str(proof)) == 0  # anchored by this workspace's log
    assert "the key of this workspace's log" in capsys.readouterr().out
    assert (
        veil("audit", "verify-proof", str(proof), "--size", "12", "--head-root", head["root"]) == 0
    )
    assert offline.main([str(proof), "--public-key", str(key), "--quiet"]) == 0
    assert offline.main([str(proof), "--size", "12", "--root", head["root"], "--quiet"]) == 0

    assert veil("audit", "verify") == 0
    assert "OK: 12 events" in capsys.readouterr().out
    assert veil("audit", "verify", "--json", "--public-key", str(key)) == 0
    assert json.loads(capsys.readouterr().out)["heads_checked"] == 1

    exp = tmp_path / "audit.jsonl"
    assert veil("audit", "export", str(exp)) == 0
    assert veil("audit", "verify-export", str(exp), "--public-key", str(key)) == 0
    assert "12 events" in capsys.readouterr().out.split("\n")[-2]

    assert veil("audit", "deliver") == 0
    assert "No sinks configured ([audit.sinks] in veil.toml)" in capsys.readouterr().out


def test_cli_failures_exit_8_with_one_line(
    filled: AuditLog, tmp_path: Path, capsys, monkeypatch
) -> None:
    filled.sign_head()
    key = tmp_path / "key.pem"
    assert veil("audit", "public-key", "-o", str(key)) == 0
    proof = tmp_path / "p.json"
    assert veil("audit", "prove", "3", "-o", str(proof)) == 0
    exp = tmp_path / "e.jsonl"
    assert veil("audit", "export", str(exp)) == 0
    capsys.readouterr()

    def fails(*args: str, match: str, code: int = 8) -> None:
        assert veil(*args) == code
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err and match in err, err

    # an unknown index is exit 4 like every unknown id (tests/cli/test_exit_codes.py)
    fails("audit", "show", "99", match="no event at index 99", code=4)
    with filled.engine.begin() as conn:
        data = conn.execute(sa.select(audit_leaves.c.event).where(audit_leaves.c.idx == 2)).scalar()
        conn.execute(
            audit_leaves.update()
            .where(audit_leaves.c.idx == 2)
            .values(event=bytes(data).replace(b"1002", b"1003"))
        )
    fails("audit", "verify", match="index 2: modified event")

    exp.write_bytes(exp.read_bytes()[:-30])
    fails("audit", "verify-export", str(exp), match="truncated")

    other = tmp_path / "other.pem"
    from veil.audit.heads import generate_signing_key, public_key_to_pem

    other.write_bytes(public_key_to_pem(generate_signing_key().public_key()))
    fails("audit", "verify-proof", str(proof), "--public-key", str(other), match="wrong key")
    fails(
        "audit",
        "verify-proof",
        str(proof),
        "--size",
        "12",
        "--head-root",
        "00" * 32,
        match="root mismatch",
    )
    # a usage mistake is input (exit 4), not a failed verification (tests/cli/test_exit_codes.py)
    fails("audit", "verify-proof", str(proof), "--size", "12", match="go together", code=4)
    elsewhere = tmp_path / "nowhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    fails("audit", "verify-proof", str(proof), match="nothing to anchor the proof", code=4)
    assert veil("audit", "verify-proof", str(proof), "--public-key", str(key)) == 0

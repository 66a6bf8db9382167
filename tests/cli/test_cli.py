"""The CLI end to end, as a user drives it: sample -> init -> policy check -> run -> ropa.

Runs on SQLite and, when the server is there, PostgreSQL (VEIL_DATABASE_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import veil as veil_lib
from veil.cli.main import main


def veil(*args: str) -> int:
    return main(list(args))


def test_main_flow(workspace, tmp_path: Path, capsys) -> None:
    assert veil("sample", "--rows", "3000", "--seed", "3", "-o", "tx.csv") == 0
    assert veil("policy", "check", "sample") == 3  # in a workspace: the consent notice is missing
    assert "personalised_offers" in capsys.readouterr().err
    Path("notice.txt").write_text("We use your card spending to suggest offers.\n")
    assert veil("consent", "notice", "add", "personalised_offers", "--version", "1",
                "--text-file", "notice.txt", "-p", "sample") == 0
    assert veil("policy", "check", "sample") == 0
    assert "credit_scoring" in capsys.readouterr().out
    assert veil("run", "--policy", "sample", "--purpose", "credit_scoring", "tx.csv",
                "-o", "credit.parquet") == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "3,000 in -> 3,000 out" in out
    table = veil_lib.read("credit.parquet")
    assert "full_name" not in table.column_names and "iban" not in table.column_names
    receipt = json.loads(Path("credit.parquet.receipt.json").read_text())
    assert receipt["rows"]["out"] == 3000
    assert veil("run", "--policy", "sample", "--purpose", "fraud_detection", "tx.csv",
                "-o", "fraud.parquet", "--json") == 0
    assert json.loads(capsys.readouterr().out)["purpose"]["id"] == "fraud_detection"
    assert veil("runs", "list") == 0
    assert "credit_scoring" in capsys.readouterr().out
    assert veil("runs", "show", receipt["run_id"][:10]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert veil("ropa", "--policy", "sample", "-o", "records") == 0
    assert (Path("records") / "ropa.md").read_text().count("| (g) |") == 3
    assert veil("db", "current") == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "code", "message"), [
    (["run", "--policy", "sample", "--purpose", "marketing", "tx.csv", "-o", "o.parquet"], 3,
     "unknown purpose 'marketing'"),
    (["run", "--policy", "missing.yaml", "--purpose", "x", "tx.csv", "-o", "o.parquet"], 3,
     "policy file not found"),
    (["run", "--policy", "sample", "--purpose", "credit_scoring", "nope.csv", "-o",
      "o.parquet"], 4, "nope.csv: file not found"),
    (["run", "--policy", "sample", "--purpose", "credit_scoring", "tx.csv", "-o", "o.csv"], 4,
     "output must be a Parquet file"),
    (["run", "--policy", "sample", "--purpose", "credit_scoring", "bad.csv", "-o",
      "o.parquet"], 4, "bad.csv:3: expected 29 fields, found 2"),
    (["policy", "check", "broken.yaml"], 3, "a flow sequence started at line 2"),
    (["run", "--bogus"], 2, "No such option"),
    (["run", "--policy", "sample", "--purpose", "[/x]", "tx.csv", "-o", "o.parquet"], 3,
     "unknown purpose '[/x]'"),  # user text is never read as Rich markup
])
def test_user_mistakes_give_one_line_and_a_code(workspace, capsys, args: list[str], code: int,
                                                message: str) -> None:
    assert veil("sample", "--rows", "20", "-o", "tx.csv") == 0
    lines = Path("tx.csv").read_text().splitlines()
    Path("bad.csv").write_text("\n".join(lines[:2] + ["a,b"] + lines[2:]) + "\n")
    Path("broken.yaml").write_text("controller:\n  name: [unclosed\n")
    capsys.readouterr()
    assert veil(*args) == code
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not Path("o.parquet").exists()
    assert not any(p.name.startswith(".o.parquet") for p in Path(".").iterdir())


def test_no_workspace(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    assert veil("runs", "list") == 5
    assert "run `veil init` first" in capsys.readouterr().err


def _leaf_commands() -> list[list[str]]:
    """Every command of the CLI, found by walking the click tree (new commands are covered)."""
    import typer.main

    from veil.cli.main import app

    out: list[list[str]] = []

    def walk(cmd, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out.append(path)

    walk(typer.main.get_command(app), [])
    return out


def test_every_command_has_help_with_an_example(capsys) -> None:
    commands = _leaf_commands()
    assert len(commands) > 60 and ["dsr", "open"] in commands and ["serve"] in commands
    for cmd in commands:
        assert veil(*cmd, "--help") == 0
        out = capsys.readouterr().out
        assert "Example" in out, f"veil {' '.join(cmd)} --help has no example"
    assert veil("--help") == 0
    assert "Exit codes" in capsys.readouterr().out


def test_console_script_runs(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("veil")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "veil"]
    env = {k: v for k, v in os.environ.items() if k not in ("VEIL_WORKSPACE",
                                                            "VEIL_DATABASE_URL")}
    r = subprocess.run(cmd + ["init", str(tmp_path / "w")], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("veil ")


def test_consent_purpose_end_to_end(workspace, capsys) -> None:
    assert veil("sample", "--rows", "2000", "--seed", "5", "-o", "tx.csv",
                "--consents", "consents.csv") == 0
    Path("notice.txt").write_text("We suggest offers from your spending.\n")
    assert veil("consent", "notice", "add", "personalised_offers", "--version", "1",
                "--text-file", "notice.txt", "-p", "sample",
                "--effective", "2024-01-01T00:00:00Z") == 0
    assert veil("consent", "import", "consents.csv", "-p", "sample") == 0
    capsys.readouterr()
    assert veil("run", "-p", "sample", "--purpose", "personalised_offers", "tx.csv",
                "-o", "offers.parquet", "--json") == 0
    r = json.loads(capsys.readouterr().out)
    dropped = r["rows"]["dropped"]
    assert dropped.get("no consent", 0) > 0 and dropped.get("consent withdrawn", 0) > 0
    assert r["rows"]["out"] + sum(dropped.values()) == r["rows"]["in"] == 2000

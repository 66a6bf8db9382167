"""docs/audit.md runs as written: the Python example, and the CLI walk-through (through the real
entry point) including the stdlib-only offline verifier."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import veil.audit.offline_verify as offline
from veil.audit.log import AuditLog
from veil.audit.sinks import sinks_from_config
from veil.cli import main as cli_main
from veil.cli.audit import audit_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "audit.md").read_text()

if not any(g.name == "audit" for g in cli_main.app.registered_groups):
    cli_main.app.add_typer(audit_app, name="audit")


def block(lang: str, n: int = 0) -> str:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)[n]


def test_python_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    exec(compile(block("python"), "docs/audit.md", "exec"), {})
    assert capsys.readouterr().out.split() == ["1", "1", "1"]
    assert (tmp_path / "audit-demo" / "event.proof.json").is_file()


def test_cli_walkthrough_runs(workspace, make_event, capsys) -> None:
    AuditLog(workspace, sinks=[]).append([make_event(i) for i in range(3)])
    for line in block("bash").splitlines():
        args = shlex.split(line, comments=True)
        assert args[:2] == ["veil", "audit"], line
        assert cli_main.main(args[1:]) == 0, (line, capsys.readouterr())
    capsys.readouterr()
    root = AuditLog(workspace, sinks=[]).head().root.hex()
    assert offline.main(["event0.proof.json", "--size", "3", "--root", root, "--quiet"]) == 0
    assert offline.main(["event0.proof.json", "--public-key", "audit-key.pem", "--quiet"]) == 0


def test_witness_config_example_is_valid(tmp_path: Path, monkeypatch) -> None:
    import tomllib

    from veil.audit.witnesses import witnesses_from_config

    monkeypatch.setenv("VEIL_WITNESS_TOKEN", "x")
    cfg = tomllib.loads(block("toml", 0))
    ws = witnesses_from_config(cfg["audit"]["witnesses"], tmp_path)
    assert [w.name for w in ws] == ["worm", "archive", "second-site"]


def test_sink_config_example_is_valid(tmp_path: Path, monkeypatch) -> None:
    import tomllib

    monkeypatch.setenv("VEIL_AUDIT_HTTP_TOKEN", "x")
    cfg = tomllib.loads(block("toml", 1))
    assert cfg["audit"]["origin"] == "bank.example/veil-audit"
    sinks = sinks_from_config(cfg["audit"]["sinks"], tmp_path)
    assert [s.name for s in sinks] == ["archive", "siem", "hook"]

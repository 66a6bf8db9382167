"""`veil --help` and a CSV run import only what they use (issue 22: start fast).

Each check runs the command in a fresh interpreter and lists, at exit, which of the heavy
libraries it imported: no timing, so the test holds on a loaded machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Never needed by `veil --help` or a CSV run.
NEVER = ("pandas", "polars", "alembic", "sklearn", "fastapi", "pyspark", "matplotlib", "shap")
#: Needed by a run, not by `veil --help`.
RUN_ONLY = ("pyarrow", "numpy", "sqlalchemy", "pydantic", "cryptography", "veil.policy",
            "veil.pipeline.run")

_WRAPPER = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
from veil.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _veil(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    """Run `veil ARGS` in a fresh interpreter: (exit code, modules imported, stderr)."""
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, *args], cwd=cwd, text=True,
                          capture_output=True, env={**os.environ, **(env or {})}, timeout=300)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    return proc.returncode, set(json.loads(line.removeprefix("MODULES "))), proc.stderr


def _imported(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return [n for n in names if n in modules]


def test_help_imports_no_library_and_no_command_module(tmp_path: Path) -> None:
    code, modules, err = _veil("--help", cwd=tmp_path)
    assert code == 0, err
    assert _imported(modules, NEVER + RUN_ONLY) == []
    commands = sorted(m for m in modules if m.startswith("veil.cli."))
    assert commands == ["veil.cli.common", "veil.cli.lazy", "veil.cli.main"]


def test_a_csv_run_imports_no_frame_library_and_no_alembic(tmp_path: Path,
                                                           monkeypatch) -> None:
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    env = {"VEIL_KEK": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}  # 32 bytes, a test key
    ws = tmp_path / "ws"
    setup = [["init", str(ws)], ["keys", "init"], ["sample", "--rows", "10", "-o", "tx.csv"]]
    tmp_path.joinpath("ws").mkdir()
    from veil.cli.main import main

    monkeypatch.setenv("VEIL_KEK", env["VEIL_KEK"])
    monkeypatch.chdir(ws)
    for args in setup:  # the set-up in this process: only the run's imports are looked at
        assert main(args) == 0, args
    code, modules, err = _veil("run", "--policy", "sample", "--purpose", "credit_scoring",
                               "tx.csv", "-o", "credit.parquet", cwd=ws, env=env)
    assert code == 0, err
    assert (ws / "credit.parquet").is_file()
    assert _imported(modules, NEVER) == []
    assert "pyarrow" in modules and "veil.pipeline.run" in modules  # it did run


@pytest.mark.parametrize("command", [["keys", "--help"], ["decisions", "model", "--help"]])
def test_a_group_imports_its_own_module_only(tmp_path: Path, command: list[str]) -> None:
    code, modules, err = _veil(*command, cwd=tmp_path)
    assert code == 0, err
    assert f"veil.cli.{command[0]}" in modules
    assert "veil.cli.audit" not in modules and "veil.cli.consent" not in modules

"""Docs that run: the examples of docs/discovery.md work as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from veil.detect.registry import Registry, recognizer_from_config

DOC = (Path(__file__).resolve().parents[2] / "docs" / "discovery.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def test_python_example_runs(tmp_path: Path) -> None:
    (code,) = _blocks("python")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "5000 full" in out and "'iban'" in out and "mask" in out
    assert "sample 500" in out and "['contact']" in out
    assert "DE89 3704" not in out  # examples are masked


def test_yaml_recognizers_are_valid() -> None:
    block = next(b for b in _blocks("yaml") if b.startswith("recognizers:"))
    specs = yaml.safe_load(block)["recognizers"]
    reg = Registry(recognizer_from_config(s) for s in specs)
    assert reg.names() == ["employee_id", "loan_ref"]


def test_recognizer_table_lists_every_builtin_type() -> None:
    from veil.discovery import default_registry

    documented = set(re.findall(r"^\| `([a-z_]+)` \|", DOC, flags=re.M))
    assert set(default_registry().types()) <= documented

"""A 10-row `veil run` imports only what that run uses (issue 22: start fast).

The run goes in a fresh interpreter through a small wrapper that prints, at exit, the modules it
imported: no timing, so the test holds on a loaded machine. The sample's ``credit_scoring`` has no
risk gate, one worker, a CSV input and a SQLite store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

#: Never imported by this run, with why.
UNUSED = {
    "veil.risk.gate": "the dataset has no risk gate",
    "veil.risk.anonymize": "the dataset has no risk gate",
    "veil.pipeline.gate": "the dataset has no risk gate",
    "veil.pipeline.parallel": "one worker: no process pool",
    "multiprocessing": "one worker: no process pool",
    "sqlalchemy.dialects.postgresql": "the store is SQLite",
    "pandas": "a CSV input needs no frame library",
    "polars": "a CSV input needs no frame library",
    "alembic": "the schema version is checked without Alembic",
}

_WRAPPER = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
from veil.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
_KEK = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # 32 bytes, a test key


def test_a_ten_row_run_imports_nothing_it_does_not_use(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("VEIL_DATABASE_URL", "VEIL_WORKSPACE")} | {"VEIL_KEK": _KEK}
    ws = tmp_path / "ws"
    for args in (["init", str(ws)], ["keys", "init"], ["sample", "--rows", "10", "-o", "s.csv"]):
        proc = subprocess.run([sys.executable, "-m", "veil", *args], text=True, timeout=300,
                              cwd=ws if ws.is_dir() else tmp_path, capture_output=True, env=env)
        assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, "run", "--policy", "sample",
                           "--purpose", "credit_scoring", "s.csv", "-o", "o.parquet"],
                          cwd=ws, text=True, capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stderr.splitlines() if x.startswith("MODULES "))
    modules = set(json.loads(line.removeprefix("MODULES ")))
    assert (ws / "o.parquet").is_file() and "veil.pipeline.runner" in modules  # it did run
    assert "veil.store.schema" in modules and "sqlalchemy" in modules
    imported = {m: why for m, why in UNUSED.items() if m in modules}
    assert imported == {}, f"imported by a 10-row run though unused: {imported}"

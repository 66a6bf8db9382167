"""docs/spark.md runs as written, after the README's CLI quickstart: the CLI walk-through
(`--engine spark`, spark-submit, parts) and the Python example."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (the 'spark' extra)")
if shutil.which("java") is None:
    pytest.skip("Java is not installed (Spark needs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "spark.md").read_text()
README = (ROOT / "README.md").read_text()


def _block(text: str, lang: str, start: str = "") -> str:
    return next(b for b in re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
                if b.startswith(start))


def test_walk_through_and_python_example_run_as_written(tmp_path: Path) -> None:
    if not (Path(sys.prefix) / "bin" / "activate").exists():
        pytest.skip("tests are not running inside a virtual environment")
    (tmp_path / ".venv").symlink_to(sys.prefix)
    quickstart = _block(README, "bash", "source .venv/bin/activate")
    env = {k: v for k, v in os.environ.items()
           if k not in ("VEIL_WORKSPACE", "VEIL_DATABASE_URL", "VEIL_KEK")}
    env["VEIL_KEK_PASSPHRASE"] = "the docs test passphrase for spark"
    script = quickstart + _block(DOC, "bash") + "cat > example.py <<'PY'\n" + \
        _block(DOC, "python") + "PY\npython example.py\n"
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    q = tmp_path / "quickstart"
    for out in ("credit.spark.parquet", "credit.submit.parquet", "credit.parts",
                "credit.parts.plain.parquet", "credit.df.parquet"):
        assert (q / out).exists(), out
    assert "spark" in r.stdout

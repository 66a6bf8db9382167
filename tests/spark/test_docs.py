"""docs/spark.md runs as written, after the README's CLI quickstart: the CLI walk-through
(`--engine spark`, spark-submit, parts) and the Python example."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (the 'spark' extra)")
if shutil.which("java") is None:
    pytest.skip("Java is not installed (Spark needs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "spark.md").read_text()


def _block(text: str, lang: str, start: str = "") -> str:
    return next(b for b in re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)
                if b.startswith(start))


def test_walk_through_and_python_example_run_as_written(readme_quickstart, monkeypatch,
                                                        jvm_env) -> None:
    monkeypatch.setattr(readme_quickstart, "env", jvm_env(readme_quickstart.env))
    script = _block(DOC, "bash") + "cat > example.py <<'PY'\n" + \
        _block(DOC, "python") + "PY\npython example.py\n"
    r = readme_quickstart.run(script)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    q = readme_quickstart.base / "quickstart"
    for out in ("credit.spark.parquet", "credit.submit.parquet", "credit.parts",
                "credit.parts.plain.parquet", "credit.df.parquet"):
        assert (q / out).exists(), out
    assert "spark" in r.stdout

"""docs/spark_streaming.md runs as written, after the README's quickstart and DPO commands:
two files arrive, two `veil spark stream` calls publish a micro-batch each (the sample consent
purpose, whose `encrypt` runs per batch), a third finds nothing new."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (the 'spark' extra)")
if shutil.which("java") is None:
    pytest.skip("Java is not installed (Spark needs it)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "spark_streaming.md").read_text()


def test_walk_through_runs_as_written(readme_quickstart, monkeypatch, jvm_env) -> None:
    monkeypatch.setattr(readme_quickstart, "env", jvm_env(readme_quickstart.env))
    bash = re.findall(r"```bash\n(.*?)```", DOC, flags=re.S)
    assert len(bash) == 1
    done = readme_quickstart.run(bash[0])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    q = readme_quickstart.base / "quickstart"
    second = json.loads((q / "second.json").read_text())
    assert [b["status"] for b in second["batches"]] == ["published"]
    assert "No new data in landing" in done.stdout
    receipts = sorted((q / "offers.stream").glob("batch=*/part.parquet.receipt.json"))
    assert [p.parent.name for p in receipts] == ["batch=000000", "batch=000001"]
    recs = [json.loads(p.read_text()) for p in receipts]
    assert [rec["input"]["ref"] for rec in recs] == ["landing: micro-batch 0",
                                                 "landing: micro-batch 1"]
    assert all(rec["rows"]["in"] == 1000 for rec in recs)
    rows_out = sum(rec["rows"]["out"] for rec in recs)
    batch = json.loads((q / "offers.parquet.receipt.json").read_text())  # the README's run
    assert rows_out == batch["rows"]["out"] > 0
    assert done.stdout.strip().splitlines()[-1] == str(rows_out)

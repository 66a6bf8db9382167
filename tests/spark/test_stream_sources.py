"""The stream's other sources and checks: Spark's `rate-micro-batch` test source through a
purpose (bounded by max_batches), and the per-file schema check of CSV and JSON-lines files
(no Spark job: the check reads headers and keys on the driver)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install 'veil[spark]')")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17", allow_module_level=True)

import veil  # noqa: E402
from veil.errors import InputError  # noqa: E402

RATE_POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  ticks:
    fields:
      value: {category: transaction, type: integer}
      timestamp: {category: transaction, type: timestamp}
purposes:
  monitoring:
    description: load monitoring
    legal_basis: legitimate_interests
    legitimate_interest: operating the service
    retention: 30 days
    datasets:
      ticks:
        fields:
          value: keep
          timestamp: {transform: generalize, method: month}
"""


def _source(fmt: str, names: list[str]):  # type: ignore[no-untyped-def]
    from pyspark.sql.types import StringType, StructField, StructType

    from veil.io.readers import CsvOptions
    from veil.spark.stream_source import StreamSource

    schema = StructType([StructField(n, StringType(), True) for n in names])
    return StreamSource(None, "landing", fmt, schema.json(), CsvOptions())


def test_csv_and_json_files_are_checked_against_the_streams_columns(tmp_path: Path) -> None:
    from veil.spark.stream_source import file_mismatch

    src = _source("csv", ["id", "amount"])
    (tmp_path / "ok.csv").write_text("id,amount\n1,2\n")
    (tmp_path / "swapped.csv").write_text("amount,id\n2,1\n")
    (tmp_path / "renamed.csv").write_text("id,sum\n1,2\n")
    assert file_mismatch((tmp_path / "ok.csv").as_uri(), src) is None
    assert file_mismatch((tmp_path / "swapped.csv").as_uri(), src) == (
        "has the columns in another order")  # Spark would read CSV by position
    assert file_mismatch((tmp_path / "renamed.csv").as_uri(), src) == "lacks amount; adds sum"

    src = _source("jsonl", ["id", "amount"])
    (tmp_path / "ok.jsonl").write_text('{"id": "1"}\n{"id": "2", "amount": "3"}\n')
    (tmp_path / "new.jsonl").write_text('{"id": "1", "iban": "DE00"}\n')
    assert file_mismatch((tmp_path / "ok.jsonl").as_uri(), src) is None  # nulls left out
    assert file_mismatch((tmp_path / "new.jsonl").as_uri(), src) == "adds iban"


def test_bad_trigger_and_unknown_format_are_one_line(tmp_path: Path) -> None:
    from veil.spark.stream_source import check_source
    from veil.spark.streaming import _trigger

    with pytest.raises(InputError, match="unknown trigger"):
        _trigger("sometimes")
    assert _trigger("30 seconds") == {"processingTime": "30 seconds"}
    with pytest.raises(InputError, match="unknown stream format"):
        check_source(str(tmp_path), "xml")
    with pytest.raises(InputError, match="not a folder"):
        (tmp_path / "f.parquet").write_bytes(b"")
        check_source(str(tmp_path / "f.parquet"))


def test_the_rate_source_runs_a_purpose_per_micro_batch(tmp_path: Path, monkeypatch,
                                                        spark) -> None:
    """Spark's rate-micro-batch source (deterministic: a fixed number of rows per batch,
    values counting up) in processing-time mode, stopped after two micro-batches."""
    from veil.spark import stream
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    monkeypatch.setenv("VEIL_KEK", spark._jvm.System.getenv("VEIL_KEK"))
    ws, _ = init_workspace(tmp_path / "ws")
    monkeypatch.chdir(ws.root)
    (tmp_path / "p.yaml").write_text(RATE_POLICY)
    result = stream("rate-micro-batch", tmp_path / "p.yaml", "monitoring", tmp_path / "out",
                    checkpoint=tmp_path / "ckpt", trigger="1 second", max_batches=2,
                    options={"rowsPerBatch": "7"}, spark=spark)
    published = result.published
    assert len(published) >= 2
    assert [b.batch_id for b in published] == list(range(len(published)))
    values = []
    for b in published:
        assert b.rows_in == b.rows_out == 7
        rec = json.loads(b.receipt.read_text())
        assert rec["input"]["ref"] == f"rate-micro-batch source: micro-batch {b.batch_id}"
        values.extend(veil.read(b.output).column("value").to_pylist())
    assert sorted(values) == list(range(7 * len(published)))  # none lost, none twice
    ws.close()

"""`veil.spark.stream` over a file source: micro-batches give the batch run's rows, one receipt
each; a replay after a crash is skipped, not duplicated; a schema change is one error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install 'veil[spark]')")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17", allow_module_level=True)

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

import veil  # noqa: E402
from veil.errors import InputError, VeilError  # noqa: E402

POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: customer_id
    fields:
      customer_id: direct_identifier
      full_name: direct_identifier
      iban: account
      country: {category: location, quasi_identifier: true}
      amount: {category: transaction, type: float}
      transaction_time: {category: transaction, type: timestamp}
      merchant_category: transaction
      memo: free_text
purposes:
  offers:
    description: offers to customers who opted in
    legal_basis: consent
    retention: 1 year
    datasets:
      tx:
        fields:
          customer_id: {transform: pseudonymize, length: 16, prefix: o_}
          iban: tokenize
          memo: redact_text
          country: keep
          amount: keep
          transaction_time: {transform: generalize, method: month}
          merchant_category: keep
"""
COLUMNS = ["customer_id", "full_name", "iban", "country", "amount", "transaction_time",
           "merchant_category", "memo"]


@pytest.fixture
def ws(tmp_path: Path, monkeypatch, spark):  # type: ignore[no-untyped-def]
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    monkeypatch.setenv("VEIL_KEK", spark._jvm.System.getenv("VEIL_KEK"))
    w, _ = init_workspace(tmp_path / "ws")
    monkeypatch.chdir(w.root)
    yield w
    w.close()


def _data(tmp_path: Path, ws: Any, rows: int = 90) -> tuple[pa.Table, Path]:
    """Transactions of 30 customers, two thirds of them with consent to offers."""
    from veil.consent.interchange import import_csv
    from veil.consent.ledger import Ledger

    table = pa.table({
        "customer_id": [f"C{i % 30:03d}" for i in range(rows)],
        "full_name": [f"Name {i % 30}" for i in range(rows)],
        "iban": [f"DE{i:020d}" for i in range(rows)],
        "country": ["DE", "FR", "NL"] * (rows // 3),
        "amount": [str(1.5 * i) for i in range(rows)],
        "transaction_time": [f"2024-0{1 + i % 9}-02T10:00:00Z" for i in range(rows)],
        "merchant_category": ["food", "travel"] * (rows // 2),
        "memo": [f"call me on +49 30 1234{i:04d}" for i in range(rows)]})
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY)
    lines = ["subject,purpose,event,time,notice_version,channel,action,collector"] + [
        f"C{i:03d},offers,granted,2024-01-01T00:00:00Z,1,web_form,ticked the box,crm"
        for i in range(20)]
    (tmp_path / "consents.csv").write_text("\n".join(lines) + "\n")
    import_csv(Ledger(ws, veil.load_policy(policy)), tmp_path / "consents.csv")
    return table, policy


def _rows(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        out.extend(json.dumps(r, sort_keys=True, default=str) for r in veil.read(p).to_pylist())
    return sorted(out)


def test_three_micro_batches_give_the_batch_runs_rows_and_a_receipt_each(ws, tmp_path: Path,
                                                                          spark) -> None:
    from veil.spark import stream

    table, policy = _data(tmp_path, ws)
    landing, out, ckpt = tmp_path / "landing", tmp_path / "out", tmp_path / "ckpt"
    landing.mkdir()
    results = []
    for i in range(3):  # a file arrives, the stream catches up, stops; three times
        pq.write_table(table.slice(30 * i, 30), landing / f"tx-{i}.parquet")
        results.append(stream(landing, policy, "offers", out, checkpoint=ckpt, spark=spark))
    batches = [b for r in results for b in r.batches]
    assert [(b.batch_id, b.status) for b in batches] == [(0, "published"), (1, "published"),
                                                         (2, "published")]
    pq.write_table(table, tmp_path / "all.parquet")
    batch_run = veil.run(policy, "offers", tmp_path / "all.parquet", tmp_path / "all.out.parquet")
    assert _rows([b.output for b in batches]) == _rows([batch_run.output])
    assert sum(b.rows_out for b in batches) == batch_run.rows_out == 60
    for b in batches:
        assert b.output == out / f"batch={b.batch_id:06d}" / "part.parquet"
        rec = json.loads(b.receipt.read_text())
        assert rec["run_id"] == b.run_id and rec["engine"]["name"] == "spark"
        assert rec["input"]["ref"] == f"{landing}: micro-batch {b.batch_id}"
        assert rec["rows"]["dropped"]["no consent"] == 10  # 30 rows, 10 without consent
        assert rec["output"]["encryption"] is not None
    again = stream(landing, policy, "offers", out, checkpoint=ckpt, spark=spark)
    assert again.batches == []  # nothing new: nothing runs


def test_a_crash_after_publish_is_replayed_and_skipped_not_duplicated(ws, tmp_path: Path,
                                                                      spark, monkeypatch
                                                                      ) -> None:
    """The publish committed, the checkpoint did not: the restart replays the batch id, finds
    it published and skips it (recorded); the next batch goes on. Neither lost nor twice."""
    from veil.audit.log import AuditLog
    from veil.spark import stream, stream_batch

    table, policy = _data(tmp_path, ws)
    landing, out, ckpt = tmp_path / "landing", tmp_path / "out", tmp_path / "ckpt"
    landing.mkdir()
    for i in range(2):
        pq.write_table(table.slice(45 * i, 45), landing / f"tx-{i}.parquet")

    def crash(batch_id: int) -> None:
        raise RuntimeError("the driver died")

    monkeypatch.setattr(stream_batch, "after_publish", crash)
    with pytest.raises(VeilError, match="micro-batch 0") as err:
        stream(landing, policy, "offers", out, checkpoint=ckpt, spark=spark,
               max_files_per_trigger=1)
    assert "the stream stopped (RuntimeError)" in str(err.value)
    assert (out / "batch=000000" / "part.parquet.receipt.json").is_file()
    monkeypatch.setattr(stream_batch, "after_publish", lambda batch_id: None)  # restarted

    again = stream(landing, policy, "offers", out, checkpoint=ckpt, spark=spark,
                   max_files_per_trigger=1)
    assert [(b.batch_id, b.status) for b in again.batches] == [(0, "replayed"),
                                                               (1, "published")]
    first_run = json.loads((out / "batch=000000" / "part.parquet.receipt.json").read_text())
    assert again.batches[0].run_id == first_run["run_id"]
    assert sorted(p.name for p in out.iterdir()) == ["_veil_stream.json", "batch=000000",
                                                     "batch=000001"]
    pq.write_table(table, tmp_path / "all.parquet")
    batch_run = veil.run(policy, "offers", tmp_path / "all.parquet", tmp_path / "all.out.parquet")
    published = sorted(out.glob("batch=*/part.parquet"))
    assert _rows(published) == _rows([batch_run.output])
    replays = [json.loads(e.data) for e in AuditLog(ws).events()
               if json.loads(e.data)["action"] == stream_batch.REPLAYED]
    assert [(r["details"]["batch_id"], r["details"]["run_id"], r["outcome"])
            for r in replays] == [(0, first_run["run_id"], "skipped")]


def test_a_schema_change_is_one_error_naming_the_batch_and_publishes_nothing(
        ws, tmp_path: Path, spark) -> None:
    from veil.spark import stream

    table, policy = _data(tmp_path, ws)
    landing, out, ckpt = tmp_path / "landing", tmp_path / "out", tmp_path / "ckpt"
    landing.mkdir()
    pq.write_table(table.slice(0, 30), landing / "tx-0.parquet")
    assert [b.status for b in stream(landing, policy, "offers", out, checkpoint=ckpt,
                                     spark=spark).batches] == ["published"]
    renamed = table.slice(30, 30).rename_columns(
        ["customer_id", "name", *COLUMNS[2:]])
    pq.write_table(renamed, landing / "tx-1.parquet")
    with pytest.raises(InputError) as err:
        stream(landing, policy, "offers", out, checkpoint=ckpt, spark=spark)
    assert err.value.where == f"{landing}: micro-batch 1"
    assert "schema change: file tx-1.parquet lacks full_name; adds name" in err.value.message
    assert not (out / "batch=000001").exists()
    assert [p.name for p in out.glob("batch=*")] == ["batch=000000"]


def test_a_checkpoint_with_another_streams_output_is_refused(ws, tmp_path: Path,
                                                             spark) -> None:
    from veil.spark import stream

    table, policy = _data(tmp_path, ws, rows=30)
    landing = tmp_path / "landing"
    landing.mkdir()
    pq.write_table(table, landing / "tx-0.parquet")
    stream(landing, policy, "offers", tmp_path / "out", checkpoint=tmp_path / "a", spark=spark)
    with pytest.raises(InputError, match="belongs to another stream"):
        stream(landing, policy, "offers", tmp_path / "out", checkpoint=tmp_path / "b",
               spark=spark)


def _veil(*args: str, cwd: Path, env: dict[str, str] | None = None
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veil", *args], cwd=cwd, capture_output=True,
                          text=True, check=False, env={**os.environ, **(env or {})})


def test_cli_missing_source_folder_is_one_line(tmp_path: Path) -> None:
    done = _veil("spark", "stream", "landing", "-p", "sample", "--purpose",
                 "personalised_offers", "-o", "out", "--checkpoint", "ckpt", cwd=tmp_path)
    assert done.returncode != 0
    err = done.stderr.strip()
    assert "landing: source folder not found" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists() and not (tmp_path / "ckpt").exists()


def test_cli_help_has_an_example() -> None:
    done = _veil("spark", "stream", "--help", cwd=Path.cwd())
    assert done.returncode == 0
    assert "Example: veil spark stream" in done.stdout

"""The same rows from a Parquet file, a partitioned folder, a Delta table and an Iceberg table
give the same output and the same receipt, apart from the input's own fields; the receipt names
the version read (Delta version, Iceberg snapshot id, the folder's files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import veil
from veil.errors import InputError
from veil.io.readers import open_source
from veil.sample import SAMPLE_POLICY, write_sample

deltalake = pytest.importorskip("deltalake")
pytest.importorskip("pyiceberg")

#: receipt entries that differ between two runs of the same rows (ids, clocks, keys, order)
VARYING = {"run_id", "started_at", "finished_at", "expires_at", "timings_seconds", "audit",
           "seconds", "keyset", "key_id", "associated_data", "sha256", "bytes",
           "plaintext_sha256", "plaintext_bytes", "path", "timings", "lineage"}


def normalized(receipt: dict[str, Any]) -> dict[str, Any]:
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()
                    if k not in VARYING and not k.endswith("_seconds")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    r = strip(json.loads(json.dumps(receipt)))
    del r["input"]
    return r


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> pa.Table:
    path = tmp_path_factory.mktemp("lake") / "tx.csv"
    write_sample(path, 150, seed=5)
    t = pacsv.read_csv(path)
    i = t.schema.get_field_index("transaction_time")  # Iceberg keeps microseconds
    t = t.set_column(i, "transaction_time", t.column(i).cast(pa.timestamp("us", tz="UTC")))
    return t.cast(pa.schema([pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                             for f in t.schema]))  # an all-empty column: no type in Iceberg


def iceberg_table(rows: pa.Table, root: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``rows`` appended to lake.db.tx in a SQL catalog named in the workspace's veil.toml."""
    from pyiceberg.catalog import load_catalog

    warehouse = root / "warehouse"
    warehouse.mkdir()
    cfg = Path("veil.toml")  # the workspace fixture's cwd
    cfg.write_text(cfg.read_text() + '\n[iceberg.catalogs.lake]\ntype = "sql"\n'
                   f'uri = "sqlite:///{root}/catalog.db"\nwarehouse = "file://{warehouse}"\n')
    cat = load_catalog("lake", type="sql", uri=f"sqlite:///{root}/catalog.db",
                       warehouse=f"file://{warehouse}")
    cat.create_namespace("db")
    table = cat.create_table("db.tx", schema=rows.schema)
    table.append(rows)
    return "iceberg://lake.db.tx"


def test_file_folder_delta_iceberg_same_output_and_receipt(rows: pa.Table, workspace,
                                                           tmp_path: Path, monkeypatch) -> None:
    file = tmp_path / "tx.parquet"
    pq.write_table(rows, file)
    folder = tmp_path / "folder"
    ds.write_dataset(rows, folder, format="parquet", partitioning=["country"],
                     partitioning_flavor="hive")
    delta = tmp_path / "delta"
    deltalake.write_deltalake(str(delta), rows)
    deltalake.write_deltalake(str(delta), rows.slice(0, 0), mode="append")  # version 1
    refs = {"file": str(file), "folder": str(folder), "delta": f"delta://{delta}",
            "delta folder": str(delta), "iceberg": iceberg_table(rows, tmp_path, monkeypatch)}
    results = {}
    for kind, ref in refs.items():
        out = tmp_path / f"{kind.replace(' ', '_')}.parquet"
        results[kind] = veil.run(SAMPLE_POLICY, "fraud_detection", ref, out)
    base = results["file"]
    key = ["transaction_id"]
    expected = veil.read(base.output, workspace).sort_by([(k, "ascending") for k in key])
    for kind, res in results.items():
        got = veil.read(res.output, workspace).sort_by([(k, "ascending") for k in key])
        assert got.equals(expected), kind
        assert normalized(res.receipt) == normalized(base.receipt), kind
        assert res.receipt["rows"]["in"] == 150
    snaps = {k: r.receipt["input"]["snapshot"] for k, r in results.items()}
    assert snaps["file"]["kind"] == "file" and snaps["file"]["size"] == file.stat().st_size
    assert snaps["folder"]["kind"] == "folder"
    assert {f["path"].split("/")[0] for f in snaps["folder"]["files"]} == {
        f"country={c}" for c in set(rows.column("country").to_pylist())}
    assert snaps["delta"] == {"kind": "delta", "table": str(delta), "version": 1}
    assert snaps["delta folder"]["version"] == 1
    assert snaps["iceberg"]["kind"] == "iceberg" and snaps["iceberg"]["table"] == "db.tx"
    assert isinstance(snaps["iceberg"]["snapshot_id"], int)
    assert results["delta"].receipt["input"]["format"] == "delta"


def test_a_delta_table_streams_in_bounded_batches(rows: pa.Table, tmp_path: Path,
                                                  monkeypatch) -> None:
    import veil.io.readers

    monkeypatch.setattr(veil.io.readers, "BATCH_ROWS", 40)
    import veil.io.arrow_stream as arrow_stream

    monkeypatch.setattr(arrow_stream, "BATCH_ROWS", 40)
    deltalake.write_deltalake(str(tmp_path / "d"), rows)
    src = open_source(str(tmp_path / "d"))
    sizes = [b.num_rows for b in src.batches(["customer_id", "amount"],
                                             {"customer_id": "string", "amount": "float"},
                                             lambda r: None)]
    assert sum(sizes) == 150 and max(sizes) <= 40
    assert src.digest is not None


@pytest.mark.parametrize("ref, message", [
    ("delta://{tmp}/nowhere", "no readable Delta table"),
    ("iceberg://lake.db.missing", "no table 'db.missing'"),
    ("iceberg://lake.tx", "iceberg://CATALOG.NAMESPACE.TABLE"),
    ("{tmp}/empty_folder", "no Parquet files"),
])
def test_a_missing_table_is_one_clear_error_and_nothing_is_published(
        ref: str, message: str, rows: pa.Table, workspace, tmp_path: Path, monkeypatch) -> None:
    iceberg_table(rows, tmp_path, monkeypatch)
    (tmp_path / "empty_folder").mkdir()
    ref = ref.format(tmp=tmp_path)
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError) as e:
        veil.run(SAMPLE_POLICY, "fraud_detection", ref, out)
    assert message in str(e.value) and e.value.where == ref
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))


def test_delta_output_one_commit_and_refuses_an_existing_table(rows: pa.Table,
                                                               tmp_path: Path) -> None:
    from veil.io.delta_sink import write_delta

    where = f"delta://{tmp_path / 'out'}"
    desc = write_delta(where, rows.schema, rows.to_batches(max_chunksize=40))
    assert desc["version"] == 0 and desc["rows"] == 150
    assert "store's own" in desc["encryption"]["at_rest"]
    back = deltalake.DeltaTable(str(tmp_path / "out")).to_pyarrow_table()
    assert back.sort_by("transaction_id").equals(rows.sort_by("transaction_id"))
    with pytest.raises(InputError) as e:
        write_delta(where, rows.schema, rows.to_batches())
    assert e.value.where == where
    assert deltalake.DeltaTable(str(tmp_path / "out")).version() == 0  # nothing added


def test_a_failing_stream_leaves_no_delta_version(rows: pa.Table, tmp_path: Path) -> None:
    from veil.io.delta_sink import write_delta

    def broken() -> Any:
        yield rows.to_batches()[0]
        raise InputError("bad row", where="src")

    with pytest.raises(InputError):
        write_delta(str(tmp_path / "t"), rows.schema, broken())
    assert not (tmp_path / "t" / "_delta_log").is_dir() or not list(
        (tmp_path / "t" / "_delta_log").glob("*.json"))

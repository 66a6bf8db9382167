"""Parts mode with a risk gate that generalizes: decided on the driver from the merged class
counts, applied by the executors to their parts; the rows (sorted) and the receipts' risk
figures are the single-file mode's and the local engine's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install 'veil[spark]')")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17", allow_module_level=True)

import veil  # noqa: E402
from tests.spark.test_spark_run import (  # noqa: E402, F401 - ws: a fixture
    RISK_POLICY,
    _adult,
    _rows,
    ws,
)

RISK_KEYS = ("outcome", "rows", "checks_before", "checks_after", "before", "after",
             "information_loss", "suppressed_records", "quasi_identifiers", "models",
             "transformation")


def _risk(receipt: dict) -> dict:  # type: ignore[type-arg]
    r = {k: receipt["risk"][k] for k in RISK_KEYS}
    r["transformation"] = {k: v for k, v in r["transformation"].items()
                           if k != "search_seconds"}
    return r


def test_a_generalizing_gate_in_parts_mode(ws, tmp_path: Path, conformance_dir: Path,  # noqa: F811
                                           spark) -> None:
    from veil.spark import run

    people = _adult(tmp_path, conformance_dir)
    (tmp_path / "gen.yaml").write_text(RISK_POLICY)
    policy = tmp_path / "gen.yaml"
    df = spark.read.csv(str(people), header=True).repartition(3)
    local = veil.run(policy, "research", people, tmp_path / "local.parquet")
    single = run(df, policy, "research", tmp_path / "single.parquet", spark=spark)
    parts = run(df, policy, "research", tmp_path / "gen.parts", spark=spark, parts=True)

    assert local.receipt["risk"]["outcome"] == "generalized"
    assert local.receipt["risk"]["suppressed_records"] > 0  # suppression applied per part too
    assert _risk(parts.receipt) == _risk(single.receipt) == _risk(local.receipt)
    assert parts.receipt["rows"] == single.receipt["rows"] == local.receipt["rows"]
    folder = tmp_path / "gen.parts"
    assert _rows(folder) == _rows(single.output) == _rows(local.output)
    assert sorted(f.name for f in folder.iterdir()) == [
        "_manifest.json", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert not list(tmp_path.glob(".gen.parts*"))  # both temporary folders gone
    schema = veil.read(folder).schema
    assert schema.field("age").type == veil.read(local.output).schema.field("age").type


def test_spark_writes_a_delta_table_and_refuses_a_parts_uri(ws, tmp_path: Path,  # noqa: F811
                                                            conformance_dir: Path,
                                                            spark) -> None:
    """The single-file mode publishes to a URI as the local engine does (docs/sources.md)."""
    deltalake = pytest.importorskip("deltalake")
    from veil.errors import InputError
    from veil.spark import run

    people = _adult(tmp_path, conformance_dir)
    (tmp_path / "gen.yaml").write_text(RISK_POLICY)
    policy = tmp_path / "gen.yaml"
    local = veil.run(policy, "research", people, tmp_path / "local.parquet")
    table = tmp_path / "lake" / "people"
    remote = run(people, policy, "research", f"delta://{table}", spark=spark)
    assert remote.receipt["output"]["version"] == 0
    assert _risk(remote.receipt) == _risk(local.receipt)
    got = deltalake.DeltaTable(str(table)).to_pyarrow_table()
    assert sorted(map(str, got.to_pylist())) == sorted(
        map(str, veil.read(local.output).to_pylist()))
    with pytest.raises(InputError, match="parts output") as e:
        run(people, policy, "research", "s3://bucket/people/", spark=spark, parts=True)
    assert e.value.where == "s3://bucket/people/"

"""Outputs by URI (moto's S3 server on 127.0.0.1, a local Delta table): the same rows as a local
file output, the receipt naming the URI and its version, lineage and retention naming the URI;
a run that fails publishes nothing; bad URIs and unreachable stores are one clear error."""
# ruff: noqa: F811 - the fixtures shared with test_sources_objectstore are arguments here

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

import veil
from tests.io.test_sources_objectstore import BUCKET, endpoint, free_port, keys, s3, sample_csv  # noqa: F401 - fixtures
from veil.errors import InputError, RunRefused
from veil.io.writers import sha256_file
from veil.sample import SAMPLE_POLICY

PURPOSE = "fraud_detection"


@pytest.fixture
def k(tmp_path: Path) -> str:
    """A key prefix of this test's own (the S3 server is shared by the module's tests)."""
    import uuid

    return uuid.uuid4().hex[:8]


def rows(table):  # noqa: ANN001, ANN201
    return table.sort_by("transaction_id")


def download(s3, key: str, to: Path) -> Path:  # noqa: ANN001
    to.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return to


def store_refs(ws, run_id: str) -> set[str]:  # noqa: ANN001
    from veil.store.schema import lineage_outputs, retention_outputs, runs

    with ws.engine.connect() as conn:
        return {conn.execute(sa.select(t.c.output_ref).where(t.c.run_id == run_id)).scalar_one()
                for t in (retention_outputs, lineage_outputs)} | {
            conn.execute(sa.select(runs.c.output_ref).where(runs.c.id == run_id)).scalar_one()}


def test_object_output_is_the_local_output_uploaded(s3, k, sample_csv: Path, workspace,
                                                    tmp_path: Path) -> None:
    local = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), tmp_path / "local.parquet")
    uri = f"s3://{BUCKET}/{k}out/fraud.parquet"
    res = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), uri)
    assert res.output == uri and res.receipt_path == uri + ".receipt.json"
    assert keys(s3, f"{k}out/") == [f"{k}out/fraud.parquet",
                                    f"{k}out/fraud.parquet.receipt.json"]
    head = s3.head_object(Bucket=BUCKET, Key=f"{k}out/fraud.parquet")
    out = res.receipt["output"]
    assert out["path"] == uri and out["version"]["etag"] == head["ETag"].strip('"')
    assert out["encryption"]["keyset"]  # the object is the encrypted Parquet file
    got = download(s3, f"{k}out/fraud.parquet", tmp_path / "got.parquet")
    assert out["sha256"] == sha256_file(got)
    assert rows(veil.read(got, workspace)).equals(rows(veil.read(local.output, workspace)))
    assert store_refs(workspace, res.run_id) == {uri}
    assert not list((Path(workspace.root) / "staging").iterdir())  # staging removed

    with pytest.raises(RunRefused, match="the output exists") as e:
        veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), uri)
    assert e.value.where == uri
    again = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), uri, overwrite=True)
    assert again.receipt["replaces"] == [res.run_id]

    from veil.lifecycle.retention_dispose import dispose_output
    from veil.pipeline.outputs import delete_remote

    gone = dispose_output(workspace, again.run_id, reason="test: retention of a remote output")
    assert gone.file == "deleted"  # the object, through the store's API
    assert keys(s3, f"{k}out/") == [f"{k}out/fraud.parquet.receipt.json"]
    assert delete_remote(uri) == "already absent"


def test_object_folder_output(s3, k, sample_csv: Path, workspace, tmp_path: Path) -> None:
    res = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), f"s3://{BUCKET}/{k}folder/")
    assert keys(s3, f"{k}folder/") == [f"{k}folder/_receipt.json",
                                       f"{k}folder/part-00000.parquet"]
    assert res.receipt["output"]["uri"] == f"s3://{BUCKET}/{k}folder/part-00000.parquet"
    got = download(s3, f"{k}folder/part-00000.parquet", tmp_path / "p.parquet")
    assert veil.read(got, workspace).num_rows == res.rows_out


def test_delta_output_is_one_commit_per_run(sample_csv: Path, workspace,
                                            tmp_path: Path) -> None:
    deltalake = pytest.importorskip("deltalake")
    local = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), tmp_path / "local.parquet")
    table = tmp_path / "lake" / "fraud"
    res = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), f"delta://{table}")
    out = res.receipt["output"]
    assert out["format"] == "delta" and out["version"] == 0 and out["encryption"] is None
    assert "store" in out["table_encryption"]["at_rest"]
    got = deltalake.DeltaTable(str(table)).to_pyarrow_table()
    assert rows(got).equals(rows(veil.read(local.output, workspace)))
    assert Path(str(table) + ".receipt.json").is_file()
    assert store_refs(workspace, res.run_id) == {f"delta://{table}"}

    with pytest.raises(RunRefused, match="the output exists"):  # a Delta folder, by path
        veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), str(table))
    again = veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), str(table), overwrite=True)
    assert again.receipt["output"]["version"] == 1
    assert deltalake.DeltaTable(str(table)).to_pyarrow_table().num_rows == res.rows_out

    from veil.pipeline.outputs import delete_remote

    assert delete_remote(f"delta://{table}") == "deleted" and not table.exists()


def bad_csv(sample_csv: Path, tmp_path: Path) -> Path:
    """The sample with row 81's amount not a number (the sample policy fails on bad rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    t = pacsv.read_csv(sample_csv)
    amounts = [str(v) for v in t["amount"].to_pylist()]
    amounts[80] = "not a number"
    t = t.set_column(t.schema.get_field_index("amount"), "amount", pa.array(amounts))
    bad = tmp_path / "bad.csv"
    pacsv.write_csv(t, bad)
    return bad


@pytest.mark.parametrize("kind", ["object", "delta"])
def test_a_failed_run_publishes_nothing(kind: str, s3, k, sample_csv: Path, workspace,
                                        tmp_path: Path) -> None:
    uri = (f"s3://{BUCKET}/{k}fail/x.parquet" if kind == "object"
           else f"delta://{tmp_path / 'failed'}")
    with pytest.raises(InputError, match="on_bad_rows"):
        veil.run(SAMPLE_POLICY, PURPOSE, str(bad_csv(sample_csv, tmp_path)), uri)
    assert keys(s3, f"{k}fail/") == [] and not (tmp_path / "failed").exists()
    assert not list((Path(workspace.root) / "staging").iterdir())


def test_a_failure_after_the_upload_removes_the_object(s3, k, sample_csv: Path, workspace,
                                                       monkeypatch) -> None:
    import veil.pipeline.runner as runner

    def broken(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the audit log is unavailable")

    monkeypatch.setattr(runner, "record_run", broken)
    with pytest.raises(RuntimeError):
        veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), f"s3://{BUCKET}/{k}late/x.parquet")
    assert keys(s3, f"{k}late/") == []


@pytest.mark.parametrize("case", ["no credentials", "unreachable", "unknown scheme",
                                  "not parquet"])
def test_output_refusals_are_one_clear_line(case: str, s3, k, sample_csv: Path, workspace,
                                            monkeypatch) -> None:
    uri = f"s3://{BUCKET}/{k}refused/x.parquet"
    if case == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    elif case == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    elif case == "unknown scheme":
        uri = "ftp://host/x.parquet"
    else:
        uri = f"s3://{BUCKET}/{k}refused/x.csv"
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    with pytest.raises(InputError) as e:
        veil.run(SAMPLE_POLICY, PURPOSE, str(sample_csv), uri)
    assert e.value.where == uri and "\n" not in str(e.value)
    assert {"no credentials": "no credentials", "unreachable": "unreachable",
            "unknown scheme": "unknown output URI", "not parquet": ".parquet"}[case] in str(e.value)
    assert not list((Path(workspace.root) / "staging").glob("*"))


def test_the_cli_says_one_line_naming_the_output(sample_csv: Path, workspace, capsys) -> None:
    from veil.cli.main import main

    rc = main(["run", "--policy", str(SAMPLE_POLICY), "--purpose", PURPOSE, str(sample_csv),
               "-o", "ftp://host/out.parquet"])
    err = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert rc != 0 and len(err) == 1, err
    assert "ftp://host/out.parquet" in err[0] and "unknown output URI" in err[0]

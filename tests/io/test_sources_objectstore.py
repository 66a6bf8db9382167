"""Inputs from an S3 endpoint (moto's server on 127.0.0.1): a CSV object, a Parquet folder and a
Delta table read as the local copies are, the receipt naming the objects' ETags; no credentials
or an unreachable endpoint is one clear error naming the URI, and nothing is published."""

from __future__ import annotations

import json
import socket
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as ds
import pytest

import veil
from veil.errors import InputError
from veil.sample import SAMPLE_POLICY, write_sample

pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")

BUCKET = "veil-in"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(),
                                            verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
                 "AWS_EC2_METADATA_DISABLED": "true",
                 "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                 "AWS_CONFIG_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    client = boto3.client("s3", endpoint_url=endpoint)
    try:
        client.create_bucket(Bucket=BUCKET)
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()  # credentials change between tests
    return client


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("s3") / "tx.csv"
    write_sample(path, 120, seed=7)
    return path


def without_input(receipt: dict[str, Any], folder: Path) -> dict[str, Any]:
    skip = {"run_id", "started_at", "finished_at", "expires_at", "timings", "audit", "keyset",
            "key_id", "associated_data", "sha256", "bytes", "plaintext_sha256",
            "plaintext_bytes", "path", "lineage", "seconds"}

    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()
                    if k not in skip and not k.endswith("_seconds")}
        return [strip(v) for v in x] if isinstance(x, list) else x

    r = strip(json.loads(json.dumps(receipt).replace(str(folder), "<folder>")))
    del r["input"]
    return r


def test_csv_object_and_parquet_folder_read_as_local_files(s3, sample_csv: Path, workspace,
                                                           tmp_path: Path) -> None:
    s3.upload_file(str(sample_csv), BUCKET, "in/tx.csv")
    etag = s3.head_object(Bucket=BUCKET, Key="in/tx.csv")["ETag"].strip('"')
    rows = pacsv.read_csv(sample_csv)
    local_folder = tmp_path / "ds"
    ds.write_dataset(rows, local_folder, format="parquet", partitioning=["channel"],
                     partitioning_flavor="hive")
    for f in sorted(local_folder.rglob("*.parquet")):
        s3.upload_file(str(f), BUCKET, f"ds/{f.relative_to(local_folder).as_posix()}")
    s3.put_object(Bucket=BUCKET, Key="ds/_SUCCESS", Body=b"")

    runs = {}
    for kind, ref in {"local": str(sample_csv), "s3": f"s3://{BUCKET}/in/tx.csv",
                      "local folder": str(local_folder), "s3 folder": f"s3://{BUCKET}/ds/"
                      }.items():
        out = tmp_path / f"{kind.replace(' ', '_')}.parquet"
        runs[kind] = veil.run(SAMPLE_POLICY, "fraud_detection", ref, out)
    local, remote = runs["local"].receipt, runs["s3"].receipt
    assert remote["input"]["sha256"] == local["input"]["sha256"]  # the same bytes were read
    assert remote["input"]["snapshot"]["etag"] == etag
    assert remote["input"]["snapshot"]["size"] == sample_csv.stat().st_size
    expected = veil.read(runs["local"].output, workspace).sort_by("transaction_id")
    for kind, res in runs.items():
        got = veil.read(res.output, workspace).sort_by("transaction_id")
        assert got.equals(expected), kind
        assert without_input(res.receipt, tmp_path) == without_input(local, tmp_path), kind
    files = runs["s3 folder"].receipt["input"]["snapshot"]["files"]
    assert [f["key"] for f in files] == sorted(
        f.relative_to(local_folder).as_posix() for f in local_folder.rglob("*.parquet"))
    assert all(f["etag"] for f in files)
    assert not list(Path(tempfile.gettempdir()).glob(".veil-object-*.csv"))  # copy gone


def test_delta_table_in_s3(s3, sample_csv: Path, workspace, tmp_path: Path) -> None:
    deltalake = pytest.importorskip("deltalake")
    rows = pacsv.read_csv(sample_csv)
    local = tmp_path / "delta"
    deltalake.write_deltalake(str(local), rows)
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        s3.upload_file(str(f), BUCKET, f"delta/{f.relative_to(local).as_posix()}")
    one = veil.run(SAMPLE_POLICY, "fraud_detection", str(local), tmp_path / "a.parquet")
    two = veil.run(SAMPLE_POLICY, "fraud_detection", f"delta://s3://{BUCKET}/delta",
                   tmp_path / "b.parquet")
    assert two.receipt["input"]["snapshot"]["version"] == 0
    assert veil.read(one.output, workspace).equals(veil.read(two.output, workspace))


@pytest.mark.parametrize("case", ["no credentials", "unreachable", "missing object"])
def test_store_refusals_are_one_clear_error(case: str, s3, sample_csv: Path, workspace,
                                            tmp_path: Path, monkeypatch) -> None:
    uri = f"s3://{BUCKET}/in/tx.csv"
    s3.upload_file(str(sample_csv), BUCKET, "in/tx.csv")
    if case == "no credentials":
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    elif case == "unreachable":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # refused at once, not after back-off
    else:
        uri = f"s3://{BUCKET}/in/nothing.csv"
    import fsspec

    fsspec.filesystem("s3").clear_instance_cache()
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError) as e:
        veil.run(SAMPLE_POLICY, "fraud_detection", uri, out)
    assert e.value.where == uri
    assert {"no credentials": "no credentials", "unreachable": "unreachable",
            "missing object": "no such object"}[case] in str(e.value)
    assert not out.exists() and not list(tmp_path.glob(".out.parquet*"))


def test_an_object_replaced_after_its_snapshot_is_refused(s3, sample_csv: Path,
                                                          tmp_path: Path) -> None:
    from veil.io.readers import open_source

    s3.upload_file(str(sample_csv), BUCKET, "in/moving.csv")
    src = open_source(f"s3://{BUCKET}/in/moving.csv")  # snapshot taken here
    s3.put_object(Bucket=BUCKET, Key="in/moving.csv", Body=b"a,b\n1,2\n")
    with pytest.raises(InputError, match="changed while it was being read"):
        src.header()
    assert not list(Path(tempfile.gettempdir()).glob(".veil-object-*.csv"))


def keys(s3, prefix: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_publish_object_is_whole_or_absent(s3, tmp_path: Path, monkeypatch) -> None:
    import veil.io.object_publish as op

    local = tmp_path / "out.parquet"
    local.write_bytes(b"x" * 100_000)
    snap = op.publish_object(local, f"s3://{BUCKET}/out/run.parquet")
    body = s3.get_object(Bucket=BUCKET, Key="out/run.parquet")["Body"].read()
    assert body == local.read_bytes() and snap["size"] == 100_000 and snap["etag"]
    assert keys(s3, "out/") == ["out/run.parquet"]  # no temporary key left

    real = op.filesystem

    class Failing:
        def __init__(self, fs: Any) -> None:
            self._fs = fs

        def __getattr__(self, name: str) -> Any:
            return getattr(self._fs, name)

        def copy(self, *a: Any, **k: Any) -> None:
            raise ConnectionError("lost the store mid-publish")

    monkeypatch.setattr(op, "filesystem", lambda uri: (Failing(real(uri)[0]), real(uri)[1]))
    local.write_bytes(b"y" * 10)
    with pytest.raises(InputError, match="unreachable") as e:
        op.publish_object(local, f"s3://{BUCKET}/out/run.parquet")
    assert e.value.where == f"s3://{BUCKET}/out/run.parquet"
    assert keys(s3, "out/") == ["out/run.parquet"]  # the old object untouched, temp removed
    assert s3.get_object(Bucket=BUCKET, Key="out/run.parquet")["Body"].read() == body


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_parquet_and_json_lines_objects_read_as_the_local_file(suffix: str, s3, sample_csv: Path,
                                                               tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from veil.io.readers import open_source

    table = pacsv.read_csv(sample_csv).select(["customer_id", "amount", "channel"])
    local = tmp_path / f"tx.{suffix}"
    if suffix == "parquet":
        pq.write_table(table, local)
    else:
        local.write_text("".join(json.dumps(r) + "\n" for r in table.to_pylist()))
    s3.upload_file(str(local), BUCKET, f"in/tx.{suffix}")
    types = {"customer_id": "string", "amount": "float", "channel": "string"}
    read = {}
    for ref in (str(local), f"s3://{BUCKET}/in/tx.{suffix}"):
        src = open_source(ref)
        batches = list(src.batches(list(types), types, lambda r: None))
        read[ref] = (pa.Table.from_batches(batches), src.digest, src.format, src.header())
    (t1, d1, f1, h1), (t2, d2, f2, h2) = read.values()
    assert t1.num_rows == 120 and t1.equals(t2) and d1 == d2 and f1 == f2 and h1 == h2

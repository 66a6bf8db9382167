"""Run outputs encrypted at rest: ParquetSink through an EncryptingWriter, read back with
`veil.keys.read`, by tink-py too, and nothing published when anything fails."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from veil.crypto.aead import InMemoryKeyProvider
from veil.crypto.errors import (
    CryptoError,
    KeyMissingError,
    KeysetError,
    NotCiphertextError,
    WrongKeyError,
)
from veil.crypto.keyset import Keyset
from veil.io.writers import ParquetSink
from veil.kek.providers import EnvKEK
from veil.keys.files import (
    FORMAT,
    OutputEncryption,
    output_encryption,
    read,
    run_associated_data,
    sniff,
)
from veil.keys.manager import KeyManager


def _table(n: int) -> pa.Table:
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        # pseudonyms are high-entropy: the file does not compress away below a few segments
        "name": pa.array([f"pseudo-{i:07d}-{hashlib.sha1(b'%d' % i).hexdigest()[:16]}"
                          for i in range(n)]),
        "amount": pa.array([i * 0.25 for i in range(n)]),
    })


def _write(path: Path, table: pa.Table, enc: OutputEncryption | None) -> ParquetSink:
    sink = ParquetSink(path, table.schema, encryption=enc)
    for b in table.to_batches(max_chunksize=70_000):
        sink.write(b)
    sink.commit()
    return sink


@pytest.mark.parametrize("rows", [0, 1, 300_000])
def test_encrypted_output_round_trip(tmp_path: Path, rows: int) -> None:
    ks = Keyset.generate("streaming")
    enc = OutputEncryption(ks, "output", run_associated_data("run-1"))
    table = _table(rows)
    out = tmp_path / "out.parquet"
    sink = _write(out, table, enc)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]  # no temp file left
    raw = out.read_bytes()
    assert sniff(out) == "tink-streaming" and b"PAR1" not in raw
    if rows:
        assert b"pseudo-0000001" not in raw  # no plaintext on disk
    info = sink.encryption_info
    assert info is not None and info["format"] == FORMAT
    assert info["keyset"] == "output" and info["key_id"] == ks.primary_key_id
    assert info["associated_data"] == "veil:run-output:v1:run-1"
    assert info["segment_size"] == 1 << 20
    assert sink.bytes == len(raw) and sink.rows == rows
    assert sink.digest == hashlib.sha256(raw).hexdigest()  # the ciphertext's digest
    provider = InMemoryKeyProvider({"output": ks})
    back = read(out, provider=provider, associated_data=info["associated_data"])
    assert back.equals(table)
    assert read(out, provider=provider, associated_data=b"veil:run-output:v1:run-1",
                columns=["id"]).column_names == ["id"]
    with pytest.raises(WrongKeyError):
        read(out, provider=provider, associated_data="veil:run-output:v1:run-2")


def test_plain_output_unchanged_and_read_passes_it_through(tmp_path: Path) -> None:
    table = _table(1000)
    sink = _write(tmp_path / "plain.parquet", table, None)
    assert sink.encryption_info is None
    assert pq.read_table(tmp_path / "plain.parquet").equals(table)
    assert read(tmp_path / "plain.parquet", provider=InMemoryKeyProvider()).equals(table)


def test_failures_publish_nothing(tmp_path: Path) -> None:
    ks = Keyset.generate("streaming")
    enc = OutputEncryption(ks, "output", b"ad")
    out = tmp_path / "o.parquet"
    out.write_bytes(b"previous")
    sink = ParquetSink(out, _table(1).schema, encryption=enc)
    sink.write(_table(10).to_batches()[0])
    sink.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.parquet"]
    assert out.read_bytes() == b"previous"
    with pytest.raises(RuntimeError), ParquetSink(out, _table(1).schema, encryption=enc) as s:
        s.write(_table(200_000).to_batches()[0])
        raise RuntimeError("stage failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.parquet"]
    with pytest.raises(KeysetError, match="streaming"):
        OutputEncryption(Keyset.generate("aead"), "fields", b"")


def test_output_encryption_from_the_workspace_and_read_via_receipt_or_store(
    workspace: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEIL_KEK", raising=False)
    with pytest.raises(KeyMissingError, match="veil keys init.*at_rest: false"):
        output_encryption(workspace, "run-41")
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())  # the workspace's KEK (no [keys])
    km = KeyManager(workspace)
    enc = output_encryption(workspace, "run-42")  # creates the 'output' keyset on first use
    assert km.info("output").kind == "streaming"
    assert enc.associated_data == b"veil:run-output:v1:run-42"
    table = _table(5000)
    out = tmp_path / "o.parquet"
    sink = _write(out, table, enc)
    # The lead's receipt puts sink.encryption_info under output.encryption.
    receipt = out.with_name(out.name + ".receipt.json")
    receipt.write_text(json.dumps({"output": {"sha256": sink.digest,
                                              "encryption": sink.encryption_info}}))
    assert read(out, workspace).equals(table)  # the workspace's own KeyManager
    # Without the receipt file: found in the store's runs table by the file's digest.
    receipt.unlink()
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from veil.store.schema import runs

    with workspace.engine.begin() as conn:
        conn.execute(runs.insert().values(
            id="r" * 32, started_at=datetime.now(UTC), status="succeeded", actor="t",
            purpose="p", dataset="d", policy_path="x", policy_digest="0" * 64, input_ref="i",
            output_ref=str(out), output_digest=sink.digest,
            receipt={"output": {"encryption": sink.encryption_info}}))
        assert conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar() == 1
    assert read(out, workspace, provider=km).equals(table)
    # Nothing recorded and no associated data given: the empty one is tried and refused.
    moved = tmp_path / "moved.parquet"
    moved.write_bytes(out.read_bytes())
    with workspace.engine.begin() as conn:
        conn.execute(runs.delete())
    with pytest.raises(WrongKeyError):
        read(moved, workspace, provider=km)
    # A rotated keyset still reads the file (the old key stays for decryption).
    km.rotate("output")
    assert read(moved, workspace, provider=km,
                associated_data=sink.encryption_info["associated_data"]).equals(table)  # type: ignore[index]
    (tmp_path / "junk").write_bytes(b"\x07junk")
    with pytest.raises(NotCiphertextError):
        read(tmp_path / "junk", workspace, provider=km)


def test_tink_reads_the_encrypted_output(tink: Any, token: Any, tmp_path: Path) -> None:
    from tink import streaming_aead

    ks = Keyset.generate("streaming").rotate()  # two keys, as after a rotation
    enc = OutputEncryption(ks, "output", run_associated_data("abc"))
    table = _table(200_000)
    out = tmp_path / "o.parquet"
    _write(out, table, enc)
    sa = tink.proto_keyset_format.parse(ks.to_binary(), token).primitive(
        streaming_aead.StreamingAead)
    with open(out, "rb") as f, sa.new_decrypting_stream(f, b"veil:run-output:v1:abc") as ds:
        plain = ds.read()
    assert pq.read_table(pa.BufferReader(plain)).equals(table)


def test_tampered_output_is_refused(tmp_path: Path) -> None:
    ks = Keyset.generate("streaming")
    enc = OutputEncryption(ks, "output", b"ad")
    out = tmp_path / "o.parquet"
    _write(out, _table(300_000), enc)
    data = bytearray(out.read_bytes())
    assert len(data) > 2 << 20  # several segments
    provider = InMemoryKeyProvider({"output": ks})
    for pos in (len(data) // 2, len(data) - 1):
        bad = bytearray(data)
        bad[pos] ^= 1
        out.write_bytes(bytes(bad))
        with pytest.raises(CryptoError):
            read(out, provider=provider, associated_data=b"ad")
    out.write_bytes(bytes(data[: 1 << 20]))  # truncated at a segment boundary
    with pytest.raises(CryptoError):
        read(out, provider=provider, associated_data=b"ad")
    os.unlink(out)

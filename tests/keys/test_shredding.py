"""Crypto-shredding through the store: per-subject keys in ``subject_keys`` on SQLite and
PostgreSQL; erasure removes the wrapped key, other subjects are untouched, other processes'
caches notice."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veil.crypto.errors import CryptoError, ErasedError, KeyMissingError, TamperedError
from veil.keys.keystore import SqlSubjectKeyStore
from veil.keys.manager import KeyManager
from veil.keys.subject_keys import TOMBSTONE
from veil.store.schema import subject_keys

SUBJECTS = [f"p-{i:04d}" for i in range(40)]


def _rows(ws: Any) -> dict[str, Any]:
    with ws.engine.connect() as conn:
        return {r.subject: r for r in conn.execute(sa.select(subject_keys))}


def test_shred_through_the_store(km: KeyManager, workspace: Any) -> None:
    sk = km.subject_keys()
    subjects = [SUBJECTS[i % 10] for i in range(100)]
    vals = [os.urandom(i % 13) for i in range(100)]
    cts = sk.encrypt_many(subjects, vals, b"accounts")  # keys made in bulk
    single = sk.encrypt("p-0099", b"alone", b"accounts")  # and one by one
    rows = _rows(workspace)
    assert len(rows) == 11 and all(r.wrapped_key and r.epoch == 1 for r in rows.values())

    assert km.shred_subjects(["p-0003", "p-0099"]) == {"p-0003", "p-0099"}
    rows = _rows(workspace)
    for s in ("p-0003", "p-0099"):
        assert rows[s].wrapped_key is None and rows[s].erased_at is not None  # blob gone
    assert sum(r.wrapped_key is not None for r in rows.values()) == 9

    # A fresh process (no cache) cannot decrypt the erased subjects; every other one decrypts.
    fresh = KeyManager(workspace, kek=km.kek).subject_keys()
    with pytest.raises(ErasedError, match="erased"):
        fresh.decrypt("p-0099", single, b"accounts")
    with pytest.raises(ErasedError, match="erased"):
        fresh.decrypt_many(subjects, cts, b"accounts")
    got = fresh.decrypt_many(subjects, cts, b"accounts", erased=None)
    assert got == [None if s == "p-0003" else v for s, v in zip(subjects, vals, strict=True)]
    assert fresh.is_erased("p-0003") and not fresh.has_key("p-0003") and fresh.has_key("p-0004")
    with pytest.raises(ErasedError):  # no silent new key for an erased subject
        fresh.encrypt("p-0003", b"new")
    with pytest.raises(ErasedError):
        fresh.encrypt_many(["p-0001", "p-0003"], [b"a", b"b"])
    with pytest.raises(KeyMissingError):
        fresh.decrypt("never-seen", single)

    # A returning customer gets a new key on request; it does not open the old records.
    assert fresh.create("p-0003", recreate_erased=True) is True
    with pytest.raises(TamperedError):
        fresh.decrypt(subjects[3], cts[3], b"accounts")
    assert fresh.decrypt(subjects[3], fresh.encrypt("p-0003", b"v2"), b"") == b"v2"
    # Erasing a subject that was never seen leaves a tombstone (no key made for it later).
    assert fresh.shred("unknown-1") is False
    assert fresh.store.get("unknown-1") == TOMBSTONE
    with pytest.raises(ErasedError):
        fresh.encrypt("unknown-1", b"x")


def test_other_process_cache_notices_erasure(km: KeyManager, workspace: Any) -> None:
    writer = km.subject_keys(sync_interval=None)  # never syncs by itself
    reader = KeyManager(workspace, kek=km.kek).subject_keys(sync_interval=0.05)
    ct = writer.encrypt("p-1", b"secret", b"")
    ct2 = writer.encrypt("p-2", b"other", b"")
    assert reader.decrypt("p-1", ct) == b"secret"  # now cached in the reader
    eraser = KeyManager(workspace, kek=km.kek)
    eraser.shred_subjects(["p-1"])
    assert writer.decrypt("p-1", ct) == b"secret"  # stale cache without sync ...
    assert "p-1" in writer.sync()  # ... until it asks the store
    with pytest.raises(ErasedError):
        writer.decrypt("p-1", ct)
    time.sleep(0.1)
    with pytest.raises(ErasedError):  # the reader synced on its own
        reader.decrypt("p-1", ct)
    assert reader.decrypt("p-2", ct2) == b"other"
    # forget() drops one subject immediately.
    other = KeyManager(workspace, kek=km.kek).subject_keys(sync_interval=None)
    assert other.decrypt("p-2", ct2) == b"other"
    eraser.shred_subjects(["p-2"])
    other.forget("p-2")
    with pytest.raises(ErasedError):
        other.decrypt("p-2", ct2)


def test_concurrent_creation_keeps_the_first_key(km: KeyManager, workspace: Any) -> None:
    a = km.subject_keys()
    b = KeyManager(workspace, kek=km.kek).subject_keys()
    ct = a.encrypt("p-9", b"from a")
    # b never looked p-9 up: creating it again must not replace a's key.
    assert b.create("p-9") is False
    assert b.decrypt("p-9", ct) == b"from a"
    store = SqlSubjectKeyStore(workspace.engine, km.kek.kek_id)
    with pytest.raises(CryptoError, match="already has a key"):
        store["p-9"] = b"\x00" * 60
    assert b.encrypt_many(["p-9", "p-10"], [b"1", b"2"]) and a.decrypt("p-9", ct) == b"from a"


def test_bulk_paths_beyond_cache_and_chunk_sizes(km: KeyManager) -> None:
    sk = km.subject_keys(cache_size=50)
    subjects = [f"s{i}" for i in range(1200)]  # more than a query chunk and the cache
    vals = [s.encode() for s in subjects]
    cts = sk.encrypt_many(subjects, vals)
    again = km.subject_keys(cache_size=50)
    assert again.decrypt_many(subjects, cts) == vals
    assert sk.shred_many(subjects[::2]) == set(subjects[::2])
    out = km.subject_keys(cache_size=2000).decrypt_many(subjects, cts, erased=None)
    assert out == [None if i % 2 == 0 else v for i, v in enumerate(vals)]


def test_sqlite_erasure_leaves_no_key_bytes_in_the_files(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """secure_delete + a WAL checkpoint: the erased wrapped key is in neither the database file
    nor its WAL afterwards (it was in them before)."""
    from veil.kek.providers import StaticKEK
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    ws, _ = init_workspace(tmp_path / "ws")
    try:
        km = KeyManager(ws, kek=StaticKEK(os.urandom(32)))
        sk = km.subject_keys()
        sk.encrypt_many([f"keep-{i}" for i in range(200)], [b"x"] * 200)
        sk.encrypt("victim", b"x")
        blob = _rows(ws)["victim"].wrapped_key
        db = Path(ws.root) / "veil.db"
        wal = db.with_name("veil.db-wal")

        def on_disk() -> bytes:
            return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

        assert blob in on_disk()
        assert km.shred_subjects(["victim"]) == {"victim"}
        assert blob not in on_disk()
        survivors = _rows(ws)
        assert all(survivors[f"keep-{i}"].wrapped_key in on_disk() for i in (0, 100, 199))
    finally:
        ws.close()

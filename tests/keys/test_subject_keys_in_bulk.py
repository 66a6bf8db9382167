"""Subject keys in bulk (`StoreSubjectKeys.keys_for`, `encrypt_many`, `decrypt_many`,
`encrypt_many_in`) on SQLite and PostgreSQL: what bulk seals opens one at a time and back, new
keys are made in one transaction, erased subjects are never silently re-keyed, concurrent
creators converge on one key, and the cache stays bounded."""

from __future__ import annotations

import gc
import os
import threading
from typing import Any

import pytest
import sqlalchemy as sa

from veil.crypto.errors import ErasedError, KeyMissingError, TamperedError
from veil.keys.manager import KeyManager
from veil.keys.subject_keys_bulk import gc_paused
from veil.store.schema import subject_keys


def _live(ws: Any) -> dict[str, bytes]:
    with ws.engine.connect() as conn:
        return {
            r.subject: bytes(r.wrapped_key)
            for r in conn.execute(sa.select(subject_keys))
            if r.wrapped_key is not None
        }


def _commits(engine: sa.Engine) -> list[int]:
    """A counter of the engine's committed transactions (its first item)."""
    n = [0]
    sa.event.listen(engine, "commit", lambda _conn: n.__setitem__(0, n[0] + 1))
    return n


def test_bulk_and_one_at_a_time_open_each_others_records(km: KeyManager) -> None:
    bulk = km.subject_keys(cache_size=64)
    subjects = [f"b-{i % 300}" for i in range(900)]  # repeats, more than the cache
    vals = [os.urandom(i % 40) for i in range(900)]
    sealed = bulk.encrypt_many(subjects, vals, b"ctx")
    single = KeyManager(km.workspace, kek=km.kek).subject_keys(cache_size=8)
    assert [single.decrypt(s, c, b"ctx") for s, c in zip(subjects, sealed, strict=True)] == vals
    one_by_one = [single.encrypt(s, v, b"ctx") for s, v in zip(subjects, vals, strict=True)]
    fresh = KeyManager(km.workspace, kek=km.kek).subject_keys()
    assert fresh.decrypt_many(subjects, one_by_one, b"ctx") == vals
    assert fresh.decrypt_many(subjects, sealed, b"ctx") == vals
    with pytest.raises(TamperedError, match="record 1"):  # the wrong context opens nothing
        fresh.decrypt_many(subjects[:3], [sealed[0], sealed[0], sealed[2]], b"ctx")
    assert len(_live(km.workspace)) == 300


def test_new_keys_of_a_batch_are_stored_in_one_transaction(km: KeyManager) -> None:
    sk = km.subject_keys(cache_size=10)
    sk.prepare()
    commits = _commits(km.workspace.engine)
    subjects = [f"n-{i}" for i in range(2_000)]  # four query chunks, 200 cache windows
    sk.encrypt_many(subjects, [b"v"] * len(subjects))
    assert commits[0] == 1
    assert len(_live(km.workspace)) == 2_000 and len(sk._cache) <= 10
    sk.encrypt_many(subjects, [b"w"] * len(subjects))  # all known: the insert adds nothing
    assert len(_live(km.workspace)) == 2_000 and sk._new_share == 0.0
    writes = commits[0]
    assert sk.decrypt_many(subjects, sk.encrypt_many(subjects, [b"x"] * 2_000)) == [b"x"] * 2_000
    assert commits[0] == writes  # looked first this time: nothing to write


def test_erased_subjects_are_not_rekeyed_and_read_as_erased(km: KeyManager) -> None:
    sk = km.subject_keys()
    subjects = ["e-1", "e-2", "e-3"]
    sealed = sk.encrypt_many(subjects, [b"1", b"2", b"3"])
    assert sk.shred_many(["e-2"]) == {"e-2"}
    before = _live(km.workspace)
    fresh = KeyManager(km.workspace, kek=km.kek).subject_keys()
    with pytest.raises(ErasedError, match="e-2"):  # refused before any key is made
        fresh.encrypt_many(["new-1", "e-2", "new-2"], [b"a", b"b", b"c"])
    assert _live(km.workspace) == before
    assert fresh.decrypt_many(subjects, sealed, erased=None) == [b"1", None, b"3"]
    with pytest.raises(ErasedError, match="e-2"):
        fresh.decrypt_many(subjects, sealed)
    with pytest.raises(KeyMissingError, match="never"):
        fresh.decrypt_many(["e-1", "never"], [sealed[0], sealed[0]])
    assert fresh.create("e-2", recreate_erased=True) is True  # only on request
    assert fresh.decrypt_many(["e-2"], fresh.encrypt_many(["e-2"], [b"back"])) == [b"back"]


def test_a_tombstone_written_meanwhile_stops_creation(km: KeyManager, monkeypatch) -> None:
    sk = km.subject_keys()
    other = KeyManager(km.workspace, kek=km.kek).subject_keys()
    real = sk.store.read_in
    calls = [0]

    def read_in(conn: Any, subjects: Any) -> Any:
        calls[0] += 1
        found = real(conn, subjects)
        if calls[0] == 1:  # after the first look, before the write transaction's own
            other.shred_many(["t-2"])
        return found

    monkeypatch.setattr(sk.store, "read_in", read_in)
    before = _live(km.workspace)
    with pytest.raises(ErasedError, match="t-2"):
        sk.encrypt_many(["t-1", "t-2"], [b"a", b"b"])
    assert _live(km.workspace) == before  # the transaction stored nothing


def test_concurrent_creators_converge_on_one_key(km: KeyManager) -> None:
    """Two threads, each with its own engine (its own connections), make the same new
    subjects' keys at once: one key per subject, and each side opens the other's records."""
    from veil.store.db import create_engine

    url = km.workspace.engine.url.render_as_string(hide_password=False)
    subjects = [f"c-{i}" for i in range(600)]
    sides = [KeyManager(km.workspace, kek=km.kek).subject_keys() for _ in range(2)]
    engines = [create_engine(url) for _ in sides]
    for side, eng in zip(sides, engines, strict=True):
        side.store.engine = eng
    start = threading.Barrier(2)
    out: list[Any] = [None, None]

    def work(k: int) -> None:
        start.wait()
        try:
            out[k] = sides[k].encrypt_many(subjects, [f"{k}:{s}".encode() for s in subjects])
        except Exception as exc:  # pragma: no cover - reported below
            out[k] = exc

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    assert not any(isinstance(o, Exception) for o in out), out
    assert len(_live(km.workspace)) == len(subjects)
    fresh = KeyManager(km.workspace, kek=km.kek).subject_keys()
    for k in range(2):
        assert fresh.decrypt_many(subjects, out[k]) == [f"{k}:{s}".encode() for s in subjects]


def test_keys_made_in_a_rolled_back_transaction_are_never_used(km: KeyManager) -> None:
    from veil.store.transactions import write_transaction

    sk = km.subject_keys()
    sk.prepare()
    with pytest.raises(RuntimeError), write_transaction(km.workspace.engine, "test") as conn:
        if not conn.in_transaction():
            conn.begin()
        sealed = sk.encrypt_many_in(conn, ["r-1", "r-2"], [b"a", b"b"])
        raise RuntimeError("the caller fails after sealing")
    assert "r-1" not in _live(km.workspace) and "r-1" not in sk._cache
    with pytest.raises(KeyMissingError):
        sk.decrypt_many(["r-1"], sealed[:1])
    again = sk.encrypt_many(["r-1"], [b"c"])  # a new key, which opens only its own record
    with pytest.raises(TamperedError):
        sk.decrypt_many(["r-1"], sealed[:1])
    assert sk.decrypt_many(["r-1"], again) == [b"c"]


def test_gc_pause_nests_and_restores() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_after_new_subjects_known_and_erased_ones_are_still_found(km: KeyManager) -> None:
    """Once a batch was mostly new subjects the next one inserts before it looks: a known
    subject keeps its key, an erased one is refused and nothing of that batch is stored."""
    sk = km.subject_keys(cache_size=4)
    old = sk.encrypt_many(["k-1", "k-2", "k-3"], [b"1", b"2", b"3"])
    sk.shred_many(["k-3"])
    sk.encrypt_many([f"m-{i}" for i in range(20)], [b"m"] * 20)  # all new: insert first
    assert sk._new_share > 0.5
    sk.clear_cache()
    before = _live(km.workspace)
    with pytest.raises(ErasedError, match="k-3"):
        sk.encrypt_many(["k-1", "z-1", "k-3"], [b"a", b"b", b"c"])
    assert _live(km.workspace) == before
    sealed = sk.encrypt_many(["k-1", "z-1", "k-2"], [b"a", b"b", b"c"])
    assert sk._new_share < 0.5  # two of three known: looks first next time
    fresh = KeyManager(km.workspace, kek=km.kek).subject_keys()
    assert fresh.decrypt_many(["k-1", "k-2"], old[:2]) == [b"1", b"2"]
    assert fresh.decrypt_many(["k-1", "z-1", "k-2"], sealed) == [b"a", b"b", b"c"]

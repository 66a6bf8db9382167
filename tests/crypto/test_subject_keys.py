"""Crypto-shredding: per-subject keys wrapped under the KEK; shred -> ErasedError."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.crypto.errors import ErasedError, KeyMissingError, TamperedError, WrongKeyError
from veil.kek.providers import StaticKEK
from veil.keys.subject_keys import TOMBSTONE, InMemoryKeyStore, SubjectKeys

KEK = StaticKEK(bytes(range(32)))


def test_shred_erases_one_subject_only() -> None:
    store = InMemoryKeyStore()
    sk = SubjectKeys(KEK, store)
    recs = {s: sk.encrypt(s, f"balance of {s}".encode(), b"accounts") for s in ("p1", "p2", "p3")}
    assert sk.shred("p2") is True
    with pytest.raises(ErasedError, match="erased"):
        sk.decrypt("p2", recs["p2"], b"accounts")
    assert sk.decrypt("p1", recs["p1"], b"accounts") == b"balance of p1"
    assert sk.decrypt("p3", recs["p3"], b"accounts") == b"balance of p3"
    assert sk.is_erased("p2") and not sk.has_key("p2") and sk.has_key("p1")
    assert store["p2"] == TOMBSTONE
    # A fresh manager over the same store (no cache) agrees: the key is gone, not just evicted.
    fresh = SubjectKeys(KEK, store)
    with pytest.raises(ErasedError):
        fresh.decrypt("p2", recs["p2"], b"accounts")
    assert fresh.decrypt("p1", recs["p1"], b"accounts") == b"balance of p1"
    # No silent new key for an erased subject.
    with pytest.raises(ErasedError):
        sk.encrypt("p2", b"new data")
    assert sk.create("p2", recreate_erased=True) is True
    with pytest.raises(TamperedError):  # the new key does not open the old records
        sk.decrypt("p2", recs["p2"], b"accounts")
    assert sk.shred("p2") is True and sk.shred("p2") is False


def test_batch_paths_and_erased_placeholder() -> None:
    sk = SubjectKeys(KEK, cache_size=2)  # smaller than the number of subjects
    subjects = [f"p{i % 5}" for i in range(50)]
    vals = [os.urandom(i % 7) for i in range(50)]
    ct = sk.encrypt_many(subjects, vals, b"tx")
    assert sk.decrypt_many(subjects, ct, b"tx") == vals
    assert [sk.decrypt(s, c, b"tx") for s, c in zip(subjects, ct)] == vals
    sk.shred("p3")
    with pytest.raises(ErasedError):
        sk.decrypt_many(subjects, ct, b"tx")
    out = sk.decrypt_many(subjects, ct, b"tx", erased=None)
    assert out == [None if s == "p3" else v for s, v in zip(subjects, vals)]
    with pytest.raises(TamperedError):
        sk.decrypt_many(subjects, ct, b"other ad", erased=None)
    with pytest.raises(ValueError):
        sk.encrypt_many(["p1"], [b"a", b"b"])


def test_records_and_wrapped_keys_are_bound_to_their_subject() -> None:
    store = InMemoryKeyStore()
    sk = SubjectKeys(KEK, store)
    c1 = sk.encrypt("alice-pseudo", b"x")
    sk.encrypt("bob-pseudo", b"y")
    with pytest.raises(TamperedError):
        sk.decrypt("bob-pseudo", c1)
    # Moving a wrapped key to another subject's row is detected on unwrap.
    store["bob-pseudo"] = store["alice-pseudo"]
    sk.clear_cache()
    with pytest.raises(WrongKeyError):
        sk.decrypt("bob-pseudo", c1)
    # Keys are random: the same subject in another store gets a different key.
    other = SubjectKeys(KEK)
    with pytest.raises(TamperedError):
        other.create("alice-pseudo")
        other.decrypt("alice-pseudo", c1)
    with pytest.raises(KeyMissingError):
        SubjectKeys(KEK).decrypt("nobody", c1)
    with pytest.raises(WrongKeyError):  # wrong KEK cannot unwrap
        SubjectKeys(StaticKEK(os.urandom(32)), store).decrypt("alice-pseudo", c1)
    for bad in (b"", c1[:11], c1[:27], c1[:-1]):
        with pytest.raises(TamperedError):
            sk.decrypt("alice-pseudo", bad)


def test_cache_is_bounded_and_other_process_shred_needs_forget() -> None:
    store = InMemoryKeyStore()
    a = SubjectKeys(KEK, store, cache_size=3)
    b = SubjectKeys(KEK, store, cache_size=3)
    for i in range(10):
        a.encrypt(f"s{i}", b"v")
    assert len(a._cache) == 3
    c = a.encrypt("s9", b"v")
    assert b.decrypt("s9", c) == b"v"  # b caches s9
    a.shred("s9")
    b.forget("s9")
    with pytest.raises(ErasedError):
        b.decrypt("s9", c)


@settings(max_examples=100, deadline=None)
@given(
    recs=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.binary(max_size=50)), max_size=20
    ),
    shredded=st.sets(st.sampled_from(["a", "b", "c", "d"])),
    ad=st.binary(max_size=10),
)
def test_shredding_property(recs: list[tuple[str, bytes]], shredded: set[str], ad: bytes) -> None:
    sk = SubjectKeys(KEK, cache_size=2)
    cts = [(s, sk.encrypt(s, v, ad), v) for s, v in recs]
    for s in shredded:
        sk.shred(s)
    for s, c, v in cts:
        if s in shredded:
            with pytest.raises(ErasedError):
                sk.decrypt(s, c, ad)
        else:
            assert sk.decrypt(s, c, ad) == v

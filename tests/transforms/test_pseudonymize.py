"""Pseudonyms: keyed, stable across batches and runs, separated per domain, collision-free."""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.conftest import Ctx
from veil.crypto.errors import KeyMissingError
from veil.transforms import REGISTRY, InMemoryTransformKeys
from veil.transforms._common import hex_labels, hmac_many
from veil.transforms.pseudonymize import LABEL, pseudonyms

P = REGISTRY["pseudonymize"]


def test_hmac_many_is_hmac_sha256_rfc4231() -> None:
    # RFC 4231 test case 2 (key "Jefe"), message split between label and value
    key, msg = b"Jefe", b"what do ya want for nothing?"
    want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert hmac_many(key, msg[:9], [msg[9:]]).hex() == want
    # and equal to the standard library's one-shot HMAC for many values
    vals = [f"v{i}".encode() for i in range(100)] + [b"", "Müller".encode()]
    blob = hmac_many(b"k" * 32, LABEL, vals)
    assert blob == b"".join(hmac.digest(b"k" * 32, LABEL + v, "sha256") for v in vals)


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=30),
       st.integers(min_value=1, max_value=64), st.text(alphabet="abc_:", max_size=5))
def test_hex_labels_match_python_hex(digests: list[bytes], length: int, prefix: str) -> None:
    arr = hex_labels(b"".join(digests), 32, len(digests), length, prefix.encode())
    assert arr.to_pylist() == [prefix + d.hex()[:length] for d in digests]


def test_stable_across_batches_and_runs_and_types(keys: InMemoryTransformKeys) -> None:
    a = P.apply(pa.array(["C1", "C2", None, "C1"]), {}, Ctx(keys, run_id="r1"))
    b = P.apply(pa.array(["C2", "C1"]), {}, Ctx(keys, run_id="r2"))
    assert a[0] == a[3] and a[2].as_py() is None
    assert a.to_pylist()[:2] == b.to_pylist()[::-1]
    key = keys.hmac_key("scoring")
    assert a[0].as_py() == hmac.new(key, LABEL + b"C1", hashlib.sha256).hexdigest()[:16]
    # an integer id hashes in its decimal form: joins with the same id kept as text
    assert P.apply(pa.array([42]), {}, Ctx(keys)).to_pylist() == \
        P.apply(pa.array(["42"]), {}, Ctx(keys)).to_pylist()
    chunked = pa.chunked_array([["C1"], ["C2"]])
    assert P.apply(chunked, {}, Ctx(keys)).to_pylist() == a.to_pylist()[:2]


def test_domains_are_unlinkable_unless_linked(keys: InMemoryTransformKeys) -> None:
    vals = pa.array([f"C{i}" for i in range(1000)])
    s = P.apply(vals, {}, Ctx(keys, purpose="scoring")).to_pylist()
    f = P.apply(vals, {}, Ctx(keys, purpose="fraud")).to_pylist()
    assert not set(s) & set(f)
    linked1 = P.apply(vals, {"domain": "shared"}, Ctx(keys, purpose="scoring"))
    linked2 = P.apply(vals, {"domain": "shared"}, Ctx(keys, purpose="fraud"))
    assert linked1.equals(linked2)
    # another key (another workspace): other pseudonyms
    other = P.apply(vals, {}, Ctx(InMemoryTransformKeys(), purpose="scoring")).to_pylist()
    assert not set(s) & set(other)


def test_length_and_prefix(keys: InMemoryTransformKeys) -> None:
    out = P.apply(pa.array(["x"]), {"length": 32, "prefix": "c_"}, Ctx(keys)).to_pylist()[0]
    assert out.startswith("c_") and len(out) == 34
    assert int(out[2:], 16) >= 0


def test_collision_free_at_a_million_distinct_values() -> None:
    n = 1_000_000
    vals = pa.array(np.char.add("CUST-", np.arange(n).astype(str)).astype(object))
    out = pseudonyms(vals, b"\x07" * 32, length=16)
    assert len(out) == n
    assert len(out.unique()) == n  # 64-bit pseudonyms: P(any collision) < 3e-8


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=4, max_size=40), min_size=1, max_size=20))
def test_no_input_leaks_into_output(values: list[str]) -> None:
    out = P.apply(pa.array(values), {"prefix": "p_"}, Ctx()).to_pylist()
    for v, o in zip(values, out, strict=True):
        assert v not in o
        assert len(o) == 18 and all(c in "0123456789abcdef" for c in o[2:])


def test_missing_keys_is_a_clear_error() -> None:
    ctx = Ctx(no_keys=True)
    with pytest.raises(KeyMissingError, match="needs keys"):
        P.apply(pa.array(["a"]), {}, ctx)


@pytest.mark.parametrize(("ftype", "params", "msg"), [
    ("float", {}, "does not fit a field of type float"),
    ("boolean", {}, "does not fit"),
    ("string", {"length": 8}, "'length' must be in 16..64"),
    ("string", {"salt": "x"}, "has no parameter salt"),
    ("string", {"prefix": "a b"}, "'prefix'"),
    ("string", {"domain": "bad domain"}, "domain"),
])
def test_check_refusals(ftype: str, params: dict, msg: str) -> None:
    from veil.policy.model import FieldDef

    with pytest.raises(ValueError, match=msg):
        P.check(FieldDef(category="direct_identifier", type=ftype), params)

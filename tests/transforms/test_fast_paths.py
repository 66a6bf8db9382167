"""The bulk paths behind pseudonymize and tokenize give the per-value answer, byte for byte.

`hmac_many` (``cryptography``'s HMAC, keyed once and copied per value) against the standard
library's HMAC for random keys and messages; `hex_labels` and `b64url_strings` (built in bulk)
against Python's per-value hex and base64url; and both sides of `distinct_or_rows` (a batch
that repeats is deduplicated, one whose first values do not repeat is processed row by row)
against the per-value pseudonym and token.
"""

from __future__ import annotations

import base64
import hmac

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.transforms import InMemoryTransformKeys
from veil.transforms._common import (
    PROBE,
    b64url_strings,
    distinct_or_rows,
    hex_labels,
    hmac_many,
)
from veil.transforms.pseudonymize import LABEL, pseudonyms
from veil.transforms.tokenize import detokenize, tokens


@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=150), label=st.binary(max_size=40),
       values=st.lists(st.binary(max_size=200), max_size=12))
def test_hmac_many_equals_the_standard_library(key: bytes, label: bytes,
                                               values: list[bytes]) -> None:
    # keys shorter than, equal to and longer than SHA-256's 64-byte block (hashed first)
    want = b"".join(hmac.digest(key, label + v, "sha256") for v in values)
    assert hmac_many(key, label, values) == want


def test_hmac_many_on_block_boundaries() -> None:
    key = bytes(range(64))
    for size in (0, 1, 45, 46, 55, 56, 63, 64, 65, 119, 120, 128, 1000):
        v = bytes([size % 251]) * size
        assert hmac_many(key, LABEL, [v]) == hmac.digest(key, LABEL + v, "sha256")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=30),
       st.integers(min_value=1, max_value=64), st.text(alphabet="abc_:", max_size=5),
       st.text(alphabet="xyz", max_size=3))
def test_hex_labels_with_prefix_and_suffix(digests: list[bytes], length: int, prefix: str,
                                           suffix: str) -> None:
    arr = hex_labels(b"".join(digests), 32, len(digests), length, prefix.encode(),
                     suffix.encode())
    assert arr.type == pa.string()
    assert arr.to_pylist() == [prefix + d.hex()[:length] + suffix for d in digests]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=30), st.binary(max_size=7), st.booleans())
def test_b64url_with_prefix(items: list[bytes], prefix: bytes, give_lengths: bool) -> None:
    lengths = np.array([len(b) for b in items], dtype=np.int64) if give_lengths else None
    want = [base64.urlsafe_b64encode(prefix + b).rstrip(b"=").decode() for b in items]
    assert b64url_strings(items, prefix, lengths).to_pylist() == want


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.binary(max_size=7))
def test_b64url_one_length(size: int, prefix: bytes) -> None:
    items = [bytes([i % 256]) * size for i in range(50)]
    want = [base64.urlsafe_b64encode(prefix + b).rstrip(b"=").decode() for b in items]
    assert b64url_strings(items, prefix).to_pylist() == want


def _batches() -> dict[str, tuple[list[str | None], bool]]:
    """Inputs for each side of `distinct_or_rows`, and whether it processes them row by row."""
    n = PROBE + 500
    unique: list[str | None] = [f"CUST-{i:09d}" for i in range(n)]
    mixed: list[str | None] = [f"c{i}" for i in range(n)]
    return {
        "unique": (unique, True),
        # no repeat among the first PROBE values, repeats after: row by row, same results
        "repeats late": (unique[:PROBE] + unique[:500], True),
        "repeats early": (unique[:10] * 3 + unique[:n - 30], False),
        "nulls": ([None, *unique[1:]], False),
        "short": (unique[:PROBE], False),
        "mixed lengths": (mixed, True),
    }


@pytest.mark.parametrize("case", list(_batches()))
def test_both_sides_of_distinct_or_rows_match_per_value(case: str) -> None:
    values, row_by_row = _batches()[case]
    arr = pa.array(values, type=pa.string())
    items, indices = distinct_or_rows(arr)
    assert (indices is None) == row_by_row
    assert items.null_count == 0 and items.type == pa.binary()
    key = b"\x05" * 32
    full = [None if v is None else hmac.new(key, LABEL + v.encode(), "sha256").hexdigest()
            for v in values]
    want = [None if h is None else h[:16] for h in full]
    assert pseudonyms(arr, key).to_pylist() == want
    assert pseudonyms(pa.chunked_array([arr[:700], arr[700:]]), key).to_pylist() == want
    assert pseudonyms(arr, key, length=21, prefix="c_").to_pylist() == \
        [None if h is None else "c_" + h[:21] for h in full]
    keys = InMemoryTransformKeys()
    toks = tokens(arr, keys, "scoring")
    assert toks.to_pylist() == keys.token_cipher("scoring").tokenize_many(
        values, "scoring", text=True)
    assert detokenize(toks, keys, "scoring") == values


def test_integer_ids_take_the_row_by_row_side_too() -> None:
    ids = pa.array(np.arange(10**9, 10**9 + PROBE + 10), type=pa.int64())
    key = b"\x09" * 32
    assert distinct_or_rows(ids)[1] is None
    assert pseudonyms(ids, key).to_pylist() == \
        pseudonyms(pa.array([str(i) for i in ids.to_pylist()]), key).to_pylist()

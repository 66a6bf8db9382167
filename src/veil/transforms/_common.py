"""Helpers shared by the transform families: parameter checks, Arrow plumbing, keyed hashes."""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.crypto.hmac import hmac_many  # noqa: F401  (re-exported for the transform families)
from veil.policy.model import FieldDef

NUMERIC = ("integer", "float", "decimal")
TEMPORAL = ("date", "timestamp")

# Arrow types of the policy's field types (kept equal to veil.io.types.ARROW_TYPES)
ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "decimal": pa.decimal128(38, 9),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}


# -- parameters ---------------------------------------------------------------------------

def allowed(params: dict[str, Any], names: Iterable[str]) -> None:
    unknown = sorted(set(params) - set(names))
    if unknown:
        known = ", ".join(sorted(names)) or "none"
        raise ValueError(f"has no parameter{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(unknown)} (parameters: {known})")


def types(field: FieldDef, ok: Sequence[str], why: str) -> None:
    if field.type not in ok:
        raise ValueError(f"does not fit a field of type {field.type}: {why} "
                         f"(fits: {', '.join(ok)})")


def int_param(params: dict[str, Any], name: str, default: int | None, lo: int,
              hi: int | None = None) -> int:
    v = params.get(name, default)
    if v is None:
        raise ValueError(f"needs the parameter '{name}'")
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"'{name}' must be an integer, not {v!r}")
    if v < lo or (hi is not None and v > hi):
        rng = f"{lo}..{hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"'{name}' must be in {rng}, not {v}")
    return v


def num_param(params: dict[str, Any], name: str, default: float | None = None, *,
              positive: bool = True) -> float:
    v = params.get(name, default)
    if v is None:
        raise ValueError(f"needs the parameter '{name}'")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"'{name}' must be a number, not {v!r}")
    f = float(v)
    if not np.isfinite(f) or (positive and f <= 0):
        raise ValueError(f"'{name}' must be a {'positive ' if positive else ''}finite number, "
                         f"not {v!r}")
    return f


def str_param(params: dict[str, Any], name: str, default: str | None,
              choices: Sequence[str] | None = None) -> str:
    v = params.get(name, default)
    if v is None:
        raise ValueError(f"needs the parameter '{name}'")
    if not isinstance(v, str):
        raise ValueError(f"'{name}' must be text, not {v!r}")
    if choices is not None and v not in choices:
        raise ValueError(f"'{name}' must be one of {', '.join(choices)}, not {v!r}")
    return v


def domain_param(params: dict[str, Any]) -> None:
    from veil.transforms.keys import check_domain

    if "domain" in params:
        check_domain(params["domain"])


# -- Arrow --------------------------------------------------------------------------------

def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    if pa.types.is_dictionary(values.type):
        return values.dictionary_decode()
    return values


def to_text(values: pa.Array) -> pa.Array:
    """The values' string form (Arrow ``string``): integers in decimal, dates in ISO 8601."""
    arr = as_array(values)
    if pa.types.is_string(arr.type):
        return arr
    return pc.cast(arr, pa.string())


def map_distinct(values: pa.Array, fn: Callable[[list[Any]], Sequence[Any] | pa.Array],
                 out_type: pa.DataType) -> pa.Array:
    """``fn`` over the distinct non-null values only (as Python objects), spread back over
    the rows with ``take``; nulls stay null."""
    arr = as_array(values)
    if len(arr) == 0:
        return pa.array([], type=out_type)
    enc = pc.dictionary_encode(arr)
    distinct = enc.dictionary
    mapped = fn(distinct.to_pylist())
    out = mapped if isinstance(mapped, pa.Array) else pa.array(mapped, type=out_type)
    if out.type != out_type:
        out = out.cast(out_type)
    return out.take(enc.indices)


def distinct_bytes(values: pa.Array) -> tuple[list[bytes], pa.Array]:
    """(distinct non-null values as UTF-8 bytes, row -> distinct index with nulls)."""
    arr = to_text(values)
    enc = pc.dictionary_encode(arr)
    return enc.dictionary.cast(pa.binary()).to_pylist(), enc.indices


PROBE = 2048


def distinct_or_rows(values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """The values to encrypt or hash once each (Arrow ``binary`` of their UTF-8 bytes, no
    nulls) and how to spread the results over the rows: the distinct values and the row ->
    distinct index (with nulls), as `distinct_bytes`; or, when the batch has no nulls and its
    first `PROBE` values are all different (a key column: ids that do not repeat), the rows
    themselves and None, as finding the distinct values would then cost more than it saves.
    A batch that repeats only further down is then processed row by row: never slower than
    a batch of unique values, and the results are the same either way."""
    arr = to_text(values)
    if len(arr) > PROBE and arr.null_count == 0 and \
            pc.count_distinct(arr.slice(0, PROBE)).as_py() == PROBE:
        return arr.cast(pa.binary()), None
    enc = pc.dictionary_encode(arr)
    return enc.dictionary.cast(pa.binary()), enc.indices


def spread(out: pa.Array, indices: pa.Array | None) -> pa.Array:
    """Per-value results ``out`` back over the rows (see `distinct_or_rows`)."""
    return out if indices is None else out.take(indices)


def hex_labels(blob: bytes, width: int, n: int, length: int, prefix: bytes = b"",
               suffix: bytes = b"") -> pa.Array:
    """``n`` strings ``prefix + hex(digest[:...])[:length] + suffix`` from ``blob``, the
    concatenation of ``n`` digests of ``width`` bytes each; one ``binascii.hexlify`` call
    over the needed bytes of every digest, cut and framed with numpy, no Python loop."""
    if n == 0:
        return pa.array([], type=pa.string())
    need = (length + 1) // 2
    raw = np.frombuffer(blob, dtype=np.uint8, count=n * width).reshape(n, width)
    if need < width:
        raw = np.ascontiguousarray(raw[:, :need])
    hexed = np.frombuffer(binascii.hexlify(raw.data), dtype=np.uint8).reshape(n, 2 * need)
    if prefix or suffix or length != 2 * need:
        data = np.empty((n, len(prefix) + length + len(suffix)), dtype=np.uint8)
        data[:, :len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
        data[:, len(prefix):len(prefix) + length] = hexed[:, :length]
        data[:, len(prefix) + length:] = np.frombuffer(suffix, dtype=np.uint8)
    else:
        data = hexed
    item = data.shape[1]
    offsets = np.arange(0, (n + 1) * item, item, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def b64url_strings(items: Sequence[bytes], prefix: bytes = b"",
                   lengths: np.ndarray | None = None) -> pa.Array:
    """Unpadded base64url (RFC 4648 section 5) of ``prefix + item`` for each item, as an Arrow
    ``string`` array (``lengths``: the items' lengths, when the caller knows them already).

    Items of one length are written after the prefix into the rows of a zero-padded matrix
    (whole 3-byte groups) and encoded by one ``binascii`` call; each item's characters are
    then a fixed-width row, cut to the unpadded length (the padding only fills the last
    sextet's low bits with zeros, as base64 does)."""
    n = len(items)
    if n == 0:
        return pa.array([], type=pa.string())
    if lengths is None:
        lengths = np.fromiter(map(len, items), dtype=np.int64, count=n)
    buf = np.frombuffer(b"".join(items), dtype=np.uint8)
    head = np.frombuffer(prefix, dtype=np.uint8)
    chunks: list[pa.Array] = []
    order: list[np.ndarray] = []
    first = int(lengths[0])
    sizes = [first] if bool((lengths == first).all()) else [int(x) for x in np.unique(lengths)]
    starts: np.ndarray | None = None
    for size in sizes:
        idx = np.arange(n) if len(sizes) == 1 else np.flatnonzero(lengths == size)
        order.append(idx)
        width = len(prefix) + size
        out_len = (4 * width + 2) // 3
        if width == 0:
            chunks.append(pa.array([""] * len(idx), type=pa.string()))
            continue
        padded = -(-width // 3) * 3  # whole 3-byte groups: one base64 call for the group
        mat = np.zeros((len(idx), padded), dtype=np.uint8)
        mat[:, :len(prefix)] = head
        if len(sizes) == 1:  # one length for all (ids of one format): no gather
            mat[:, len(prefix):width] = buf.reshape(n, size)
        elif size:
            if starts is None:
                starts = np.zeros(n, dtype=np.int64)
                np.cumsum(lengths[:-1], out=starts[1:])
            mat[:, len(prefix):width] = buf[starts[idx][:, None] + np.arange(size)]
        enc = binascii.b2a_base64(mat.data, newline=False).translate(_URLSAFE)
        data = np.ascontiguousarray(
            np.frombuffer(enc, dtype=np.uint8).reshape(len(idx), padded // 3 * 4)[:, :out_len])
        offsets = np.arange(0, (len(idx) + 1) * out_len, out_len, dtype=np.int32)
        chunks.append(pa.StringArray.from_buffers(len(idx), pa.py_buffer(offsets),
                                                  pa.py_buffer(data)))
    if len(chunks) == 1:
        return chunks[0]
    combined = pa.concat_arrays(chunks)
    where = np.empty(n, dtype=np.int64)
    where[np.concatenate(order)] = np.arange(n)
    return combined.take(pa.array(where))


# -- keyed hashes ---------------------------------------------------------------------------

def uint64s(blob: bytes, n: int) -> np.ndarray:
    """The first 8 bytes of each 32-byte digest as big-endian unsigned 64-bit integers."""
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    raw = np.frombuffer(blob, dtype=np.uint8).reshape(n, 32)[:, :8]
    return np.ascontiguousarray(raw).view(">u8").reshape(n).astype(np.uint64)


def null_like(values: pa.Array, out_type: pa.DataType) -> pa.Array:
    return pa.nulls(len(values), type=out_type)


def keep_nulls(src: pa.Array, out: pa.Array) -> pa.Array:
    """``out`` with nulls wherever ``src`` is null."""
    if src.null_count == 0:
        return out
    return pc.if_else(pc.is_null(src), pa.scalar(None, out.type), out)

"""Policy field types -> Arrow types, and vectorized conversion that finds bad values.

Text sources (CSV, JSON lines) arrive as strings; typed sources (Parquet, databases,
DataFrames) may arrive in a near type. `conform` casts a batch to the declared types in one
vectorized step and, only when that fails, finds the rows that do not convert so they can be
rejected with their column named, never with their value (it may be personal data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "decimal": pa.decimal128(38, 9),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

_DESCRIBE = {
    "integer": "an integer",
    "float": "a number",
    "decimal": "a decimal number",
    "boolean": "true/false",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a timestamp (ISO 8601)",
}


@dataclass(frozen=True)
class BadValue:
    row: int  # index within the batch
    column: str
    reason: str


def arrow_schema(columns: Sequence[str], types: dict[str, str]) -> pa.Schema:
    return pa.schema([pa.field(c, ARROW_TYPES[types.get(c, "string")]) for c in columns])


def conform(batch: pa.RecordBatch, types: dict[str, str]) -> tuple[pa.RecordBatch, list[BadValue]]:
    """Cast every column to its declared type; bad rows are nulled here and reported."""
    arrays: list[pa.Array] = []
    bad: list[BadValue] = []
    for name, arr in zip(batch.schema.names, batch.columns, strict=True):
        kind = types.get(name, "string")
        target = ARROW_TYPES[kind]
        if arr.type == target and kind != "string":
            out = arr
        else:
            _convertible(arr.type, kind, target, name)
            out, bad_rows = _cast(arr, kind, target)
            bad.extend(BadValue(i, name, f"not {_DESCRIBE.get(kind, kind)}") for i in bad_rows)
        if kind == "float":
            out, far = _finite(out)
            bad.extend(BadValue(i, name, "a number out of range (not finite)") for i in far)
        elif kind == "string":
            out, nul = _without_nul(out)
            bad.extend(BadValue(i, name, "contains a NUL byte") for i in nul)
        arrays.append(out)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names), bad


def _convertible(source: pa.DataType, kind: str, target: pa.DataType, name: str) -> None:
    """Refuse a column whose type no value of could convert (a list or a struct where the
    policy declares a number or text): one error naming the column and both types, instead of
    every row rejected or Arrow's own error."""
    if pa.types.is_dictionary(source):
        source = source.value_type
    if not (pa.types.is_nested(source) or pa.types.is_binary(source)
            or pa.types.is_large_binary(source)):
        return
    try:
        pc.cast(pa.nulls(1, source), target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise InputError(f"its values are {source}, which cannot be read as "
                         f"{_DESCRIBE.get(kind, 'text')} (the policy's type for it)",
                         where=f"column {name}") from None


def _finite(arr: pa.Array) -> tuple[pa.Array, list[int]]:
    """A 400-digit number becomes inf when cast: report it instead of passing it on."""
    inf = pc.fill_null(pc.is_inf(arr), False)
    if not pc.any(inf).as_py():
        return arr, []
    rows = pc.indices_nonzero(inf).to_pylist()
    return pc.if_else(inf, pa.scalar(None, arr.type), arr), rows


def _without_nul(arr: pa.Array) -> tuple[pa.Array, list[int]]:
    """NUL bytes in text break C string handling downstream (and hide data): report them."""
    nul = pc.fill_null(pc.match_substring(arr, "\x00"), False)
    if not pc.any(nul).as_py():
        return arr, []
    rows = pc.indices_nonzero(nul).to_pylist()
    return pc.if_else(nul, pa.scalar(None, arr.type), arr), rows


def _cast(arr: pa.Array, kind: str, target: pa.DataType) -> tuple[pa.Array, list[int]]:
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if kind == "string":
        if arr.type == target:
            return arr, []
        if pa.types.is_large_string(arr.type) or pa.types.is_string_view(arr.type):
            return pc.cast(arr, target), []
        return _cast_or_find(arr, lambda a: pc.cast(a, target))
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = pc.utf8_trim_whitespace(arr)
        arr = pc.if_else(pc.equal(arr, ""), pa.scalar(None, arr.type), arr)
        if kind == "timestamp":
            return _cast_or_find(arr, parse_timestamp)
    elif kind == "timestamp" and pa.types.is_timestamp(arr.type) and arr.type.tz is None:
        arr = pc.cast(arr, pa.timestamp("us"))  # naive timestamps are taken as UTC
    return _cast_or_find(arr, lambda a: pc.cast(a, target))


_ZONED = r"\d:\d\d(:\d\d(\.\d+)?)?\s*(Z|z|[+-]\d\d(:?\d\d)?)$"


def parse_timestamp(a: pa.Array) -> pa.Array:
    """ISO 8601 strings with or without a zone offset; those without are taken as UTC."""
    utc = pa.timestamp("us", tz="UTC")
    try:
        return pc.cast(a, utc)
    except pa.ArrowInvalid:
        pass
    zoned = pc.fill_null(pc.match_substring_regex(a, _ZONED), False)
    none = pa.scalar(None, a.type)
    with_zone = pc.cast(pc.if_else(zoned, a, none), utc)
    naive = pc.cast(pc.cast(pc.if_else(zoned, none, a), pa.timestamp("us")), utc)
    return pc.if_else(zoned, with_zone, naive)


def _cast_or_find(arr: pa.Array, cast) -> tuple[pa.Array, list[int]]:  # type: ignore[no-untyped-def]
    try:
        return cast(arr), []
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    # Error path only: find the values that do not convert, one at a time.
    bad: list[int] = []
    good_mask = []
    for i in range(len(arr)):
        piece = arr.slice(i, 1)
        try:
            cast(piece)
            good_mask.append(True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            bad.append(i)
            good_mask.append(False)
    nulled = pc.if_else(pa.array(good_mask), arr, pa.scalar(None, arr.type))
    return cast(nulled), bad

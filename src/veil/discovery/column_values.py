"""From an Arrow array to what the column scanner examines: each distinct value once, with
how often it occurs (``value_counts``), blanks counted as missing; dates checked as a whole
array for plausible birth dates."""

from __future__ import annotations

import datetime as _dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.detect.masking import mask
from veil.discovery.column_state import ColumnState

_NOT_UTF8 = "values that are not valid UTF-8 were decoded with replacement characters"


def value_kind(typ: pa.DataType) -> str:
    """How a column of ``typ`` is scanned: "numeric" (not at all), "temporal" (birth dates),
    "integer", "binary" and "string" (distinct values), or "other" (not scanned)."""
    if pa.types.is_floating(typ) or pa.types.is_decimal(typ) or pa.types.is_boolean(typ):
        return "numeric"
    if pa.types.is_temporal(typ):
        return "temporal"
    if pa.types.is_integer(typ):
        return "integer"
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or str(typ) == "binary_view":
        return "binary"
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or str(typ) == "string_view":
        return "string"
    return "other"


def as_text(arr: pa.Array) -> pa.Array:
    """A column the caller calls free text, cast to strings when it is not text already."""
    typ = arr.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_binary(typ):
        return arr
    try:
        return pc.cast(arr, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return arr


def integer_counts(st: ColumnState, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    vc = pc.value_counts(arr.drop_null())
    return pc.cast(vc.field(0), pa.string()), vc.field(1).to_numpy()


def string_counts(st: ColumnState, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    if str(arr.type) == "string_view":
        arr = arr.cast(pa.string())
    vc = pc.value_counts(arr.drop_null())
    return drop_blank(st, vc.field(0), vc.field(1).to_numpy())


def binary_counts(st: ColumnState, arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Bytes decoded as UTF-8 (with replacement characters where they are not, noted)."""
    vc = pc.value_counts(arr.drop_null())
    raw = vc.field(0)
    try:
        values = raw.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        decoded = [b.decode("utf-8", errors="replace") for b in raw.to_pylist()]
        values = pa.array(decoded, type=pa.string())
        if _NOT_UTF8 not in st.report.notes:
            st.report.notes.append(_NOT_UTF8)
    return drop_blank(st, values, vc.field(1).to_numpy())


COUNTERS = {"integer": integer_counts, "string": string_counts, "binary": binary_counts}
"""value kind -> the function giving (distinct values as strings, counts)."""


def drop_blank(
    st: ColumnState, values: pa.Array, counts: np.ndarray
) -> tuple[pa.Array, np.ndarray]:
    """Empty and whitespace-only strings are missing values, not values (CSV files
    write a missing value as an empty field): drop them from the distinct values."""
    if len(values) == 0:
        return values, counts
    blank = pc.equal(pc.utf8_trim_whitespace(values), "").to_numpy(zero_copy_only=False)
    if not blank.any():
        return values, counts
    n_blank = int(counts[blank].sum())
    st.report.blank += n_blank
    st.report.non_null -= n_blank
    keep = np.flatnonzero(~blank)
    return values.take(pa.array(keep)), counts[keep]


def add_dates(st: ColumnState, arr: pa.Array) -> None:
    """Count the dates of a column named like a birth date that are plausible ones (not in
    the future, at most 120 years ago); timestamps with a time of day are events."""
    a = arr.drop_null()
    if pa.types.is_timestamp(a.type):
        has_time = pc.any(pc.not_equal(pc.cast(a, pa.date32()).cast(a.type), a)).as_py()
        if has_time:
            return  # a time of day: an event, not a birth date
    today = _dt.date.today()
    years = pc.year(a)
    ok = pc.and_(
        pc.greater_equal(years, today.year - 120),
        pc.less_equal(pc.cast(a, pa.date32()), pa.scalar(today, pa.date32())),
    )
    st.dob_rows += len(a)
    st.dob_ok += int(pc.sum(ok).as_py() or 0)
    acc = st.acc("date_of_birth")
    for i in range(min(len(a), 2 - len(acc.examples))):
        acc.examples.append(mask(str(a[i * (len(a) - 1)].as_py()), "date_of_birth"))

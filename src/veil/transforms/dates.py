"""``date_shift``: move every date of a data subject by the same secret number of days.

``offset(subject) = choices[HMAC-SHA256(key, "veil.date_shift.v1\\0" || subject)[:8] mod n]``
where ``choices`` are the whole days from ``min_days`` (default ``-max_days``) to ``max_days``,
zero left out unless ``allow_zero: true``. Intervals between one subject's dates (and so
durations, orderings, weekdays modulo the shift) are kept; calendar dates are not. The key is
the domain's HMAC key: the shift is stable across batches and runs of the same purpose, and
unlinkable across purposes. Each row needs its subject id (``ctx.subject_ids``, from
the dataset's ``subject_id``); a row without one, or without a date, gives null.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.policy.model import FieldDef
from veil.transforms._common import (
    TEMPORAL,
    allowed,
    as_array,
    distinct_bytes,
    domain_param,
    hmac_many,
    int_param,
    types,
    uint64s,
)
from veil.transforms.context import TransformContext, subject_ids
from veil.transforms.keys import domain_of, key_id, keys_from
from veil.transforms.registry import Transform, register

LABEL = b"veil.date_shift.v1\x00"
_PER_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _choices(params: dict[str, Any]) -> np.ndarray:
    hi = params["max_days"]
    lo = params.get("min_days", -hi)
    days = np.arange(lo, hi + 1, dtype=np.int64)
    if not params.get("allow_zero", False):
        days = days[days != 0]
    return days


def offsets(subjects: pa.Array, key: bytes, params: dict[str, Any]) -> pa.Array:
    """Per-row day offsets (int64, null where the subject id is null)."""
    distinct, indices = distinct_bytes(as_array(subjects))
    choices = _choices(params)
    u = uint64s(hmac_many(key, LABEL, distinct), len(distinct))
    per_subject = pa.array(choices[(u % np.uint64(len(choices))).astype(np.int64)])
    return per_subject.take(indices)


def shift(values: pa.Array, days: pa.Array) -> pa.Array:
    arr = as_array(values)
    if pa.types.is_date32(arr.type) or pa.types.is_date64(arr.type):
        d = pc.cast(pc.cast(arr, pa.date32()), pa.int32())
        out = pc.add(pc.cast(d, pa.int64()), days)
        return pc.cast(pc.cast(out, pa.int32()), pa.date32())
    if pa.types.is_timestamp(arr.type):
        unit = arr.type.unit
        per_day = _PER_DAY[unit]
        t = pc.cast(arr, pa.int64())
        out = pc.add(t, pc.multiply(days, per_day))
        return pc.cast(out, arr.type)
    raise TypeError(f"date_shift needs dates or timestamps, not {arr.type}")


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("max_days", "min_days", "allow_zero", "domain"))
    types(field, TEMPORAL, "only dates move")
    hi = int_param(params, "max_days", None, 1, 36_500)
    if "min_days" in params:
        lo = int_param(params, "min_days", None, -36_500, 36_500)
        if lo >= hi:
            raise ValueError(f"'min_days' ({lo}) must be below 'max_days' ({hi})")
    if not isinstance(params.get("allow_zero", False), bool):
        raise ValueError("'allow_zero' must be true or false")
    if len(_choices({"max_days": hi, **params})) < 2:
        raise ValueError("the range leaves fewer than two possible shifts")
    domain_param(params)


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    subjects = subject_ids(ctx, len(values), "date_shift")
    key = keys_from(ctx, "date_shift").hmac_key(domain_of(params, ctx))
    return shift(values, offsets(subjects, key, params))


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    ch = _choices(params)
    out: dict[str, Any] = {"transform": "date_shift", "params": dict(params),
                           "algorithm": "HMAC-SHA256(subject) -> day offset",
                           "range_days": [int(ch.min()), int(ch.max())],
                           "zero_possible": bool(params.get("allow_zero", False))}
    if ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "date_shift"), "hmac", d),
                   subject_id=ctx.dataset.subject_id if ctx.dataset is not None else None)
    return out


register(Transform(
    "date_shift", "per-subject consistent random date shift within a range", _check, _apply,
    describe=_describe, needs_subject=True,
    example="transaction_time: {transform: date_shift, max_days: 30}"))

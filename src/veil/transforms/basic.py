"""Remove or hide a value: ``redact``, ``replace`` and ``mask`` (``drop`` is in the registry).

* ``redact``: the value becomes null (the column stays, with its type).
* ``replace``: a fixed ``value`` (of the field's type), or without one the field's category
  as a type name: ``<CONTACT>``. Nulls stay null unless ``keep_nulls: false``.
* ``mask``: keep the first/last characters, replace the rest with ``*``. Format-aware:
  IBANs keep the country code and the last 4 and print in groups of four
  (``DE** **** **** **** **34 56``); card numbers keep their separators and the last 4
  digits (``**** **** **** 1111``). At least a third of a value's characters are always
  masked, whatever ``keep_first``/``keep_last`` ask, so short values are never shown whole.
"""

from __future__ import annotations

import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from veil.policy.model import FieldDef
from veil.transforms._common import (
    ARROW,
    allowed,
    as_array,
    int_param,
    keep_nulls,
    map_distinct,
    str_param,
    types,
)
from veil.transforms.context import TransformContext, field_def
from veil.transforms.registry import Transform, register

# -- redact -------------------------------------------------------------------------------


def _check_redact(_field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ())


def _redact(values: pa.Array, _params: dict[str, Any], _ctx: TransformContext) -> pa.Array:
    return pa.nulls(len(values), type=values.type)


register(Transform("redact", "remove the value (null), keep the column", _check_redact,
                   _redact, example="national_id: redact"))

# -- replace ------------------------------------------------------------------------------


def _replacement(field: FieldDef, params: dict[str, Any]) -> pa.Scalar:
    if "value" in params:
        v = params["value"]
        if v is None or isinstance(v, (list, dict)):
            raise ValueError(f"'value' must be a single value, not {v!r}")
        target = ARROW[field.type]
        try:
            s = pa.scalar(v)
            return s if s.type == target else s.cast(target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError,
                OverflowError, ValueError):
            raise ValueError(f"'value' {v!r} is not a {field.type} (the field's type)") from None
    return pa.scalar(f"<{field.category.upper()}>", type=pa.string())


def _check_replace(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("value", "keep_nulls"))
    if not isinstance(params.get("keep_nulls", True), bool):
        raise ValueError("'keep_nulls' must be true or false")
    _replacement(field, params)


def _replace_type(field: FieldDef, params: dict[str, Any]) -> str:
    return field.type if "value" in params else "string"


def _replace_with(values: pa.Array, value: pa.Scalar, keep_null: bool) -> pa.Array:
    arr = as_array(values)
    filled = pa.repeat(value, len(arr))
    return keep_nulls(arr, filled) if keep_null else filled


def replace_values(values: pa.Array, field: FieldDef, params: dict[str, Any]) -> pa.Array:
    """``replace`` for a field whose definition is known (library use and tests)."""
    return _replace_with(values, _replacement(field, params), params.get("keep_nulls", True))


def _replace_apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext
                   ) -> pa.Array:
    return replace_values(values, field_def(ctx, "replace"), params)


register(Transform("replace", "a fixed value, or the field's category as <TYPE>",
                   _check_replace, _replace_apply, output_type=_replace_type,
                   example="full_name: {transform: replace}   # -> <DIRECT_IDENTIFIER>"))

# -- mask -----------------------------------------------------------------------------------

_IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_CARD_RE = re.compile(r"^[0-9](?:[ \-]?[0-9]){12,18}$")
FORMATS = ("auto", "plain", "iban", "card")


def _budget(n: int, first: int, last: int) -> tuple[int, int]:
    """Characters kept at each end: at most n - max(1, ceil(n/3)) in all."""
    most = max(0, n - max(1, math.ceil(n / 3)))
    f = min(first, most)
    return f, min(last, most - f)


def _mask_plain(v: str, first: int, last: int, ch: str) -> str:
    f, t = _budget(len(v), first, last)
    return v[:f] + ch * (len(v) - f - t) + (v[len(v) - t:] if t else "")


def _mask_iban(compact: str, first: int, last: int, ch: str) -> str:
    m = _mask_plain(compact, first, last, ch)
    return " ".join(m[i:i + 4] for i in range(0, len(m), 4))


def _mask_card(v: str, first: int, last: int, ch: str) -> str:
    pos = [i for i, c in enumerate(v) if c.isdigit()]
    f, t = _budget(len(pos), first, last)
    hide = set(pos[f:len(pos) - t])
    return "".join(ch if i in hide else c for i, c in enumerate(v))


def mask_value(v: str, fmt: str = "auto", keep_first: int | None = None,
               keep_last: int | None = None, char: str = "*") -> str:
    """One masked value (see the module's doc); `mask` applies it to distinct values."""
    if fmt in ("auto", "iban"):
        compact = re.sub(r"[\s\-]", "", v).upper()
        if _IBAN_RE.match(compact):
            return _mask_iban(compact, 2 if keep_first is None else keep_first,
                              4 if keep_last is None else keep_last, char)
    if fmt in ("auto", "card") and _CARD_RE.match(v.strip()):
        return _mask_card(v.strip(), 0 if keep_first is None else keep_first,
                          4 if keep_last is None else keep_last, char)
    return _mask_plain(v, 0 if keep_first is None else keep_first,
                       4 if keep_last is None else keep_last, char)


def _check_mask(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("keep_first", "keep_last", "char", "format"))
    types(field, ("string",), "masking keeps some characters of a text")
    if "keep_first" in params:
        int_param(params, "keep_first", 0, 0, 64)
    if "keep_last" in params:
        int_param(params, "keep_last", 4, 0, 64)
    ch = str_param(params, "char", "*")
    if len(ch) != 1:
        raise ValueError(f"'char' must be one character, not {ch!r}")
    str_param(params, "format", "auto", FORMATS)


def _mask(values: pa.Array, params: dict[str, Any], _ctx: TransformContext) -> pa.Array:
    fmt = params.get("format", "auto")
    first, last = params.get("keep_first"), params.get("keep_last")
    ch = params.get("char", "*")
    arr = as_array(values)
    if fmt == "plain":
        return _mask_plain_vec(arr, 0 if first is None else first,
                               4 if last is None else last, ch)
    return map_distinct(arr, lambda vs: [mask_value(v, fmt, first, last, ch) for v in vs],
                        pa.string())


def _mask_plain_vec(arr: pa.Array, first: int, last: int, ch: str) -> pa.Array:
    """Plain masking with Arrow kernels when every value is long enough for the requested
    ends (the common case); otherwise value by value."""
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    lengths = pc.utf8_length(arr)
    shortest = pc.min(lengths).as_py()
    if shortest is None:
        return arr
    if _budget(shortest, first, last) != (first, last):
        return map_distinct(arr, lambda vs: [_mask_plain(v, first, last, ch) for v in vs],
                            pa.string())
    head = pc.utf8_slice_codeunits(arr, 0, first)
    tail = (pc.utf8_slice_codeunits(arr, -last) if last
            else pa.array([""] * len(arr), type=pa.string()))
    middle = pc.binary_repeat(pa.scalar(ch), pc.subtract(lengths, first + last))
    return pc.binary_join_element_wise(head, middle, tail, "")


register(Transform("mask", "keep the first/last characters, mask the rest "
                   "(IBAN and card aware)", _check_mask, _mask, output_type=lambda f, p: "string",
                   example="iban: {transform: mask}   # -> DE** **** **** **** **34 56"))

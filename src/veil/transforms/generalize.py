"""``generalize``: coarser values that still work for training (``method:`` one of).

* ``bins``: numeric fields into bins, either of a ``width`` (from ``origin``, default 0):
  integers as ``30-39``, other numbers as ``[30, 40)``; or between ``edges`` (sorted):
  ``<18``, ``18-29``, ..., ``>=65`` (``labels:`` gives names of your own, one more than the
  edges).
* ``age_band``: a birth date (date or timestamp) to an age band of ``width`` years
  (default 10): ``30-39``; ``top: 90`` makes ``90+``. Ages are exact (birthday reached or not)
  on ``as_of`` (an ISO date; default: the day the run started, recorded in the receipt). A
  birth date after ``as_of`` becomes null.
* ``month`` / ``quarter`` / ``year``: dates and timestamps to ``2024-03``, ``2024-Q1``,
  ``2024`` (timestamps in UTC).
* ``prefix``: text (postcodes) to its first ``length`` characters; ``pad: "*"`` pads back to
  the value's length (``101**``).
* ``hierarchy``: a value hierarchy from a CSV ``file`` in ARX's format (``;``-separated, one
  row per value, from the value to the root, as in the Adult data set's
  ``adult_hierarchy_age.csv``) to its ``level`` (1 = one step up). A relative path is taken
  from the policy file's folder. A value the hierarchy does not cover is an error
  (``on_missing: error``) or its top label (``on_missing: root``).

Everything is vectorized: numbers through numpy, labels built once per distinct bin and
spread with ``take``; nulls stay null. Output: text.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.policy.model import FieldDef
from veil.transforms._common import (
    NUMERIC,
    TEMPORAL,
    allowed,
    as_array,
    int_param,
    num_param,
    str_param,
    types,
)
from veil.transforms.context import TransformContext
from veil.transforms.registry import Transform, register

METHODS = ("bins", "age_band", "month", "quarter", "year", "prefix", "hierarchy")
_PARAMS = {
    "bins": ("width", "origin", "edges", "labels"),
    "age_band": ("width", "as_of", "top"),
    "month": (),
    "quarter": (),
    "year": (),
    "prefix": ("length", "pad"),
    "hierarchy": ("file", "level", "on_missing"),
}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


# -- bins -----------------------------------------------------------------------------------


def _floats(arr: pa.Array) -> np.ndarray:
    if pa.types.is_decimal(arr.type):
        arr = pc.cast(arr, pa.float64())
    return np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False),
                      dtype=np.float64)


def _labelled(codes: np.ndarray, valid: np.ndarray, label: Any) -> pa.Array:
    """Labels for int64 ``codes`` (one label per distinct code), nulls where not ``valid``."""
    n = len(codes)
    if n == 0:
        return pa.array([], type=pa.string())
    uniq, inverse = np.unique(np.where(valid, codes, codes[valid][0] if valid.any() else 0),
                              return_inverse=True)  # invalid rows borrow a valid code
    labels = pa.array([label(int(c)) for c in uniq], type=pa.string())
    indices = pa.array(inverse.astype(np.int32), mask=~valid)
    return labels.take(indices)


def bin_width(values: pa.Array, width: float, origin: float = 0.0,
              integer_labels: bool | None = None) -> pa.Array:
    arr = as_array(values)
    x = _floats(arr)
    valid = ~np.isnan(x)
    codes = np.zeros(len(x), dtype=np.int64)
    codes[valid] = np.floor((x[valid] - origin) / width).astype(np.int64)
    ints = (pa.types.is_integer(arr.type) and float(width).is_integer()
            and float(origin).is_integer()) if integer_labels is None else integer_labels

    def label(c: int) -> str:
        lo = origin + c * width
        if ints:
            return f"{int(lo)}-{int(lo + width - 1)}"
        return f"[{_num(lo)}, {_num(lo + width)})"

    return _labelled(codes, valid, label)


def bin_edges(values: pa.Array, edges: list[float], labels: list[str] | None = None) -> pa.Array:
    arr = as_array(values)
    x = _floats(arr)
    valid = ~np.isnan(x)
    e = np.asarray(edges, dtype=np.float64)
    codes = np.searchsorted(e, np.where(valid, x, 0.0), side="right").astype(np.int64)
    ints = pa.types.is_integer(arr.type) and all(float(v).is_integer() for v in edges)

    def label(c: int) -> str:
        if labels is not None:
            return labels[c]
        if c == 0:
            return f"<{_num(e[0])}"
        if c == len(e):
            return f">={_num(e[-1])}"
        lo, hi = e[c - 1], e[c]
        if ints:
            return f"{int(lo)}-{int(hi) - 1}" if hi - lo > 1 else f"{int(lo)}"
        return f"[{_num(lo)}, {_num(hi)})"

    return _labelled(codes, valid, label)


# -- dates ----------------------------------------------------------------------------------


def _utc(arr: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(arr.type) and arr.type.tz not in (None, "UTC"):
        return pc.cast(arr, pa.timestamp(arr.type.unit, tz="UTC"))
    return arr


def _ints(a: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(a, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def date_label(values: pa.Array, unit: str) -> pa.Array:
    arr = _utc(as_array(values))
    y = pc.cast(pc.year(arr), pa.string())
    if unit == "year":
        return y
    if unit == "quarter":
        return pc.binary_join_element_wise(y, pc.cast(pc.quarter(arr), pa.string()), "-Q")
    m = pc.utf8_lpad(pc.cast(pc.month(arr), pa.string()), 2, "0")
    return pc.binary_join_element_wise(y, m, "-")


_TOP = 1 << 40  # the code of "top+" in age bands


def age_band(values: pa.Array, as_of: date, width: int = 10, top: int | None = None) -> pa.Array:
    arr = _utc(as_array(values))
    valid = ~np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)
    y, m, d = _ints(pc.year(arr)), _ints(pc.month(arr)), _ints(pc.day(arr))
    before = (m > as_of.month) | ((m == as_of.month) & (d > as_of.day))
    age = as_of.year - y - before.astype(np.int64)
    valid &= age >= 0
    age = np.where(valid, age, 0)
    codes = age // width
    if top is not None:
        codes = np.where(age >= top, _TOP, codes)

    def label(c: int) -> str:
        if c == _TOP:
            return f"{top}+"
        lo = c * width
        hi = lo + width - 1 if top is None else min(lo + width, top) - 1
        return f"{lo}-{hi}"

    return _labelled(codes, valid, label)


def _as_of(params: dict[str, Any], ctx: TransformContext) -> date:
    """The ``as_of`` parameter, else the run's reference date (fixed at its first use, so
    every batch of a run bands ages alike)."""
    if "as_of" in params:
        return date.fromisoformat(str(params["as_of"]))
    if ctx.state.as_of is None:
        ctx.state.as_of = datetime.now(UTC).date()
    return ctx.state.as_of


# -- text -----------------------------------------------------------------------------------


def prefix(values: pa.Array, length: int, pad: str | None = None) -> pa.Array:
    arr = as_array(values)
    head = pc.utf8_slice_codeunits(arr, 0, length)
    if not pad:
        return head
    rest = pc.max_element_wise(pc.subtract(pc.utf8_length(arr), length), 0)
    return pc.binary_join_element_wise(head, pc.binary_repeat(pa.scalar(pad), rest), "")


# -- hierarchies ----------------------------------------------------------------------------


def _resolve(file: str, base: Path | None) -> Path:
    p = Path(file).expanduser()
    if p.is_absolute():
        return p
    if base is not None and (base / p).is_file():
        return base / p
    return p


def _load(path: Path, column: str) -> Any:
    from veil.risk.hierarchy import Hierarchy

    if not path.is_file():
        raise PolicyError(f"hierarchy file not found: {path}")
    return Hierarchy.from_csv(path, column)


def hierarchy_values(values: pa.Array, h: Any, level: int, on_missing: str = "error") -> pa.Array:
    arr = as_array(values)
    if len(arr) == 0:
        return pa.array([], type=pa.string())
    enc = pc.dictionary_encode(arr)
    distinct = enc.dictionary
    from veil.risk.hierarchy import to_string

    found = pc.is_in(to_string(distinct), value_set=h.values)
    missing = len(distinct) - pc.sum(found).as_py() if len(distinct) else 0
    if missing and on_missing != "root":
        # never name the value: it may be personal data
        raise InputError(f"{missing} distinct value{'s are' if missing > 1 else ' is'} not in "
                         f"the generalization hierarchy {h.source} (on_missing: root maps "
                         "such values to the hierarchy's top)")
    if missing:
        top_labels = h.labels(h.height)
        top = top_labels[0].as_py() if len(top_labels) == 1 else "*"
        covered = distinct.filter(found)
        labels = h.generalize(covered, level) if len(covered) else pa.array([], pa.string())
        mapped = pc.replace_with_mask(pa.repeat(pa.scalar(top, pa.string()), len(distinct)),
                                      found, labels)
    else:
        mapped = h.generalize(distinct, level)
    return mapped.take(enc.indices)


# -- the transform ----------------------------------------------------------------------------


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    method = str_param(params, "method", None, METHODS)
    allowed(params, ("method", *_PARAMS[method]))
    if method == "bins":
        types(field, NUMERIC, "binning needs numbers")
        if ("width" in params) == ("edges" in params):
            raise ValueError("bins needs either 'width' or 'edges'")
        if "width" in params:
            num_param(params, "width")
            num_param(params, "origin", 0.0, positive=False)
            if "labels" in params:
                raise ValueError("'labels' goes with 'edges'")
        else:
            edges = params["edges"]
            if (not isinstance(edges, list) or not edges
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               and math.isfinite(v) for v in edges)):
                raise ValueError("'edges' must be a list of numbers")
            if any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
                raise ValueError("'edges' must be strictly increasing")
            labels = params.get("labels")
            if labels is not None and (not isinstance(labels, list)
                                       or len(labels) != len(edges) + 1
                                       or not all(isinstance(x, str) for x in labels)):
                raise ValueError(f"'labels' must be {len(edges) + 1} texts (one more than "
                                 "the edges)")
    elif method == "age_band":
        types(field, TEMPORAL, "an age band is computed from a birth date")
        int_param(params, "width", 10, 1, 100)
        if "top" in params:
            int_param(params, "top", None, 1, 150)
        if "as_of" in params:
            try:
                date.fromisoformat(str(params["as_of"]))
            except ValueError:
                raise ValueError(f"'as_of' {params['as_of']!r} is not a date "
                                 "(YYYY-MM-DD)") from None
    elif method in ("month", "quarter", "year"):
        types(field, TEMPORAL, f"{method} is taken from a date")
    elif method == "prefix":
        types(field, ("string",), "a prefix is taken from text (declare postcodes as "
              "string, so leading zeros are kept)")
        int_param(params, "length", None, 1, 64)
        if "pad" in params:
            pad = str_param(params, "pad", None)
            if len(pad) != 1:
                raise ValueError("'pad' must be one character")
    else:
        f = str_param(params, "file", None)
        if not f.strip():
            raise ValueError("'file' must name a hierarchy CSV file")
        int_param(params, "level", None, 0, 64)
        str_param(params, "on_missing", "error", ("error", "root"))


def _check_files(field: FieldDef, params: dict[str, Any], base: Path | None) -> None:
    if params.get("method") != "hierarchy":
        return
    path = _resolve(params["file"], base)
    try:
        h = _load(path, "field")
    except PolicyError as exc:
        raise ValueError(exc.message) from None
    if params["level"] > h.height:
        raise ValueError(f"'level' {params['level']} is above the hierarchy's top level "
                         f"{h.height} ({path})")


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    method = params["method"]
    if method == "bins":
        if "width" in params:
            return bin_width(values, float(params["width"]), float(params.get("origin", 0)))
        return bin_edges(values, [float(e) for e in params["edges"]], params.get("labels"))
    if method == "age_band":
        return age_band(values, _as_of(params, ctx), params.get("width", 10), params.get("top"))
    if method in ("month", "quarter", "year"):
        return date_label(values, method)
    if method == "prefix":
        return prefix(values, params["length"], params.get("pad"))
    path = _resolve(params["file"], ctx.policy_dir)
    cache = ctx.state.hierarchies
    h = cache.get(str(path))
    if h is None:
        h = cache[str(path)] = _load(path, "field")
    return hierarchy_values(values, h, params["level"], params.get("on_missing", "error"))


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    out: dict[str, Any] = {"transform": "generalize", "params": dict(params)}
    if params.get("method") == "age_band" and "as_of" not in params and ctx is not None:
        out["as_of"] = _as_of(params, ctx).isoformat()
    if params.get("method") == "hierarchy" and ctx is not None:
        path = _resolve(params["file"], ctx.policy_dir)
        if path.is_file():
            import hashlib

            out["file_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


register(Transform(
    "generalize", "coarser values: numeric bins, age bands, month/quarter/year, prefixes, "
    "value hierarchies", _check, _apply, output_type=lambda f, p: "string", describe=_describe,
    check_files=_check_files,
    example="birth_date: {transform: generalize, method: age_band, width: 10}"))

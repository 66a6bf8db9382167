"""``redact_text``: replace the personal data that discovery finds inside free text.

Discovery (`veil.discovery.text`) finds the spans (names, IBANs, cards, e-mails, phones, ...,
plus the policy's own recognizers); each span is replaced, by ``mode``:

* ``type`` (default): the type name, ``<PERSON>``;
* ``mask``: as many ``char`` (default ``*``) as the span has characters;
* ``pseudonym``: the type and a keyed pseudonym of the span's text, ``<PERSON_8f3a1c2e>``:
  the same value gets the same pseudonym in every text, row and run of the purpose domain,
  and it is the start of what ``pseudonymize`` gives the same value, so a name column and
  the names inside memos stay linkable for the model while the names are gone.
  ``length`` hex digits (default 8, at least 4).

``types: [person, iban]`` limits the replacement to those types; ``min_score`` (0..1, default
0.5) is discovery's threshold. Texts with no span are passed through untouched (no copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.policy.model import FieldDef
from veil.transforms._common import (
    allowed,
    as_array,
    domain_param,
    hmac_many,
    int_param,
    num_param,
    str_param,
    types,
)
from veil.transforms.context import TransformContext
from veil.transforms.keys import domain_of, key_id, keys_from
from veil.transforms.pseudonymize import LABEL as PSEUDONYM_LABEL
from veil.transforms.registry import Transform, register

MODES = ("type", "mask", "pseudonym")


def redact_spans(texts: Sequence[str | None], spans: Sequence[Sequence[Any]], *,
                 mode: str = "type", key: bytes | None = None, length: int = 8,
                 char: str = "*") -> list[str | None]:
    """``texts`` with their ``spans`` (objects with ``start``, ``end``, ``type``, sorted and
    non-overlapping, as `find_spans` returns them) replaced; texts without spans unchanged."""
    if mode == "pseudonym" and key is None:
        raise ValueError("mode pseudonym needs a key")
    rows = [i for i, sp in enumerate(spans) if sp]
    labels: dict[str, str] = {}
    if mode == "pseudonym" and rows:
        distinct = list({t[s.start:s.end]: None for i in rows
                         if (t := texts[i]) is not None for s in spans[i]})
        assert key is not None
        blob = hmac_many(key, PSEUDONYM_LABEL, [d.encode("utf-8") for d in distinct])
        hexes = blob.hex()
        labels = {d: hexes[64 * j: 64 * j + length] for j, d in enumerate(distinct)}
    out = list(texts)
    tag: dict[str, str] = {}
    for i in rows:
        t = texts[i]
        if t is None:
            continue
        parts: list[str] = []
        pos = 0
        for s in spans[i]:
            parts.append(t[pos:s.start])
            name = tag.get(s.type)
            if name is None:
                name = tag[s.type] = s.type.upper()
            if mode == "type":
                parts.append(f"<{name}>")
            elif mode == "mask":
                parts.append(char * (s.end - s.start))
            else:
                parts.append(f"<{name}_{labels[t[s.start:s.end]]}>")
            pos = s.end
        parts.append(t[pos:])
        out[i] = "".join(parts)
    return out


def _finder(params: dict[str, Any], ctx: TransformContext) -> Any:
    from veil.detect.registry import default_registry
    from veil.detect.text import SpanFinder, default_finder

    wanted = tuple(sorted(params["types"])) if params.get("types") else None
    score = float(params.get("min_score", 0.5))
    extra = list(ctx.policy.recognizers or []) if ctx.policy is not None else []
    cache = ctx.state.finders
    k = (wanted, score)
    f = cache.get(k)
    if f is None:
        if wanted is None and not extra:
            f = default_finder(score)
        else:
            reg = default_registry()
            if extra:
                reg = reg.copy()
                reg.add_all_from_config(extra)
            if wanted is not None:
                unknown = sorted(set(wanted) - set(reg.types()))
                if unknown:
                    raise ValueError(f"unknown span type(s) {', '.join(unknown)} "
                                     f"(known: {', '.join(sorted(reg.types()))})")
            f = SpanFinder(reg, types=wanted, min_score=score)
        cache[k] = f
    return f


def redact_array(values: pa.Array, spans: Sequence[Sequence[Any]], *, mode: str = "type",
                 key: bytes | None = None, length: int = 8, char: str = "*") -> pa.Array:
    """`redact_spans` over an Arrow string array: only the texts with spans are rebuilt."""
    arr = as_array(values)
    rows = np.fromiter((i for i, sp in enumerate(spans) if sp), dtype=np.int64)
    if rows.size == 0:
        return arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
    sub = arr.take(pa.array(rows)).to_pylist()
    new = redact_spans(sub, [spans[int(i)] for i in rows], mode=mode, key=key, length=length,
                       char=char)
    mask = np.zeros(len(arr), dtype=bool)
    mask[rows] = True
    base = arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string())
    return pc.replace_with_mask(base, pa.array(mask), pa.array(new, type=pa.string()))


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("mode", "types", "min_score", "length", "char", "domain"))
    types(field, ("string",), "spans are found in text")
    mode = str_param(params, "mode", "type", MODES)
    t = params.get("types")
    if t is not None and (not isinstance(t, list) or not t
                          or not all(isinstance(x, str) and x for x in t)):
        raise ValueError("'types' must be a list of span types, e.g. [person, iban]")
    if "min_score" in params:
        s = num_param(params, "min_score")
        if s > 1:
            raise ValueError("'min_score' must be in 0..1")
    if "length" in params:
        if mode != "pseudonym":
            raise ValueError("'length' is for mode: pseudonym")
        int_param(params, "length", 8, 4, 64)
    if "char" in params:
        ch = str_param(params, "char", "*")
        if mode != "mask" or len(ch) != 1:
            raise ValueError("'char' is one character, for mode: mask")
    domain_param(params)


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    mode = params.get("mode", "type")
    arr = as_array(values)
    spans = _finder(params, ctx).find(arr)
    key = None
    if mode == "pseudonym":
        key = keys_from(ctx, "redact_text").hmac_key(domain_of(params, ctx))
    return redact_array(arr, spans, mode=mode, key=key, length=params.get("length", 8),
                        char=params.get("char", "*"))


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    out: dict[str, Any] = {"transform": "redact_text", "params": dict(params),
                           "mode": params.get("mode", "type")}
    if params.get("mode") == "pseudonym" and ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "redact_text"), "hmac", d))
    return out


register(Transform(
    "redact_text", "replace the personal data found in free text by its type, a mask or a "
    "pseudonym", _check, _apply, output_type=lambda f, p: "string", describe=_describe,
    example="memo: {transform: redact_text, mode: pseudonym}   "
            "# Transfer to <PERSON_8f3a1c2e>"))

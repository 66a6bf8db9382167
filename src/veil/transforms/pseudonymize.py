"""``pseudonymize``: keyed HMAC-SHA256 pseudonyms.

``pseudonym = prefix + hex(HMAC-SHA256(key, "veil.pseudonym.v1\\0" || utf8(value)))[:length]``

* Keyed, never a plain hash: without the domain's key nobody can test a guess (a dictionary
  of names or a range of customer numbers) against a pseudonym.
* Stable: the same value gets the same pseudonym in every row, batch and run that uses the
  same key, so pseudonymized tables still join on the column.
* Separated per purpose: the key is the purpose's (its *domain*); two purposes give the same
  person unlinkable pseudonyms unless the policy gives both the same ``domain``.
* ``length`` is in hex digits, 16 (64 bits) by default and at least 16: at a million
  distinct values the chance of any collision is then below 3 in 100 million; use 32 for
  billions of values.
* Integer values are hashed in their decimal form, so an integer ``42`` and the text
  ``"42"`` get the same pseudonym (they join).
* Each distinct value is hashed once per batch (dictionary encoding), except in a batch
  whose values do not repeat (`veil.transforms._common.distinct_or_rows`).
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from veil.policy.model import FieldDef
from veil.transforms._common import (
    allowed,
    distinct_or_rows,
    domain_param,
    hex_labels,
    hmac_many,
    int_param,
    spread,
    str_param,
    types,
)
from veil.transforms.context import TransformContext
from veil.transforms.keys import domain_of, key_id, keys_from
from veil.transforms.registry import Transform, register

LABEL = b"veil.pseudonym.v1\x00"
DEFAULT_LENGTH = 16
MIN_LENGTH = 16
_PREFIX = re.compile(r"^[A-Za-z0-9_.:\-]{0,32}$")


def pseudonyms(values: pa.Array | pa.ChunkedArray, key: bytes, *, length: int = DEFAULT_LENGTH,
               prefix: str = "") -> pa.Array:
    """Pseudonyms of ``values`` (Arrow ``string``; nulls stay null) under ``key``."""
    items, indices = distinct_or_rows(values)
    blob = hmac_many(key, LABEL, items.to_pylist())
    return spread(hex_labels(blob, 32, len(items), length, prefix.encode("ascii")), indices)


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("length", "prefix", "domain"))
    types(field, ("string", "integer"), "pseudonyms are made from identifiers (text or "
          "whole numbers); generalize or add noise to measurements instead")
    int_param(params, "length", DEFAULT_LENGTH, MIN_LENGTH, 64)
    prefix = str_param(params, "prefix", "")
    if not _PREFIX.match(prefix):
        raise ValueError(f"'prefix' {prefix!r} must be at most 32 letters, digits or _ . : -")
    domain_param(params)


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    key = keys_from(ctx, "pseudonymize").hmac_key(domain_of(params, ctx))
    return pseudonyms(values, key, length=params.get("length", DEFAULT_LENGTH),
                      prefix=params.get("prefix", ""))


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    out: dict[str, Any] = {"transform": "pseudonymize", "params": dict(params),
                           "algorithm": "HMAC-SHA256",
                           "length": params.get("length", DEFAULT_LENGTH)}
    if ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "pseudonymize"), "hmac", d))
    return out


register(Transform(
    "pseudonymize", "keyed HMAC-SHA256 pseudonyms, stable per purpose domain", _check, _apply,
    output_type=lambda f, p: "string", describe=_describe,
    example="customer_id: {transform: pseudonymize, length: 16, prefix: 'c_'}"))

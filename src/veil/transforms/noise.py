"""``noise``: calibrated random noise for numeric fields, its parameters recorded.

* ``mechanism: laplace`` with ``epsilon`` and ``sensitivity``: Laplace noise of scale
  ``b = sensitivity / epsilon`` (the Laplace mechanism: epsilon-differential privacy for one
  query of that L1 sensitivity).
* ``mechanism: gaussian`` with ``sigma``, or with ``epsilon`` (< 1), ``delta`` and
  ``sensitivity``: ``sigma = sensitivity * sqrt(2 ln(1.25 / delta)) / epsilon`` (the classic
  Gaussian mechanism, (epsilon, delta)-DP).
* ``clip: [lo, hi]`` clamps the noisy values (post-processing, costs no privacy);
  ``decimals: n`` rounds them. Integers are rounded to whole numbers.

Per-value noise on a table is input perturbation: it protects each value to the degree the
parameters say, and each release (each run) spends its budget again. Noise comes from numpy's
PCG64 generator seeded per run, field and batch with ``HMAC-SHA256(key, run id, field,
batch number)``, so a run is reproducible by the key holder and nobody else; the seed is never
recorded, the mechanism and its parameters are (receipt).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.policy.model import FieldDef
from veil.transforms._common import (
    NUMERIC,
    allowed,
    as_array,
    domain_param,
    hmac_many,
    int_param,
    num_param,
    str_param,
    types,
)
from veil.transforms.context import TransformContext, field_name
from veil.transforms.keys import domain_of, key_id, keys_from
from veil.transforms.registry import Transform, register

LABEL = b"veil.noise.v1\x00"


def scale(params: dict[str, Any]) -> float:
    """Laplace ``b`` or Gaussian ``sigma`` of ``params``."""
    if params["mechanism"] == "laplace":
        return float(params["sensitivity"]) / float(params["epsilon"])
    if "sigma" in params:
        return float(params["sigma"])
    eps, delta = float(params["epsilon"]), float(params["delta"])
    return float(params["sensitivity"]) * math.sqrt(2 * math.log(1.25 / delta)) / eps


def add_noise(values: pa.Array, params: dict[str, Any], rng: np.random.Generator) -> pa.Array:
    """``values`` plus noise from ``rng`` (nulls stay null; same Arrow type out)."""
    arr = as_array(values)
    x = np.asarray(pc.cast(arr, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    s = scale(params)
    if params["mechanism"] == "laplace":
        noisy = x + rng.laplace(0.0, s, size=len(x))
    else:
        noisy = x + rng.normal(0.0, s, size=len(x))
    if "clip" in params:
        lo, hi = params["clip"]
        noisy = np.clip(noisy, lo, hi)
    if pa.types.is_integer(arr.type):
        noisy = np.rint(noisy)
    elif "decimals" in params:
        noisy = np.round(noisy, params["decimals"])
    mask = np.asarray(pc.is_null(arr).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(arr.type):
        out = pa.array(np.where(mask, 0, noisy).astype(np.int64), mask=mask)
    else:
        out = pa.array(noisy, mask=mask, type=pa.float64())
    return out if out.type == arr.type else pc.cast(out, arr.type)


def generator(key: bytes, run_id: str, field: str, batch: int, partition: int = 0
              ) -> np.random.Generator:
    msg = f"{run_id}\x00{field}\x00{partition}\x00{batch}".encode()
    seed = int.from_bytes(hmac_many(key, LABEL, [msg]), "big")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    mech = str_param(params, "mechanism", None, ("laplace", "gaussian"))
    common = ("mechanism", "clip", "decimals", "domain")
    if mech == "laplace":
        allowed(params, (*common, "epsilon", "sensitivity"))
        num_param(params, "epsilon")
        num_param(params, "sensitivity")
    else:
        allowed(params, (*common, "sigma", "epsilon", "delta", "sensitivity"))
        if "sigma" in params:
            if any(k in params for k in ("epsilon", "delta", "sensitivity")):
                raise ValueError("give either 'sigma' or 'epsilon', 'delta' and 'sensitivity'")
            num_param(params, "sigma")
        else:
            eps = num_param(params, "epsilon")
            delta = num_param(params, "delta")
            num_param(params, "sensitivity")
            if eps >= 1:
                raise ValueError("the Gaussian mechanism's calibration holds for epsilon < 1 "
                                 "(give 'sigma' for larger noise budgets)")
            if delta >= 1:
                raise ValueError("'delta' must be below 1")
    types(field, NUMERIC, "noise is added to numbers")
    if "clip" in params:
        c = params["clip"]
        if (not isinstance(c, list) or len(c) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in c)
                or not c[0] < c[1]):
            raise ValueError("'clip' must be [lo, hi] with lo < hi")
    if "decimals" in params:
        int_param(params, "decimals", None, 0, 12)
    domain_param(params)


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    name = field_name(ctx, "noise")
    key = keys_from(ctx, "noise").hmac_key(domain_of(params, ctx))
    counters = ctx.state.noise_batches
    batch = counters.get(name, 0)
    counters[name] = batch + 1
    rng = generator(key, str(ctx.run_id), name, batch, ctx.partition)
    return add_noise(values, params, rng)


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    mech = params["mechanism"]
    out: dict[str, Any] = {"transform": "noise", "params": dict(params), "mechanism": mech}
    out["scale" if mech == "laplace" else "sigma"] = scale(params)
    if "epsilon" in params:
        out["epsilon"] = float(params["epsilon"])
    if "delta" in params:
        out["delta"] = float(params["delta"])
    out["generator"] = "numpy PCG64, seeded per (run, field, batch) by HMAC-SHA256"
    if ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "noise"), "hmac", d),
                   run_id=ctx.run_id)
    return out


register(Transform(
    "noise", "calibrated Laplace or Gaussian noise for numbers", _check, _apply,
    describe=_describe,
    example="annual_income: {transform: noise, mechanism: laplace, epsilon: 1.0, "
            "sensitivity: 1000}"))

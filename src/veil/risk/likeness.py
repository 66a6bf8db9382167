"""Per-class figures of the newer attribute-disclosure models: beta-likeness and the
Grassberger entropy estimate (vectorized over the (class, value) pairs, like
:mod:`veil.risk.metrics`).

* **beta-likeness** (Cao & Karras 2012): the relative gain of a sensitive value in a class,
  ``(p - q) / q`` (``p``: its share in the class, ``q``: in the reference table), must stay
  within ``beta`` (*basic*) or within ``min(beta, -ln q)`` (*enhanced*, which protects rare
  values more). As in ARX (``BasicBLikeness``, ``EnhancedBLikeness``) only the values
  present in a class are checked (an absent value has gain -1).
* **Grassberger's entropy estimate**: the plug-in (Shannon) entropy of a small class,
  ``ln n - (1/n) sum_i n_i ln n_i``, underestimates the entropy of the distribution it was
  drawn from. Grassberger (2003, eq. 35) replaces the logarithm by ``G(n) = psi(n) +
  (-1)^n / 2 (psi((n+1)/2) - psi(n/2))``; as Stammler, Katzenbeisser & Hamacher (2016) and
  ARX's ``EntropyLDiversity`` (estimator ``GRASSBERGER``) do, Veil substitutes it for both
  logarithms: ``H_G = G(n) - (1/n) sum_i n_i G(n_i)``.
"""

from __future__ import annotations

import functools

import numpy as np

from veil.risk.classes import SensitiveCounts, divide
from veil.risk.special import digamma

__all__ = [
    "enhanced_beta",
    "grassberger_g",
    "pair_enhanced_excess",
    "pair_gain",
    "per_class_beta_basic",
    "per_class_beta_enhanced_excess",
    "per_class_entropy_grassberger",
]


def _gain(sc: SensitiveCounts, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(relative gain ``(p - q) / q`` of each pair, ``q`` of each pair)."""
    q = sc.pair_reference
    p = sc.counts / sc.pair_sizes(sizes)
    return divide(p - q, q, np.inf), q


def pair_gain(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """The relative gain ``(p - q) / q`` of each (class, value) pair."""
    return _gain(sc, sizes)[0]


def per_class_beta_basic(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """The largest relative gain ``(p - q) / q`` of a value present in each class: the class
    is basic beta-like iff this is ``<= beta``."""
    return sc.class_max(pair_gain(sc, sizes), len(sizes))


def pair_enhanced_excess(sc: SensitiveCounts, sizes: np.ndarray, beta: float) -> np.ndarray:
    """``gain - min(beta, -ln q)`` of each (class, value) pair."""
    bound = np.minimum(beta, _neg_log(sc.reference_distribution()))[sc.value_code]
    return pair_gain(sc, sizes) - bound


def per_class_beta_enhanced_excess(
    sc: SensitiveCounts, sizes: np.ndarray, beta: float
) -> np.ndarray:
    """The largest ``gain - min(beta, -ln q)`` of a value present in each class: the class is
    enhanced beta-like iff this is ``<= 0``."""
    return sc.class_max(pair_enhanced_excess(sc, sizes, beta), len(sizes))


def _neg_log(q: np.ndarray) -> np.ndarray:
    """``-ln q`` (inf where ``q`` is 0)."""
    return -np.log(q, out=np.full(len(q), -np.inf), where=q > 0)


def enhanced_beta(sc: SensitiveCounts, sizes: np.ndarray) -> float:
    """The smallest beta for which every class is enhanced beta-like (inf: none, a value's
    gain exceeds ``-ln q`` whatever beta is)."""
    if not len(sc.counts):
        return 0.0
    gain, q = _gain(sc, sizes)
    with np.errstate(divide="ignore"):
        cap = -np.log(q)
    if (gain > cap + 1e-12).any():
        return float("inf")
    return float(max(gain.max(), 0.0))


def _g(n: np.ndarray) -> np.ndarray:
    m = np.asarray(n, dtype=float)
    sign = np.where(np.asarray(n) % 2 == 0, 1.0, -1.0)
    return digamma(m) + 0.5 * sign * (digamma((m + 1) / 2) - digamma(m / 2))


@functools.cache
def _g_table() -> np.ndarray:
    """G(1) .. G(65535): class sizes and counts are mostly small."""
    return _g(np.arange(1, 1 << 16))


def grassberger_g(counts: np.ndarray) -> np.ndarray:
    """``G(n) = psi(n) + (-1)^n / 2 (psi((n+1)/2) - psi(n/2))`` for counts ``n >= 1``
    (from a table for ``n < 65536``)."""
    table = _g_table()
    n = np.asarray(counts, dtype=np.int64)
    small = n <= len(table)
    if small.all():
        return table[n - 1]
    out = np.empty(len(n))
    out[small] = table[n[small] - 1]
    out[~small] = _g(n[~small])
    return out


def per_class_entropy_grassberger(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Grassberger's entropy estimate (nats) of the sensitive values in each class:
    ``G(|E|) - (1/|E|) sum_i n_i G(n_i)``."""
    n = len(sizes)
    if not len(sc.counts):
        return np.zeros(n)
    s = np.bincount(sc.class_index, weights=sc.counts * grassberger_g(sc.counts), minlength=n)
    safe = np.maximum(sizes, 1)
    return np.where(sizes > 0, grassberger_g(safe) - s / safe, 0.0)

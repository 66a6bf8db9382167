"""How many records any finer partition of a failing class must suppress (a monotone bound).

A model that is monotone under generalization but not with suppression (beta-likeness,
t-closeness; delta-disclosure's upper side) fails a class ``E`` when a figure ``g(E)``, a
count of records, is positive, and ``g`` is *sublinear*: ``g(E) <= sum_i g(E_i)`` when ``E``
splits into ``E_1..E_r``, and ``g(F) <= |F|`` for every class. Then the sub-classes with
``g > 0`` - which fail - hold at least ``sum_i g(E_i)^+ >= g(E)`` records. At a finer node
the classes of ``E`` are such a split, and classes of different ``E`` are disjoint, so

    suppressed(y) >= sum over the classes E of x of g(E)^+    for every node y <= x.

When that sum exceeds the suppression limit, every predecessor of ``x`` fails: the search
prunes the down-set as it does for k-anonymity. (A failing class is not always suppressed
whole at ``y``: the bound counts only the excess, so it is weaker than ``suppressed(x)``.)

* share caps (beta-likeness, delta-disclosure): a value ``v`` present in a passing class has
  a share at most ``c_v`` (:meth:`~veil.risk.privacy.PrivacyModel.present_caps`), so
  ``g(E) = max_v (n_v - c_v |E|) / (1 - c_v)``: a maximum of linear functions, at most
  ``|E|`` since ``n_v <= |E|``.
* t-closeness: ``g(E) = |E| (EMD(E) - t) / (1 - t)``; ``|E| EMD(E)`` is the cost of an
  optimal transport (or for the closed forms a sum of absolute values of linear functions)
  of the counts, hence sublinear, and ``EMD <= 1``. (alpha,k): the same with the largest
  share (a maximum of linear functions) for the EMD and ``alpha`` for ``t``.
* entropy l-diversity (Shannon): ``g(E) = |E| (ln l - H(E)) / ln l``; ``|E| H(E)`` is
  concave in the counts (the perspective of a concave function) and ``H >= 0``.
* delta-presence's upper side: a class with ``f`` sample records of ``F`` in the population
  passes when ``f <= d F``. The kept sub-classes of a split pass, so they hold at most
  ``d (F - F_s)`` sample records, where ``F_s >= S`` is the population of the suppressed
  ones (the sample is part of the population) and ``S`` their sample records:
  ``f - S <= d (F - S)``, so ``S >= g(E) = (f - d F) / (1 - d)``, which is linear.

A slack of 1e-9 per record keeps the bound below the true count whatever the rounding of
the model's own test, which fails a class only beyond its threshold plus 1e-12: a sub-class
with ``g > 0`` that the model passes holds at most ``1e-12 |F| / (1 - c)`` of the excess, so
caps and thresholds above 0.999 are left out (they only weaken the bound).
"""

from __future__ import annotations

import numpy as np

from veil.risk.classes import SensitiveCounts

__all__ = ["emd_excess", "presence_excess", "share_excess", "shortfall_excess"]

#: subtracted per record: the models fail a class only beyond their threshold plus 1e-12
_SLACK = 1e-9
#: caps and thresholds above this are not used (the slack would not cover the rounding)
_TIGHT = 0.999


def share_excess(sc: SensitiveCounts, sizes: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Per class, ``max_v (n_v - c_v |E|) / (1 - c_v)`` over the values present with a cap
    below 0.999, minus the slack, at least 0."""
    n = len(sizes)
    if not len(sc.counts):
        return np.zeros(n)
    c = caps[sc.value_code]
    size = sc.pair_sizes(sizes)
    # only the values above their cap have g > 0 (below it the numerator is <= 0): the rest
    # cannot raise a class above 0, so they are left out
    over = sc.counts > c * size
    if not (caps < _TIGHT).all():
        over &= c < _TIGHT
    c, size = c[over], size[over]
    g = (sc.counts[over] - c * size) / (1.0 - c) - _SLACK * size
    out = np.zeros(n)
    np.maximum.at(out, sc.class_index[over], g)
    return out


def emd_excess(emd: np.ndarray, sizes: np.ndarray, t: float) -> np.ndarray:
    """Per class, ``|E| (EMD - t) / (1 - t)`` minus the slack, at least 0 (0 when ``t`` is
    above 0.999)."""
    if t > _TIGHT:
        return np.zeros(len(sizes))
    return np.maximum(sizes * ((emd - t) / (1.0 - t) - _SLACK), 0.0)


def shortfall_excess(figure: np.ndarray, sizes: np.ndarray, floor: float) -> np.ndarray:
    """Per class, ``|E| (floor - figure) / floor`` minus the slack, at least 0, for a model
    that fails a class whose ``figure`` is below ``floor`` (0 when ``floor`` is under
    0.001)."""
    if floor < 1.0 - _TIGHT:
        return np.zeros(len(sizes))
    return np.maximum(sizes * ((floor - figure) / floor - _SLACK), 0.0)


def presence_excess(sizes: np.ndarray, population: np.ndarray, threshold: float) -> np.ndarray:
    """Per class, ``(f - d F) / (1 - d)`` minus the slack, at least 0, with ``d`` the upper
    threshold of delta-presence as its test applies it; 0 when that is above 0.999."""
    if threshold > _TIGHT:
        return np.zeros(len(sizes))
    d = threshold
    return np.maximum((sizes - d * population) / (1.0 - d) - _SLACK * sizes, 0.0)

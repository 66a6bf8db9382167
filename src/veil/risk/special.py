"""Digamma and trigamma on numpy arrays, for the population models' likelihoods.

numpy has no polygamma functions and scipy is not a dependency of Veil's core. Both functions
shift the argument above 10 with the recurrences ``psi(x) = psi(x + 1) - 1/x`` and
``psi1(x) = psi1(x + 1) + 1/x^2``, then use the asymptotic (Stirling) series; the error is
below 1e-14 relative for ``x > 0`` (checked in the tests against sums of the series'
definitions). Arguments must be positive.
"""

from __future__ import annotations

import numpy as np

__all__ = ["digamma", "digamma_trigamma", "trigamma"]

_SHIFT = 10.0


#: When at most this many arguments are below the shift, they are shifted one by one in
#: Python floats (the same IEEE operations in the same order as the array loop, so the same
#: bits, with far fewer calls) ...
_SCALAR = 16
#: ... and when they are all above this (Python raises where numpy divides by zero to inf).
_TINY = 1e-150


def _shifted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x shifted to >= 10, sum of 1/x over the shifts, sum of 1/x^2 over the shifts)."""
    x = np.array(x, dtype=float, copy=True)
    inv = np.zeros(x.shape)
    inv2 = np.zeros(x.shape)
    low = x < _SHIFT
    few = low.reshape(-1).nonzero()[0]
    values = x.reshape(-1)[few].tolist()
    if len(few) <= _SCALAR and min(values, default=1.0) > _TINY:
        shifted, sums, squares = [], [], []
        for v in values:
            a = b = 0.0
            while v < _SHIFT:
                a += 1.0 / v
                b += 1.0 / (v * v)
                v = v + 1.0
            shifted.append(v)
            sums.append(a)
            squares.append(b)
        x.reshape(-1)[few], inv.reshape(-1)[few], inv2.reshape(-1)[few] = shifted, sums, squares
        return x, inv, inv2
    while low.any():
        xl = x[low]
        inv[low] += 1.0 / xl
        inv2[low] += 1.0 / (xl * xl)
        x[low] = xl + 1.0
        low = x < _SHIFT
    return x, inv, inv2


def digamma(x: np.ndarray | float) -> np.ndarray:
    """psi(x) = d/dx ln Gamma(x), for x > 0."""
    z, inv, _ = _shifted(np.atleast_1d(x))
    return _digamma_series(z, inv)


def trigamma(x: np.ndarray | float) -> np.ndarray:
    """psi'(x), for x > 0."""
    z, _, inv2 = _shifted(np.atleast_1d(x))
    return _trigamma_series(z, inv2)


def digamma_trigamma(x: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(psi(x), psi'(x)) with one shift of the arguments: the same values, bit for bit, as
    :func:`digamma` and :func:`trigamma` (the population models need both at each step)."""
    z, inv, inv2 = _shifted(np.atleast_1d(x))
    return _digamma_series(z, inv), _trigamma_series(z, inv2)


def _digamma_series(z: np.ndarray, inv: np.ndarray) -> np.ndarray:
    r = 1.0 / (z * z)
    series = r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132)))))
    return np.log(z) - 0.5 / z - series - inv


def _trigamma_series(z: np.ndarray, inv2: np.ndarray) -> np.ndarray:
    r = 1.0 / (z * z)
    series = (
        1.0 / z
        + 0.5 * r
        + r / z * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42 - r * (1.0 / 30 - r * 5.0 / 66))))
    )
    return series + inv2

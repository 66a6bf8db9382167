"""Digamma and trigamma on numpy arrays, for the population models' likelihoods.

numpy has no polygamma functions and scipy is not a dependency of Veil's core. Both functions
shift the argument above 10 with the recurrences ``psi(x) = psi(x + 1) - 1/x`` and
``psi1(x) = psi1(x + 1) + 1/x^2``, then use the asymptotic (Stirling) series; the error is
below 1e-14 relative for ``x > 0`` (checked in the tests against sums of the series'
definitions). Arguments must be positive.
"""

from __future__ import annotations

import numpy as np

__all__ = ["digamma", "trigamma"]

_SHIFT = 10.0


def _shifted(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x shifted to >= 10, sum of 1/x over the shifts, sum of 1/x^2 over the shifts)."""
    x = np.array(x, dtype=float, copy=True)
    inv = np.zeros_like(x)
    inv2 = np.zeros_like(x)
    low = x < _SHIFT
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
    r = 1.0 / (z * z)
    series = r * (
        1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132))))
    )
    return np.log(z) - 0.5 / z - series - inv


def trigamma(x: np.ndarray | float) -> np.ndarray:
    """psi'(x), for x > 0."""
    z, _, inv2 = _shifted(np.atleast_1d(x))
    r = 1.0 / (z * z)
    series = (
        1.0 / z
        + 0.5 * r
        + r / z * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42 - r * (1.0 / 30 - r * 5.0 / 66))))
    )
    return series + inv2

"""Prosecutor, journalist and marketer risk (El Emam 2013; ARX ``RiskModelSampleSummary``).

* **Prosecutor**: the attacker knows the target is in the released table. A record in class
  ``E`` is re-identified with probability ``1 / f_E`` (``f_E``: the class's size in the table).
* **Journalist**: the attacker picks a target from the population, not knowing whether it is
  in the table: the probability is ``1 / F_E`` with ``F_E`` the class's size in the
  *population*.
* **Marketer**: the attacker re-identifies as many records as possible: the expected share
  is ``(1/n) sum_E f_E / F_E``.

``F_E`` is known when a population table (an identification register) is given
(:func:`register_risk`, ARX's definitions exactly). With only a sampling fraction ``pi``,
``1 / F_E`` is replaced by its expectation given the sample under the negative binomial
superpopulation model of Benedetti & Franconi (1998), which mu-Argus and sdcMicro use for the
individual risk: with ``p = pi`` and ``q = 1 - p``,

``E[1/F | f] = integral_0^1 p s^(f-1) / (p + q s) ds``

(:func:`expected_inverse_population_size`; ``f = 1`` gives ``p/q ln(1/p)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from veil.errors import PolicyError

__all__ = [
    "AttackerRisk",
    "expected_inverse_population_size",
    "register_risk",
    "sampled_risk",
]

#: Below this size the forward recurrence is used (p < 0.5), above it the series.
_RECURRENCE_SIZES = 64


def _series(sizes: np.ndarray, q: float) -> np.ndarray:
    """``I_f = sum_k q^k k! (f-1)! / (f+k)!`` for each f (terms shrink by ``q (k+1)/(f+k+1)``)."""
    f = sizes.astype(float)
    term = 1.0 / f
    total = term.copy()
    k = 0
    active = np.ones(len(f), dtype=bool)
    while active.any() and k < 1_000_000:
        term = np.where(active, term * q * (k + 1) / (f + k + 1), 0.0)
        total += term
        active = term > 1e-17 * total
        k += 1
    return total


def expected_inverse_population_size(sizes: np.ndarray, sampling_fraction: float) -> np.ndarray:
    """``E[1 / F | f]`` for each sample class size ``f`` (Benedetti & Franconi 1998), as
    ``p I_f`` with ``I_f = integral_0^1 s^(f-1) / (p + q s) ds``.

    ``I_1 = ln(1/p) / q`` and ``q I_(f+1) + p I_f = 1/f``: the forward recurrence is stable
    for ``p < 0.5`` and is used for small sizes; otherwise, and for large sizes, the series
    ``I_f = sum_k q^k k! (f-1)! / (f+k)!`` (from ``1/(p+qs) = sum_k q^k (1-s)^k`` and the
    Beta integral) converges geometrically.
    """
    p = float(sampling_fraction)
    if not 0 < p <= 1:
        raise PolicyError(f"the sampling fraction must be in (0, 1], got {p}")
    f = np.asarray(sizes, dtype=np.int64)
    if p == 1.0:
        return 1.0 / f
    q = 1.0 - p
    out = np.empty(len(f))
    small = f <= _RECURRENCE_SIZES if p < 0.5 else np.zeros(len(f), dtype=bool)
    if small.any():
        table = np.empty(_RECURRENCE_SIZES + 1)
        table[1] = math.log(1.0 / p) / q
        for i in range(1, _RECURRENCE_SIZES):
            table[i + 1] = (1.0 / i - p * table[i]) / q
        out[small] = table[f[small]]
    if (~small).any():
        uniq, inverse = np.unique(f[~small], return_inverse=True)
        out[~small] = _series(uniq, q)[inverse]
    return p * out


@dataclass(frozen=True)
class AttackerRisk:
    """The three attackers' figures for one table.

    ``*_highest``: the largest probability for one record; ``*_average``: the expected share
    of records re-identified; ``*_at_risk``: the share of records whose probability is above
    ``threshold``. ``source`` says where population class sizes come from: ``register`` (a
    population table) or ``sampling fraction`` (estimated, Benedetti & Franconi).
    """

    source: str
    threshold: float
    prosecutor_highest: float
    prosecutor_average: float
    prosecutor_at_risk: float
    journalist_highest: float
    journalist_average: float
    journalist_at_risk: float
    marketer: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _prosecutor(f: np.ndarray, threshold: float) -> tuple[float, float, float]:
    n = float(f.sum())
    return (
        1.0 / float(f.min()),
        len(f) / n,
        float(f[(1.0 / f) > threshold].sum()) / n,
    )


def sampled_risk(
    class_sizes: np.ndarray, sampling_fraction: float, threshold: float = 0.2
) -> AttackerRisk:
    """Risks of a table that is a uniform sample (fraction ``pi``) of its population: the
    journalist's and marketer's ``1/F`` estimated by ``E[1/F | f]`` (see module doc)."""
    f = np.asarray(class_sizes, dtype=np.int64)
    f = f[f > 0]
    if not len(f):
        raise PolicyError("risk of an empty table")
    n = float(f.sum())
    r = expected_inverse_population_size(f, sampling_fraction)
    marketer = float(np.dot(f, r)) / n
    return AttackerRisk(
        "sampling fraction",
        threshold,
        *_prosecutor(f, threshold),
        journalist_highest=float(r.max()),
        journalist_average=marketer,
        journalist_at_risk=float(f[r > threshold].sum()) / n,
        marketer=marketer,
    )


def register_risk(
    sample_sizes: np.ndarray, population_sizes: np.ndarray, threshold: float = 0.2
) -> AttackerRisk:
    """Risks when the population table is known: ``sample_sizes[i]`` and
    ``population_sizes[i]`` are the sizes of one class in the table and in the population
    (classes absent from the table are ignored). As ARX: journalist average is
    ``max(classes / sum F, (1/n) sum f/F)``, marketer ``(1/n) sum f/F``."""
    f = np.asarray(sample_sizes, dtype=np.int64)
    big_f = np.asarray(population_sizes, dtype=np.int64)
    keep = f > 0
    f, big_f = f[keep], big_f[keep]
    if not len(f):
        raise PolicyError("risk of an empty table")
    if (big_f < f).any():
        raise PolicyError("a class is larger in the table than in the population")
    n = float(f.sum())
    marketer = float(np.sum(f / big_f)) / n
    return AttackerRisk(
        "register",
        threshold,
        *_prosecutor(f, threshold),
        journalist_highest=1.0 / float(big_f.min()),
        journalist_average=max(len(f) / float(big_f.sum()), marketer),
        journalist_at_risk=float(f[(1.0 / big_f) > threshold].sum()) / n,
        marketer=marketer,
    )

"""Privacy models that are not a test of each class on its own.

* **Table models** bound a figure of the whole released table: its (sample or population)
  uniqueness, or its average re-identification risk. They are enforced the way ARX enforces
  its risk-based models: after the per-class models, the smallest remaining classes are
  suppressed, fewest first, until the figure is within the bound (a binary search over
  how many; the figures only fall as small classes leave) - if that stays within the
  suppression limit the node is anonymous.
* **Highest risk** is per class: a record's prosecutor risk ``1/f`` or, for a sample of a
  population, its journalist risk ``E[1/F | f]`` (:mod:`veil.risk.attacker`) must not
  exceed the bound.
* **delta-presence** (Nergiz, Atzori & Clifton 2007) compares each class of the released
  sample with the same class in a population table: ``delta = f / F`` must lie in
  ``[delta_min, delta_max]``, so an attacker holding the population cannot tell whether a
  person is in the sample with more than ``delta_max`` confidence.

A population for the table models is given by its sampling fraction or its size; the
population size is fixed when the models are bound to the measured table (:meth:`bind`), so
that suppression does not shrink the population.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from veil.errors import PolicyError
from veil.risk.attacker import expected_inverse_population_size
from veil.risk.classes import SensitiveCounts
from veil.risk.excess import presence_excess
from veil.risk.population import SizeHistogram, population_uniqueness
from veil.risk.privacy import PrivacyModel

__all__ = [
    "AverageRisk",
    "DeltaPresence",
    "HighestRisk",
    "Population",
    "TableModel",
    "UniquenessLimit",
]

_EPS = 1e-12


@dataclass(frozen=True)
class Population:
    """The population a table is a sample of: its sampling fraction or its size (one), and
    the model for population uniqueness (``dankar``, ``pitman``, ``zayatz``, ``snb``)."""

    sampling_fraction: float | None = None
    size: float | None = None
    model: str = "dankar"

    def __post_init__(self) -> None:
        if (self.sampling_fraction is None) == (self.size is None):
            raise PolicyError("a population needs its sampling fraction or its size (one)")
        if self.sampling_fraction is not None and not 0 < self.sampling_fraction <= 1:
            raise PolicyError(
                f"the sampling fraction must be in (0, 1], got {self.sampling_fraction}"
            )

    def bound(self, records: int) -> Population:
        """This population with its size fixed for a table of ``records`` records."""
        if self.size is not None:
            return self
        assert self.sampling_fraction is not None
        return Population(size=1.0 / self.sampling_fraction * records, model=self.model)

    def fraction(self, records: int) -> float:
        return self.sampling_fraction if self.size is None else min(1.0, records / self.size)

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"population_model": self.model}
        if self.sampling_fraction is not None:
            d["sampling_fraction"] = self.sampling_fraction
        else:
            d["population_size"] = self.size
        return d


class TableModel(PrivacyModel):
    """A bound on a figure of the whole table (see the module doc). ``failing`` marks no
    class; :meth:`to_suppress` says which classes to suppress so that it holds."""

    attribute: str | None = None
    monotonic_generalization = False
    monotonic_suppression = False

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        return np.zeros(len(sizes), dtype=bool)

    def bind(self, records: int) -> TableModel:
        """The model with its population size fixed for a table of ``records`` records."""
        return self

    def figure(self, sizes: np.ndarray) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def limit(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def holds(self, sizes: np.ndarray) -> bool:
        sizes = sizes[sizes > 0]
        return not len(sizes) or self.figure(sizes) <= self.limit() + _EPS

    def to_suppress(
        self, sizes: np.ndarray, kept: np.ndarray, budget: int | None = None
    ) -> np.ndarray:
        """Classes (a mask over ``sizes``) to suppress, among the ``kept`` ones, smallest
        first and as few as possible, so that the figure of the rest is within the limit.

        ``budget``: the records that may still be suppressed. When suppressing the smallest
        classes up to the budget is not enough, every kept class is returned (the node fails
        anyway; the caller need not know by how much) - one figure instead of a search."""
        out = np.zeros(len(sizes), dtype=bool)
        idx = np.flatnonzero(kept & (sizes > 0))
        if self.holds(sizes[idx]):
            return out
        order = idx[np.argsort(sizes[idx], kind="stable")]
        lo, hi = 0, len(order)  # holds(after removing hi) is true: an empty table holds
        if budget is not None:
            most = int(np.searchsorted(np.cumsum(sizes[order]), budget, side="right"))
            if most < len(order) and not self.holds(sizes[order[most:]]):
                out[order] = True
                return out
            hi = min(hi, max(most, 1))
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.holds(sizes[order[mid:]]):
                hi = mid
            else:
                lo = mid
        out[order[:hi]] = True
        return out


@dataclass(frozen=True)
class UniquenessLimit(TableModel):
    """At most ``max_share`` of the records are unique: in the table itself (``population``
    None: sample uniqueness), or estimated in the population (population uniqueness)."""

    max_share: float
    population: Population | None = None

    def bind(self, records: int) -> UniquenessLimit:
        if self.population is None:
            return self
        return replace(self, population=self.population.bound(records))

    def figure(self, sizes: np.ndarray) -> float:
        if self.population is None:
            return float(sizes[sizes == 1].sum()) / float(sizes.sum())
        if not (sizes == 1).any():
            return 0.0  # no sample unique: every model estimates no population unique
        p = self.population
        return _population_figure(sizes, p.sampling_fraction, p.size, p.model)

    def limit(self) -> float:
        return self.max_share


_FIGURES: dict[tuple[bytes, float | None, float | None, str], float] = {}


def _population_figure(
    sizes: np.ndarray, fraction: float | None, size: float | None, model: str
) -> float:
    """Population uniqueness of a class-size vector, memoized on its histogram (the lattice
    search meets the same histograms again and again)."""
    h = SizeHistogram.from_class_sizes(sizes)  # (the sizes of the classes kept: all > 0)
    key = (np.stack([h.sizes, h.counts]).tobytes(), fraction, size, model)
    hit = _FIGURES.get(key)
    if hit is None:
        hit = population_uniqueness(
            h, sampling_fraction=fraction, population_size=size, model=model
        ).uniqueness
        if len(_FIGURES) > 100_000:
            _FIGURES.clear()
        _FIGURES[key] = hit
    return hit


@dataclass(frozen=True)
class AverageRisk(TableModel):
    """The average re-identification risk is at most ``max_risk``: the prosecutor's
    ``classes / records`` (``population`` None), or the marketer's ``(1/n) sum f E[1/F|f]``
    for a sample of a population."""

    max_risk: float
    population: Population | None = None

    def bind(self, records: int) -> AverageRisk:
        if self.population is None:
            return self
        return replace(self, population=self.population.bound(records))

    def figure(self, sizes: np.ndarray) -> float:
        n = float(sizes.sum())
        if self.population is None:
            return len(sizes) / n
        pi = self.population.fraction(int(n))
        return float(np.dot(sizes, expected_inverse_population_size(sizes, pi))) / n

    def limit(self) -> float:
        return self.max_risk


@dataclass(frozen=True)
class HighestRisk(PrivacyModel):
    """No record's re-identification risk exceeds ``max_risk``: prosecutor ``1/f``, or for a
    sample of a population the journalist's ``E[1/F | f]``. Per class, and monotone (the
    risk falls as classes grow)."""

    max_risk: float
    population: Population | None = None
    attribute: str | None = field(default=None, init=False, repr=False)
    _records: int | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 < self.max_risk <= 1:
            raise PolicyError(f"the highest risk must be in (0, 1], got {self.max_risk}")

    def bind(self, records: int) -> HighestRisk:
        if self.population is None:
            return self
        return replace(self, population=self.population.bound(records), _records=records)

    @property
    def min_class_size(self) -> int:
        if self.population is None:
            return int(math.ceil(1.0 / self.max_risk - 1e-9))
        return 1

    def risk(self, sizes: np.ndarray) -> np.ndarray:
        """Each class's risk (``1/f`` or ``E[1/F | f]``)."""
        s = np.maximum(np.asarray(sizes, dtype=np.int64), 1)
        if self.population is None:
            return 1.0 / s
        n = self._records if self._records is not None else int(np.sum(sizes))
        return expected_inverse_population_size(s, self.population.fraction(n))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        return (sizes > 0) & (self.risk(sizes) > self.max_risk + _EPS)


@dataclass(frozen=True)
class DeltaPresence(PrivacyModel):
    """delta-presence (Nergiz, Atzori & Clifton 2007; ARX ``DPresence``): every class of
    the sample holds a share ``delta = f / F`` of the same class in the population table
    within ``[delta_min, delta_max]``. A class of the population with no sample record has
    ``delta = 0``: if that is below ``delta_min`` no suppression can fix it (its records are
    public), and the generalization fails. Not monotone."""

    delta_min: float
    delta_max: float
    attribute: str | None = field(default=None, init=False, repr=False)
    monotonic_generalization = False
    monotonic_suppression = False
    needs_population = True

    def __post_init__(self) -> None:
        if not 0 <= self.delta_min <= self.delta_max <= 1:
            raise PolicyError(
                f"delta-presence needs 0 <= delta_min <= delta_max <= 1, "
                f"got {self.delta_min}, {self.delta_max}"
            )

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        raise PolicyError("delta-presence needs a population table (anonymize(population=...))")

    def delta(self, sizes: np.ndarray, population: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(population > 0, sizes / np.maximum(population, 1), 0.0)

    def failing_presence(self, sizes: np.ndarray, population: np.ndarray) -> np.ndarray:
        d = self.delta(sizes, population)
        return (d < self.delta_min - _EPS) | (d > self.delta_max + _EPS)

    def excess_presence(self, sizes: np.ndarray, population: np.ndarray) -> np.ndarray:
        """Per class, the sample records any finer split of it must suppress for the upper
        side (:func:`~veil.risk.excess.presence_excess`; the lower side only adds)."""
        return presence_excess(sizes, population, self.delta_max + _EPS)

"""Privacy models: what every equivalence class of a released table must satisfy.

Each model says which classes fail it (:meth:`PrivacyModel.failing`, vectorized over the
classes) and whether it is monotone, which lets the lattice search propagate a node's result
to its successors or predecessors (see :mod:`veil.risk.search`). Formulas: ``docs/risk.md``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from veil.errors import PolicyError
from veil.risk.classes import SensitiveCounts
from veil.risk.excess import emd_excess, share_excess, shortfall_excess
from veil.risk.hierarchy import Hierarchy
from veil.risk.likeness import (
    pair_enhanced_excess,
    pair_gain,
    per_class_entropy_grassberger,
)
from veil.risk.metrics import (
    pair_delta,
    per_class_distinct,
    per_class_emd_equal,
    per_class_emd_hierarchical,
    per_class_emd_ordered,
    per_class_entropy,
    per_class_max_share,
    per_class_recursive_ratio,
)

__all__ = [
    "AlphaKAnonymity",
    "BasicBetaLikeness",
    "DeltaDisclosure",
    "DistinctLDiversity",
    "EntropyLDiversity",
    "EnhancedBetaLikeness",
    "EqualDistanceTCloseness",
    "HierarchicalDistanceTCloseness",
    "KAnonymity",
    "OrderedDistanceTCloseness",
    "PresentCaps",
    "PrivacyModel",
    "RecursiveCLDiversity",
]

_EPS = 1e-12


def _support_needed(caps: np.ndarray, strict: bool = False) -> int:
    """The fewest values whose largest ``caps`` (bounds on a value's share in a class) can
    add up to 1 (``strict``: exceed 1); a class with fewer distinct values, hence any class
    with fewer records, cannot meet the bounds. ``len(caps) + 1`` when none can."""
    cum = np.cumsum(np.sort(np.asarray(caps, dtype=float))[::-1])
    ok = cum > 1.0 + _EPS if strict else cum >= 1.0 - 1e-9
    hit = np.flatnonzero(ok)
    return int(hit[0]) + 1 if len(hit) else len(cum) + 1


def _mass_caps(q: np.ndarray, mass: float) -> np.ndarray | None:
    """Caps saying "the values present hold at least ``mass`` of the reference": ``q /
    mass`` (None when ``mass`` is too small to be a useful or numerically safe bound)."""
    if mass < 1e-3:
        return None
    return np.asarray(q, dtype=float) / mass


def _mass_needed(q: np.ndarray, outside: float) -> int:
    """The fewest values whose largest shares ``q`` leave at most ``outside`` of the mass
    out: a class on fewer values is at total variation > ``outside`` from ``q``."""
    cum = np.cumsum(np.sort(np.asarray(q, dtype=float))[::-1])
    hit = np.flatnonzero(1.0 - cum <= outside + 1e-9)
    return int(hit[0]) + 1 if len(hit) else len(cum)


class PrivacyModel(ABC):
    """A privacy model checked per equivalence class.

    ``monotonic_generalization``: without suppression, if a node satisfies the model so do
    all its successors. ``monotonic_suppression``: the same with record suppression (a class
    that passes, merged with any classes, still passes).
    """

    attribute: str | None
    monotonic_generalization: bool = True
    monotonic_suppression: bool = True

    @property
    def min_class_size(self) -> int:
        """Classes smaller than this always fail the model (1: no such size)."""
        return int(getattr(self, "k", 1))

    @abstractmethod
    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        """Boolean mask of the classes that violate the model."""

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        """A class smaller than this fails the model whatever its content. ``reference``:
        the shares of the sensitive values in the reference table (None for QI-only models).
        The search turns it into a quick failure test and a monotone lower bound of the
        records to suppress (:mod:`veil.risk.search`)."""
        return self.min_class_size

    def bind(self, records: int) -> PrivacyModel:
        """The model for a table of ``records`` records (models that refer to a population
        by its sampling fraction fix its size here)."""
        return self

    def present_caps(self, reference: np.ndarray) -> np.ndarray | None:
        """Caps ``c`` (per sensitive value code) on a value's share in any passing class, so
        that the values present in a passing class have ``sum c >= 1`` (None: no such caps).
        That condition only gets easier as classes merge: it is a monotone part of the model
        (:class:`PresentCaps`), whose failures the search propagates to a node's down-set.
        ``reference``: the shares of the values in the reference table."""
        return None

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        """Per class, records that any split of it into finer classes must suppress for this
        model (:mod:`veil.risk.excess`): the search prunes the down-set of a node where they
        add up to more than may be suppressed. None: no such bound."""
        return None


@dataclass(frozen=True)
class KAnonymity(PrivacyModel):
    """Every class has at least ``k`` records (Sweeney 2002)."""

    k: int
    attribute: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.k < 1:
            raise PolicyError(f"k-anonymity needs k >= 1, got {self.k}")

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        return sizes < self.k


@dataclass(frozen=True)
class DistinctLDiversity(PrivacyModel):
    """Every class has at least ``l`` distinct values of ``attribute``.

    Monotone with suppression too: a class holding a passing class has >= l values.
    """

    attribute: str
    l: int  # noqa: E741

    @property
    def min_class_size(self) -> int:
        return int(self.l)

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return per_class_distinct(sc, sizes) < self.l


ENTROPY_ESTIMATORS = ("shannon", "grassberger")


@dataclass(frozen=True)
class EntropyLDiversity(PrivacyModel):
    """Every class has sensitive-value entropy >= log(l) (Machanavajjhala et al. 2007).

    ``estimator``: ``shannon`` (the plug-in entropy of the class) or ``grassberger``
    (Grassberger 2003's bias-corrected estimate, as ARX's ``GRASSBERGER``). Either way a
    class needs at least ``ceil(l)`` distinct values (ARX). Not monotone with suppression;
    with the Grassberger estimator not monotone under generalization either (the
    correction depends on the class size).
    """

    attribute: str
    l: float  # noqa: E741
    estimator: str = "shannon"
    monotonic_suppression = False

    def __post_init__(self) -> None:
        if self.estimator not in ENTROPY_ESTIMATORS:
            raise PolicyError(
                f"entropy estimator must be one of {', '.join(ENTROPY_ESTIMATORS)}, "
                f"not {self.estimator!r}"
            )
        if self.estimator == "grassberger":
            object.__setattr__(self, "monotonic_generalization", False)

    @property
    def min_class_size(self) -> int:
        return int(math.ceil(self.l - _EPS))

    def entropy(self, sizes: np.ndarray, sc: SensitiveCounts) -> np.ndarray:
        """The entropy (nats) of each class under the model's estimator."""
        if self.estimator == "grassberger":
            return per_class_entropy_grassberger(sc, sizes)
        return per_class_entropy(sc, sizes)

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        # |E| H(E) is concave in the counts: |E| (ln l - H) / ln l is sublinear, <= |E|
        assert sc is not None
        if self.estimator != "shannon":
            return None
        return shortfall_excess(per_class_entropy(sc, sizes), sizes, math.log(self.l))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        few = per_class_distinct(sc, sizes) < self.min_class_size
        return few | (self.entropy(sizes, sc) < math.log(self.l) - _EPS)


@dataclass(frozen=True)
class RecursiveCLDiversity(PrivacyModel):
    """Every class has ``r1 < c (r_l + ... + r_m)`` (Machanavajjhala et al. 2007)."""

    attribute: str
    c: float
    l: int  # noqa: E741
    monotonic_suppression = False

    @property
    def min_class_size(self) -> int:
        return int(self.l)

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return ~(per_class_recursive_ratio(sc, sizes, self.l) < self.c)


@dataclass(frozen=True)
class EqualDistanceTCloseness(PrivacyModel):
    """Every class has equal-distance EMD <= t to the input distribution (Li et al. 2007)."""

    attribute: str
    t: float
    monotonic_suppression = False

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # EMD = total variation >= the reference mass outside the class's values
        return 1 if reference is None else _mass_needed(reference, self.t)

    def present_caps(self, reference: np.ndarray) -> np.ndarray | None:
        # EMD >= 1 - (mass of the values present): passing needs that mass >= 1 - t
        return _mass_caps(reference, 1.0 - self.t)

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        assert sc is not None
        return emd_excess(per_class_emd_equal(sc, sizes), sizes, self.t)

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return per_class_emd_equal(sc, sizes) > self.t + _EPS


@dataclass(frozen=True)
class HierarchicalDistanceTCloseness(PrivacyModel):
    """Every class has hierarchical-distance EMD <= t (ground distance from ``hierarchy``)."""

    attribute: str
    t: float
    hierarchy: Hierarchy
    monotonic_suppression = False

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # two values are at least 1/H apart (H with a virtual root if the top has several
        # labels): EMD >= total variation / H
        if reference is None:
            return 1
        return _mass_needed(reference, self.t * self._height())

    def _height(self) -> int:
        h = self.hierarchy
        return max(h.height + (1 if h.domain_size(h.height) > 1 else 0), 1)

    def present_caps(self, reference: np.ndarray) -> np.ndarray | None:
        # EMD >= total variation / H >= (1 - mass present) / H
        return _mass_caps(reference, 1.0 - self.t * self._height())

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        assert sc is not None
        return emd_excess(per_class_emd_hierarchical(sc, sizes, self.hierarchy), sizes, self.t)

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return per_class_emd_hierarchical(sc, sizes, self.hierarchy) > self.t + _EPS


@dataclass(frozen=True)
class OrderedDistanceTCloseness(PrivacyModel):
    """Every class has ordered-distance EMD <= t (numeric values, or an explicit ``order``)."""

    attribute: str
    t: float
    order: tuple[object, ...] | None = None
    monotonic_suppression = False

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # adjacent values are 1/(m-1) apart: EMD >= total variation / (m - 1)
        if reference is None or len(reference) < 2:
            return 1
        return _mass_needed(reference, self.t * (len(reference) - 1))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return per_class_emd_ordered(sc, sizes, self.order) > self.t + _EPS


@dataclass(frozen=True)
class AlphaKAnonymity(PrivacyModel):
    """(alpha,k)-anonymity (Wong et al. 2006): every class has >= k records and no sensitive
    value (or the given ``value``) makes up more than ``alpha`` of it."""

    attribute: str
    alpha: float
    k: int
    value: object | None = None
    monotonic_suppression = False

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # s records hold at most s values: the largest share is at least 1/s
        if self.value is not None:
            return self.k
        return max(self.k, int(math.ceil(1.0 / self.alpha - 1e-9)))

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        # |E| (share - alpha): a maximum of linear functions of the counts
        assert sc is not None
        return emd_excess(per_class_max_share(sc, sizes, self.value), sizes, self.alpha)

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        share = per_class_max_share(sc, sizes, self.value)
        return (sizes < self.k) | (share > self.alpha + _EPS)


@dataclass(frozen=True)
class DeltaDisclosure(PrivacyModel):
    """delta-disclosure privacy (Brickell & Shmatikov 2008, as in ARX): for every class and
    every value present in it, ``|log2(p(s|E) / p(s))| < delta``. Not monotone."""

    attribute: str
    delta: float
    monotonic_generalization = False
    monotonic_suppression = False

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # every value present has p < q 2^delta: the values present must have sum q 2^delta > 1
        if reference is None:
            return 1
        return _support_needed(reference * 2.0**self.delta, strict=True)

    def present_caps(self, reference: np.ndarray) -> np.ndarray | None:
        return np.asarray(reference, dtype=float) * 2.0**self.delta

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        assert sc is not None
        caps = self.present_caps(sc.reference_distribution())
        return None if caps is None else share_excess(sc, sizes, np.asarray(caps, dtype=float))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return sc.classes_with(pair_delta(sc, sizes) >= self.delta, len(sizes))


@dataclass(frozen=True)
class BasicBetaLikeness(PrivacyModel):
    """basic beta-likeness (Cao & Karras 2012, as ARX's ``BasicBLikeness``): in every class,
    every value present has relative gain ``(p - q) / q <= beta`` over its share ``q`` in
    the reference table. Monotone under generalization (a merged class's shares are
    averages), not with suppression."""

    attribute: str
    beta: float
    monotonic_suppression = False

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise PolicyError(f"beta-likeness needs beta > 0, got {self.beta}")

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # every value present has p <= q (1 + beta)
        return 1 if reference is None else _support_needed(reference * (1.0 + self.beta))

    def present_caps(self, reference: np.ndarray) -> np.ndarray | None:
        return np.asarray(reference, dtype=float) * (1.0 + self.beta)

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        assert sc is not None
        caps = self.present_caps(sc.reference_distribution())
        return None if caps is None else share_excess(sc, sizes, np.asarray(caps, dtype=float))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return sc.classes_with(pair_gain(sc, sizes) > self.beta + _EPS, len(sizes))


@dataclass(frozen=True)
class EnhancedBetaLikeness(PrivacyModel):
    """enhanced beta-likeness (Cao & Karras 2012, as ARX's ``EnhancedBLikeness``): the gain
    of every value present is at most ``min(beta, -ln q)``, so that a rare value's share
    cannot grow past ``q (1 - ln q)``. Monotone under generalization, not with
    suppression."""

    attribute: str
    beta: float
    monotonic_suppression = False

    def __post_init__(self) -> None:
        if not self.beta > 0:
            raise PolicyError(f"beta-likeness needs beta > 0, got {self.beta}")

    def smallest_passing_size(self, reference: np.ndarray | None) -> int:
        # every value present has p <= q (1 + min(beta, -ln q))
        if reference is None:
            return 1
        caps = self.present_caps(reference)
        assert caps is not None
        return _support_needed(caps)

    def present_caps(self, reference: np.ndarray) -> np.ndarray | None:
        q = np.asarray(reference, dtype=float)
        caps = q * (1.0 + np.minimum(self.beta, -np.log(np.where(q > 0, q, 1.0))))
        return np.where(q > 0, caps, 0.0)

    def excess(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray | None:
        assert sc is not None
        caps = self.present_caps(sc.reference_distribution())
        return None if caps is None else share_excess(sc, sizes, np.asarray(caps, dtype=float))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return sc.classes_with(pair_enhanced_excess(sc, sizes, self.beta) > _EPS, len(sizes))


@dataclass(frozen=True, eq=False)
class PresentCaps(PrivacyModel):
    """The monotone part of a model with :meth:`PrivacyModel.present_caps`: a class fails
    when the caps of the values present in it add up to less than 1. A class holding a
    passing class holds its values too, so this is monotone with and without suppression;
    a class failing it fails the model it comes from (the search adds it for that)."""

    attribute: str
    caps: np.ndarray = field(repr=False)

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        total = np.bincount(sc.class_index, weights=self.caps[sc.value_code], minlength=len(sizes))
        return (total < 1.0 - 1e-9) & (sizes > 0)

"""Quality models: the information loss of a lattice node (lower is better), as ARX defines it.

A model is prepared once per search (per-QI tables from the hierarchies and the input value
counts), gives a data-free lower bound of every node's loss (the search visits nodes in the
order of that bound and stops when it exceeds the best loss found) and the exact loss of a
node from its classes and outliers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from veil.errors import PolicyError
from veil.risk.hierarchy import Hierarchy
from veil.risk.lattice import ClassState

__all__ = [
    "AGGREGATES",
    "Discernibility",
    "LatticeTables",
    "Loss",
    "NonUniformEntropy",
    "QualityModel",
    "RankLoss",
    "aggregate_losses",
    "check_aggregate",
]

#: How per-QI losses combine into one (ARX's ``AggregateFunction``).
AGGREGATES = ("geometric", "arithmetic", "sum", "max", "rank")


def check_aggregate(name: str) -> str:
    if name not in AGGREGATES:
        raise PolicyError(f"aggregate must be one of {', '.join(AGGREGATES)}, not {name!r}")
    return name


class RankLoss(float):
    """ARX's ``RANK`` aggregate: nodes are ordered by their per-QI losses sorted in
    descending order, compared lexicographically. The float value is the largest per-QI
    loss (a valid bound for pruning: it is the first thing compared)."""

    vector: tuple[float, ...]

    def __new__(cls, vector: np.ndarray) -> RankLoss:
        v = tuple(sorted((float(x) for x in vector), reverse=True))
        obj = super().__new__(cls, v[0] if v else 0.0)
        obj.vector = v
        return obj

    def _key(self) -> tuple[float, ...]:
        return self.vector

    def __lt__(self, other: object) -> bool:
        if isinstance(other, RankLoss):
            return self.vector < other.vector
        return float(self) < other  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if isinstance(other, RankLoss):
            return self.vector <= other.vector
        return float(self) <= other  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if isinstance(other, RankLoss):
            return self.vector > other.vector
        return float(self) > other  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if isinstance(other, RankLoss):
            return self.vector >= other.vector
        return float(self) >= other  # type: ignore[operator]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RankLoss):
            return self.vector == other.vector
        return float(self) == other

    def __hash__(self) -> int:
        return hash(self.vector)


def aggregate_losses(how: str, values: list[np.ndarray]) -> np.ndarray:
    """Combine per-QI losses (arrays over nodes) as ARX does: ``geometric``:
    ``prod (v_j + 1)^(1/d) - 1``; ``arithmetic``: the mean; ``sum``; ``max``; ``rank``: the
    largest here (the lexicographic order is :class:`RankLoss`'s)."""
    d = len(values)
    if how == "geometric":
        acc = np.ones_like(values[0], dtype=float)
        for v in values:
            acc = acc * np.power(v + 1.0, 1.0 / d)
        return acc - 1.0
    if how == "arithmetic":
        return np.sum(values, axis=0) / d
    if how == "sum":
        return np.sum(values, axis=0)
    return np.max(values, axis=0)  # max, and the bound of rank


class LatticeTables(Protocol):
    """What a quality model reads from the search (the :class:`~veil.risk.anonymize.Anonymizer`
    provides it): the QIs' hierarchies, the records per input value, and level codes."""

    @property
    def hierarchies(self) -> Sequence[Hierarchy]: ...

    @property
    def value_counts(self) -> Sequence[np.ndarray]: ...

    @property
    def records(self) -> int: ...

    def level_codes(self, j: int, rows: np.ndarray, level: int) -> np.ndarray: ...


def _factors(gs_factor: float) -> tuple[float, float]:
    """ARX's generalization / suppression factors from the gs-factor in [0, 1]."""
    if not 0.0 <= gs_factor <= 1.0:
        raise PolicyError(f"gs_factor must be in [0, 1], got {gs_factor}")
    s_factor = 2.0 * gs_factor if gs_factor < 0.5 else 1.0
    g_factor = 1.0 if gs_factor <= 0.5 else 1.0 - 2.0 * (gs_factor - 0.5)
    return g_factor, s_factor


class QualityModel(ABC):
    """Information loss of a node (lower is better)."""

    name: str = "quality"
    #: Visit candidates bottom-up (when the bound is weak and successors are pruned by the
    #: dynamic bound) instead of top-down (when a failing node should prune its down-set).
    bottom_up: bool = False

    @abstractmethod
    def prepare(self, lattice: LatticeTables) -> None:
        """Precompute per-column tables."""

    @abstractmethod
    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        """A data-free lower bound of the loss of each node, monotone in generalization."""

    @abstractmethod
    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        """(loss, bound): ``bound``, when not None, is a lower bound of the loss of every
        successor of the node (used to prune), tighter than the static one."""


class NonUniformEntropy(QualityModel):
    """ARX's non-uniform entropy with suppression (``MetricMDNUNMEntropyPrecomputed``).

    Per QI ``j``: ``g * sum_v c(v) log2(c(g(v)) / c(v))`` over the input values ``v`` (c:
    counts in the input, g(v): v's label at the node's level) plus, for the suppressed
    records, ``s * sum_x s(x) log2(S / s(x))`` over their labels x (S: suppressed records).
    The loss is the sum over QIs (ARX's default SUM aggregate, weights 1).
    """

    name = "non-uniform entropy"

    def __init__(self, gs_factor: float = 0.5) -> None:
        self.gs_factor = gs_factor
        self.g_factor, self.s_factor = _factors(gs_factor)
        self._gen: list[np.ndarray] = []

    def prepare(self, lattice: LatticeTables) -> None:
        self._gen = []
        for j, h in enumerate(lattice.hierarchies):
            c = lattice.value_counts[j].astype(float)
            nz = c > 0
            per_level = np.zeros(h.levels)
            for lv in range(h.levels):
                labels = h.code_map[:, lv]
                c_label = np.bincount(labels, weights=c, minlength=h.domain_size(lv))
                per_level[lv] = float(np.sum(c[nz] * np.log2(c_label[labels[nz]] / c[nz])))
            self._gen.append(per_level)

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        acc = np.zeros(len(nodes))
        for j, gen in enumerate(self._gen):
            acc += gen[nodes[:, j]]
        return self.g_factor * acc

    def _gen_part(self, node: np.ndarray) -> float:
        acc = np.zeros(1)
        for j, gen in enumerate(self._gen):
            acc += gen[node[j : j + 1]]
        return float(self.g_factor * acc[0])

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        gen = self._gen_part(node)
        if not outliers.any():
            return gen, None
        sizes = state.sizes[outliers].astype(float)
        total = float(sizes.sum())
        rows = state.rep[outliers]
        # all QIs in one bincount: labels of QI j are offset by the label counts before it
        offset = 0
        labels = []
        for j in range(len(node)):
            lv = int(node[j])
            labels.append(lattice.level_codes(j, rows, lv) + offset)
            offset += lattice.hierarchies[j].domain_size(lv)
        s = np.bincount(np.concatenate(labels), weights=np.tile(sizes, len(node)))
        s = s[s > 0]
        supp = float(np.sum(s * np.log2(total / s)))
        return gen + self.s_factor * supp, None


class Loss(QualityModel):
    """ARX's Loss metric (``MetricMDNMLoss``, Iyengar 2002); aggregate: ``geometric`` mean
    (ARX's default), ``arithmetic``, ``sum``, ``max`` or ``rank`` (:class:`RankLoss`).

    Per QI: each record costs the share of the hierarchy's values covered by its label
    (times g), a suppressed record costs 1 (s = 1) or ``share + s (1 - share)``; the sum is
    normalized to [0, 1] with ``min = g N / |domain|`` and ``max = N``. QIs are combined by
    the aggregate (geometric: ``prod (v_j + 1)^(1/d) - 1``).
    """

    name = "loss"

    def __init__(self, gs_factor: float = 0.5, aggregate: str = "geometric") -> None:
        self.aggregate = check_aggregate(aggregate)
        self.gs_factor = gs_factor
        self.g_factor, self.s_factor = _factors(gs_factor)
        self._share: list[list[np.ndarray]] = []
        self._gen_raw: list[np.ndarray] = []
        self._min: list[float] = []
        self._n = 0.0

    def prepare(self, lattice: LatticeTables) -> None:
        self._n = float(lattice.records)
        self._share, self._gen_raw, self._min = [], [], []
        for j, h in enumerate(lattice.hierarchies):
            domain = float(h.domain_size(0))
            shares = [h.leaf_counts(lv) / domain for lv in range(h.levels)]
            c = lattice.value_counts[j].astype(float)
            raw = np.array(
                [
                    self.g_factor * float(np.sum(c * shares[lv][h.code_map[:, lv]]))
                    for lv in range(h.levels)
                ]
            )
            self._share.append(shares)
            self._gen_raw.append(raw)
            self._min.append(self.g_factor * self._n / domain)

    def _normalize(self, raw: np.ndarray | float, j: int) -> np.ndarray:
        lo, hi = self._min[j], self._n
        if hi - lo <= 0:
            return np.zeros_like(np.asarray(raw, dtype=float))
        return np.maximum((np.asarray(raw, dtype=float) - lo) / (hi - lo), 0.0)

    def _aggregate(self, values: list[np.ndarray]) -> np.ndarray:
        return aggregate_losses(self.aggregate, values)

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return self._aggregate(
            [self._normalize(raw[nodes[:, j]], j) for j, raw in enumerate(self._gen_raw)]
        )

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        values = []
        sizes = state.sizes[outliers].astype(float)
        rows = state.rep[outliers]
        for j in range(len(node)):
            lv = int(node[j])
            raw = float(self._gen_raw[j][lv])
            if len(sizes):
                share = self._share[j][lv][lattice.level_codes(j, rows, lv)]
                gen_cost = self.g_factor * share * sizes
                sup_cost = (
                    sizes
                    if self.s_factor == 1.0
                    else share * sizes + self.s_factor * (sizes - share * sizes)
                )
                raw += float(np.sum(sup_cost - gen_cost))
            values.append(self._normalize(np.array([raw]), j))
        if self.aggregate == "rank":
            return RankLoss(np.array([v[0] for v in values])), None
        return float(self._aggregate(values)[0]), None


class Discernibility(QualityModel):
    """ARX's discernibility (``MetricSDNMDiscernability``, Bayardo & Agrawal 2005):
    ``sum |E|^2`` over kept classes plus ``N |E|`` for every suppressed class."""

    name = "discernibility"
    bottom_up = True

    def __init__(self) -> None:
        self._n = 0.0

    def prepare(self, lattice: LatticeTables) -> None:
        self._n = float(lattice.records)
        self._present = [
            np.array(
                [
                    np.count_nonzero(
                        np.bincount(
                            h.code_map[:, lv],
                            weights=lattice.value_counts[j],
                            minlength=h.domain_size(lv),
                        )
                    )
                    for lv in range(h.levels)
                ],
                dtype=float,
            )
            for j, h in enumerate(lattice.hierarchies)
        ]

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        # At most G = prod_j (labels present at level x_j) classes, and sum |E|^2 >= N^2 / G
        # (Cauchy-Schwarz); suppressed classes cost N |E| >= |E|^2. Monotone: G shrinks.
        groups = np.ones(len(nodes))
        for j, present in enumerate(self._present):
            groups = np.minimum(groups * present[nodes[:, j]], self._n)
        return np.maximum(self._n * self._n / groups, self._n)

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        sizes = state.sizes.astype(float)
        squares = sizes * sizes
        dm = float(np.sum(np.where(outliers, self._n * sizes, squares)))
        return dm, float(np.sum(squares))

"""Optimal full-domain generalization with record suppression.

Each quasi-identifier (QI) ``j`` has a hierarchy with levels ``0..h_j``; a *node* of the
generalization lattice picks one level per QI. A node is *anonymous* when the records in
classes that fail a privacy model (its *outliers*) are few enough to suppress:
``outliers <= floor(suppression_limit * records)``. Among anonymous nodes we return the one
with the least information loss under a quality model (ties: lower lattice height, then the
lexicographically smaller node).

The search is exact and fast:

* The table is read once into an aggregate (distinct QI combinations and their counts; per
  sensitive attribute the (class, value) counts). Per-QI hierarchy codes and per-level code
  maps are computed once. A node is evaluated by mapping the codes to its levels, combining
  them into one mixed-radix int64 key and grouping with ``bincount``/``np.unique``.
* Classes are *rolled up*: a node's classes are computed from the classes of an already
  evaluated finer node (the cached predecessor with the fewest classes), not from the rows.
  This is sound because the hierarchies are consistent (a finer label has one coarser label).
* Nodes are visited in increasing order of a data-free lower bound of the quality model
  (the generalization part of the loss, which is monotone); the search stops when the bound
  exceeds the best loss found. When every privacy model is monotone (k-anonymity: if a node
  is anonymous, so are all its successors; if it fails, so do its predecessors) results are
  propagated to the up-set / down-set, as ARX's Flash does; non-monotone models (t-closeness
  or entropy l-diversity with suppression, delta-disclosure) are checked at every candidate.

``Anonymizer.evaluate_all()`` evaluates the whole lattice (depth-first, each node rolled up
from a neighbour) so that tests can check the optimum by brute force.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.risk.hierarchy import Hierarchy
from veil.risk.metrics import (
    DataSource,
    EquivalenceClasses,
    RiskReport,
    SensitiveCounts,
    aggregate,
    combine_codes,
    group_keys,
    iter_batches,
    per_class_delta,
    per_class_distinct,
    per_class_emd_equal,
    per_class_emd_hierarchical,
    per_class_emd_ordered,
    per_class_entropy,
    per_class_max_share,
    per_class_recursive_ratio,
    report,
)

__all__ = [
    "AlphaKAnonymity",
    "AnonymizationResult",
    "Anonymizer",
    "DeltaDisclosure",
    "Discernibility",
    "DistinctLDiversity",
    "EntropyLDiversity",
    "EqualDistanceTCloseness",
    "HierarchicalDistanceTCloseness",
    "KAnonymity",
    "LatticeEvaluation",
    "Loss",
    "NoSolution",
    "NodeEvaluation",
    "NonUniformEntropy",
    "OrderedDistanceTCloseness",
    "PrivacyModel",
    "QualityModel",
    "RecursiveCLDiversity",
    "anonymize",
]

_EPS = 1e-12
_MAX_LATTICE = 2_000_000
_CACHE_CLASSES = 2_000_000
_CACHE_NODES = 256


class NoSolution(PolicyError):
    """No node of the lattice satisfies the privacy models within the suppression limit."""


# ---------------------------------------------------------------------------------------------
# Privacy models
# ---------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class EntropyLDiversity(PrivacyModel):
    """Every class has sensitive-value entropy >= log(l) (Machanavajjhala et al. 2007)."""

    attribute: str
    l: float  # noqa: E741
    monotonic_suppression = False

    @property
    def min_class_size(self) -> int:
        return int(math.ceil(self.l - _EPS))

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return per_class_entropy(sc, sizes) < math.log(self.l) - _EPS


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

    def failing(self, sizes: np.ndarray, sc: SensitiveCounts | None) -> np.ndarray:
        assert sc is not None
        return per_class_delta(sc, sizes) >= self.delta


# ---------------------------------------------------------------------------------------------
# Lattice state
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class _Pairs:
    class_index: np.ndarray
    value_code: np.ndarray
    counts: np.ndarray


@dataclass(eq=False)
class _State:
    """Classes at one node: a representative input row per class, class sizes, pairs."""

    rep: np.ndarray
    sizes: np.ndarray
    pairs: dict[str, _Pairs]


def _factors(gs_factor: float) -> tuple[float, float]:
    """ARX's generalization / suppression factors from the gs-factor in [0, 1]."""
    if not 0.0 <= gs_factor <= 1.0:
        raise PolicyError(f"gs_factor must be in [0, 1], got {gs_factor}")
    s_factor = 2.0 * gs_factor if gs_factor < 0.5 else 1.0
    g_factor = 1.0 if gs_factor <= 0.5 else 1.0 - 2.0 * (gs_factor - 0.5)
    return g_factor, s_factor


# ---------------------------------------------------------------------------------------------
# Quality models
# ---------------------------------------------------------------------------------------------


class QualityModel(ABC):
    """Information loss of a node (lower is better)."""

    name: str = "quality"
    #: Visit candidates bottom-up (when the bound is weak and successors are pruned by the
    #: dynamic bound) instead of top-down (when a failing node should prune its down-set).
    bottom_up: bool = False

    @abstractmethod
    def prepare(self, lattice: Anonymizer) -> None:
        """Precompute per-column tables."""

    @abstractmethod
    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        """A data-free lower bound of the loss of each node, monotone in generalization."""

    @abstractmethod
    def loss(
        self, lattice: Anonymizer, node: np.ndarray, state: _State, outliers: np.ndarray
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

    def prepare(self, lattice: Anonymizer) -> None:
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
        self, lattice: Anonymizer, node: np.ndarray, state: _State, outliers: np.ndarray
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
    """ARX's Loss metric (``MetricMDNMLoss``, Iyengar 2002), geometric-mean aggregate.

    Per QI: each record costs the share of the hierarchy's values covered by its label
    (times g), a suppressed record costs 1 (s = 1) or ``share + s (1 - share)``; the sum is
    normalized to [0, 1] with ``min = g N / |domain|`` and ``max = N``. QIs are combined by
    ``prod (v_j + 1)^(1/d) - 1``.
    """

    name = "loss"

    def __init__(self, gs_factor: float = 0.5) -> None:
        self.gs_factor = gs_factor
        self.g_factor, self.s_factor = _factors(gs_factor)
        self._share: list[list[np.ndarray]] = []
        self._gen_raw: list[np.ndarray] = []
        self._min: list[float] = []
        self._n = 0.0

    def prepare(self, lattice: Anonymizer) -> None:
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
        d = len(values)
        acc = np.ones_like(values[0])
        for v in values:
            acc = acc * np.power(v + 1.0, 1.0 / d)
        return acc - 1.0

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return self._aggregate(
            [self._normalize(raw[nodes[:, j]], j) for j, raw in enumerate(self._gen_raw)]
        )

    def loss(
        self, lattice: Anonymizer, node: np.ndarray, state: _State, outliers: np.ndarray
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
        return float(self._aggregate(values)[0]), None


class Discernibility(QualityModel):
    """ARX's discernibility (``MetricSDNMDiscernability``, Bayardo & Agrawal 2005):
    ``sum |E|^2`` over kept classes plus ``N |E|`` for every suppressed class."""

    name = "discernibility"
    bottom_up = True

    def __init__(self) -> None:
        self._n = 0.0

    def prepare(self, lattice: Anonymizer) -> None:
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
        self, lattice: Anonymizer, node: np.ndarray, state: _State, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        sizes = state.sizes.astype(float)
        squares = sizes * sizes
        dm = float(np.sum(np.where(outliers, self._n * sizes, squares)))
        return dm, float(np.sum(squares))


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeEvaluation:
    """One lattice node: is it anonymous, how many records it suppresses, its loss."""

    node: tuple[int, ...]
    anonymous: bool
    suppressed: int
    classes: int
    loss: float


@dataclass(frozen=True)
class LatticeEvaluation:
    """Every node of the lattice (``nodes[i]`` levels, the others per node)."""

    nodes: np.ndarray
    anonymous: np.ndarray
    suppressed: np.ndarray
    loss: np.ndarray

    def optimum(self) -> int:
        """Index of the best anonymous node: least loss, then height, then levels."""
        idx = np.flatnonzero(self.anonymous)
        if not len(idx):
            return -1
        heights = self.nodes[idx].sum(axis=1)
        keys = [self.nodes[idx, j] for j in range(self.nodes.shape[1] - 1, -1, -1)]
        order = np.lexsort((*keys, heights, self.loss[idx]))
        return int(idx[order[0]])


@dataclass(frozen=True, eq=False)
class AnonymizationResult:
    """The optimal node and what applying it does to the table."""

    quasi_identifiers: tuple[str, ...]
    node: tuple[int, ...]
    quality_model: str
    info_loss: float
    records: int
    suppressed_records: int
    suppression_limit: float
    before: RiskReport
    after: RiskReport | None
    nodes_total: int
    nodes_evaluated: int
    elapsed_seconds: float
    hierarchies: tuple[Hierarchy, ...] = field(repr=False)
    _class_codes: np.ndarray = field(repr=False)
    _suppressed_class: np.ndarray = field(repr=False)

    @property
    def levels(self) -> dict[str, int]:
        return dict(zip(self.quasi_identifiers, self.node, strict=True))

    @property
    def suppressed_share(self) -> float:
        return self.suppressed_records / self.records

    def to_dict(self) -> dict[str, Any]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "levels": self.levels,
            "quality_model": self.quality_model,
            "info_loss": self.info_loss,
            "records": self.records,
            "suppressed_records": self.suppressed_records,
            "suppressed_share": self.suppressed_share,
            "suppression_limit": self.suppression_limit,
            "nodes_total": self.nodes_total,
            "nodes_evaluated": self.nodes_evaluated,
            "elapsed_seconds": self.elapsed_seconds,
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after is not None else None,
        }

    def apply(
        self, data: DataSource, *, suppression: Literal["remove", "mask"] = "remove"
    ) -> Iterator[pa.RecordBatch]:
        """Generalize the QIs of each batch to the node and suppress the outliers.

        ``remove`` drops suppressed records; ``mask`` keeps them with every QI set to ``*``
        (QIs then become strings). The stream must be the one that was measured: a record
        whose generalized QIs form a class unknown to the search is an :class:`InputError`.
        """
        if suppression not in ("remove", "mask"):
            raise PolicyError(f"suppression must be 'remove' or 'mask', not {suppression!r}")
        radices = [h.domain_size(lv) for h, lv in zip(self.hierarchies, self.node, strict=True)]
        index = _RowIndex(self._class_codes, radices)
        offset = 0
        for batch in iter_batches(data):
            n = batch.num_rows
            level_cols = []
            for h, lv, q in zip(self.hierarchies, self.node, self.quasi_identifiers, strict=True):
                if q not in batch.schema.names:
                    raise InputError(f"column '{q}' is not in the data")
                leaf = h.encode(batch.column(q), row_offset=offset)
                level_cols.append(h.code_map[leaf, lv])
            idx = index.lookup(np.stack(level_cols, axis=1))
            if (idx < 0).any():
                row = offset + int(np.flatnonzero(idx < 0)[0])
                raise InputError(
                    f"row {row} (0-based) falls in an equivalence class the search never saw: "
                    f"the data changed since it was measured"
                )
            suppressed = self._suppressed_class[idx]
            columns = []
            for name in batch.schema.names:
                col = batch.column(name)
                if name in self.quasi_identifiers:
                    j = self.quasi_identifiers.index(name)
                    h, lv = self.hierarchies[j], self.node[j]
                    if lv > 0:
                        col = h.labels(lv).take(pa.array(level_cols[j]))
                    if suppression == "mask":  # always strings: one schema for every batch
                        col = pc.cast(col, pa.string())
                        if suppressed.any():
                            col = pc.if_else(pa.array(suppressed), pa.scalar("*"), col)
                columns.append(col)
            out = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
            if suppression == "remove" and suppressed.any():
                out = out.filter(pa.array(~suppressed))
            offset += n
            yield out


class _RowIndex:
    """Finds the row of a fixed table of code rows equal to each query row (-1 if none).

    Mixed-radix keys when the radices fit 62 bits (the table is sorted once); otherwise keys
    are ranked over the table and each query together (slower, exact)."""

    def __init__(self, table: np.ndarray, radices: Sequence[int]) -> None:
        self.table = table
        self.radices = list(radices)
        self.direct = math.prod(max(r, 1) for r in radices) < (1 << 62)
        if self.direct:
            keys, _ = combine_codes([table[:, j] for j in range(table.shape[1])], radices)
            self.order = np.argsort(keys, kind="stable")
            self.sorted = keys[self.order]

    def lookup(self, query: np.ndarray) -> np.ndarray:
        d = self.table.shape[1]
        if self.direct:
            order, sorted_keys = self.order, self.sorted
            qkeys, _ = combine_codes([query[:, j] for j in range(d)], self.radices)
        else:
            both = np.concatenate([self.table, query])
            keys, _ = combine_codes([both[:, j] for j in range(d)], self.radices)
            tkeys, qkeys = keys[: len(self.table)], keys[len(self.table) :]
            order = np.argsort(tkeys, kind="stable")
            sorted_keys = tkeys[order]
        if not len(sorted_keys):
            return np.full(len(qkeys), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_keys, qkeys), 0, len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == qkeys, order[pos], -1)


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


class Anonymizer:
    """Lattice search over an aggregate (see the module docstring)."""

    def __init__(
        self,
        classes: EquivalenceClasses,
        hierarchies: Mapping[str, Hierarchy],
        models: Sequence[PrivacyModel],
        *,
        suppression_limit: float = 0.0,
        quality: QualityModel | None = None,
    ) -> None:
        if not models:
            raise PolicyError("at least one privacy model is required")
        if not 0.0 <= suppression_limit <= 1.0:
            raise PolicyError(f"suppression limit must be in [0, 1], got {suppression_limit}")
        self.quasi_identifiers = classes.quasi_identifiers
        for q in self.quasi_identifiers:
            if q not in hierarchies:
                raise PolicyError(f"quasi-identifier '{q}' has no generalization hierarchy")
        self.hierarchies = tuple(hierarchies[q] for q in self.quasi_identifiers)
        for m in models:
            if m.attribute is not None and m.attribute not in classes.sensitive:
                raise PolicyError(
                    f"{type(m).__name__} refers to '{m.attribute}', which was not aggregated "
                    f"as a sensitive attribute"
                )
        self.classes = classes
        self.models = tuple(models)
        self.suppression_limit = suppression_limit
        self.quality = quality if quality is not None else NonUniformEntropy()
        self.records = classes.records
        self.max_outliers = int(math.floor(suppression_limit * self.records + 1e-9))
        self._monotone_models = tuple(
            m
            for m in self.models
            if (m.monotonic_suppression if self.max_outliers > 0 else m.monotonic_generalization)
        )
        self.monotone = len(self._monotone_models) == len(self.models)
        d = len(self.quasi_identifiers)
        # Input rows: hierarchy codes of each distinct combination (checked: raises on gaps).
        leaf_maps = [
            h.encode(classes.dictionaries[j], row_offset=None)
            for j, h in enumerate(self.hierarchies)
        ]
        self.codes0 = np.stack(
            [leaf_maps[j][classes.codes[:, j]] for j in range(d)], axis=1
        ).astype(np.int64)
        self.sizes0 = classes.sizes.astype(np.int64)
        self.value_counts = [
            np.bincount(
                self.codes0[:, j], weights=self.sizes0, minlength=self.hierarchies[j].domain_size(0)
            ).astype(np.int64)
            for j in range(d)
        ]
        self._radix = [[h.domain_size(lv) for lv in range(h.levels)] for h in self.hierarchies]
        self._maps = [h.code_map for h in self.hierarchies]
        # contiguous per-level maps and per-column codes; when small enough, the level code
        # of every input row at every level (one gather per column per node)
        self._level_maps = [
            [np.ascontiguousarray(h.code_map[:, lv]) for lv in range(h.levels)]
            for h in self.hierarchies
        ]
        self._columns0 = [np.ascontiguousarray(self.codes0[:, j]) for j in range(d)]
        self._row_levels: list[list[np.ndarray]] | None = None
        if len(self.sizes0) * sum(h.levels for h in self.hierarchies) <= (1 << 24):
            self._row_levels = [
                [m[self._columns0[j]] for m in self._level_maps[j]] for j in range(d)
            ]
        self.sensitive: dict[str, SensitiveCounts] = dict(classes.sensitive)
        self._reference = {a: sc.totals() for a, sc in self.sensitive.items()}
        shape = tuple(h.levels for h in self.hierarchies)
        total = math.prod(shape)
        if total > _MAX_LATTICE:
            raise PolicyError(
                f"the generalization lattice has {total} nodes (more than {_MAX_LATTICE}); "
                f"use fewer quasi-identifiers or hierarchy levels"
            )
        self.shape = shape
        self.nodes = np.indices(shape).reshape(d, -1).T.astype(np.int64)
        self.heights = self.nodes.sum(axis=1)
        self.quality.prepare(self)
        raw = _State(
            rep=np.arange(len(self.sizes0), dtype=np.int64),
            sizes=self.sizes0,
            pairs={
                a: _Pairs(sc.class_index, sc.value_code, sc.counts)
                for a, sc in self.sensitive.items()
            },
        )
        self.bottom = self._derive(np.zeros(d, dtype=np.int64), raw)
        self._cache: dict[tuple[int, ...], _State] = {}
        self._cache_levels = np.empty((0, d), dtype=np.int64)
        self._cache_keys: list[tuple[int, ...]] = []
        self._remember(np.zeros(d, dtype=np.int64), self.bottom, pinned=True)
        self._prepare_quick()

    # -- per-node computation ----------------------------------------------------------------

    def level_codes(self, j: int, rows: np.ndarray, level: int) -> np.ndarray:
        """Level-``level`` codes of QI ``j`` for input rows ``rows``."""
        if self._row_levels is not None:
            return self._row_levels[j][level][rows]
        return self._level_maps[j][level][self._columns0[j][rows]]

    def _derive(self, node: np.ndarray, base: _State) -> _State:
        """Classes at ``node`` rolled up from the classes of a finer node ``base``."""
        cols = [self.level_codes(j, base.rep, int(node[j])) for j in range(len(node))]
        key, space = combine_codes(cols, [self._radix[j][int(node[j])] for j in range(len(node))])
        inverse, first, groups = group_keys(key, space)
        sizes = np.bincount(inverse, weights=base.sizes, minlength=groups).astype(np.int64)
        pairs = {}
        for a, p in base.pairs.items():
            m = len(self.sensitive[a].values)
            cls = inverse[p.class_index]
            pkey = cls * m + p.value_code
            pinv, pfirst, pgroups = group_keys(pkey, groups * m)
            pairs[a] = _Pairs(
                class_index=cls[pfirst],
                value_code=p.value_code[pfirst],
                counts=np.bincount(pinv, weights=p.counts, minlength=pgroups).astype(np.int64),
            )
        return _State(rep=base.rep[first], sizes=sizes, pairs=pairs)

    def _remember(self, node: np.ndarray, state: _State, pinned: bool = False) -> None:
        key = tuple(int(x) for x in node)
        if key in self._cache:
            return
        held = sum(len(s.rep) for s in self._cache.values())
        while self._cache_keys[1:] and (
            held + len(state.rep) > _CACHE_CLASSES or len(self._cache_keys) >= _CACHE_NODES
        ):
            old = self._cache_keys.pop(1)  # keep the bottom (index 0)
            held -= len(self._cache.pop(old).rep)
            self._cache_levels = np.delete(self._cache_levels, 1, axis=0)
        self._cache[key] = state
        self._cache_keys.append(key)
        self._cache_levels = np.vstack([self._cache_levels, node[None, :]])

    def state(self, node: Sequence[int] | np.ndarray) -> _State:
        """Classes at ``node`` (rolled up from the best cached finer node, then cached)."""
        node = np.asarray(node, dtype=np.int64)
        key = tuple(int(x) for x in node)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        below = np.flatnonzero(np.all(self._cache_levels <= node, axis=1))
        sizes = [len(self._cache[self._cache_keys[i]].rep) for i in below]
        base = self._cache[self._cache_keys[int(below[int(np.argmin(sizes))])]]
        result = self._derive(node, base)
        self._remember(node, result)
        return result

    def _node_sensitive(self, state: _State, attribute: str) -> SensitiveCounts:
        p = state.pairs[attribute]
        sc = self.sensitive[attribute]
        return SensitiveCounts(
            attribute,
            sc.values,
            p.class_index,
            p.value_code,
            p.counts,
            reference=self._reference[attribute],
        )

    def outliers(self, state: _State) -> np.ndarray:
        """Classes failing at least one privacy model."""
        fails = np.zeros(len(state.sizes), dtype=bool)
        for m in self.models:
            sc = self._node_sensitive(state, m.attribute) if m.attribute is not None else None
            fails |= m.failing(state.sizes, sc)
        return fails

    def _check(self, node: np.ndarray, state: _State) -> tuple[np.ndarray, int, bool]:
        out = self.outliers(state)
        suppressed = int(state.sizes[out].sum())
        return out, suppressed, suppressed <= self.max_outliers

    def _fails_monotone_part(self, state: _State) -> bool:
        """Do the monotone models alone suppress too much? Then every predecessor fails too,
        whatever the other models say (their outliers only add to these)."""
        fails = np.zeros(len(state.sizes), dtype=bool)
        for m in self._monotone_models:
            sc = self._node_sensitive(state, m.attribute) if m.attribute is not None else None
            fails |= m.failing(state.sizes, sc)
        return int(state.sizes[fails].sum()) > self.max_outliers

    def evaluate(self, node: Sequence[int]) -> NodeEvaluation:
        """Evaluate one node (the loss is computed even when it is not anonymous)."""
        arr = self._validate_node(node)
        st = self.state(arr)
        out, suppressed, anon = self._check(arr, st)
        loss, _ = self.quality.loss(self, arr, st, out)
        return NodeEvaluation(tuple(int(x) for x in arr), anon, suppressed, len(st.sizes), loss)

    def _validate_node(self, node: Sequence[int]) -> np.ndarray:
        arr = np.asarray(node, dtype=np.int64)
        if arr.shape != (len(self.shape),) or (arr < 0).any() or (arr >= self.shape).any():
            raise PolicyError(f"node {tuple(node)} is not in the lattice {self.shape}")
        return arr

    def evaluate_all(self) -> LatticeEvaluation:
        """Evaluate every node (brute force; each node rolled up from a neighbour)."""
        n = len(self.nodes)
        anonymous = np.zeros(n, dtype=bool)
        suppressed = np.zeros(n, dtype=np.int64)
        loss = np.full(n, np.nan)
        strides = np.array(
            [math.prod(self.shape[j + 1 :]) for j in range(len(self.shape))], dtype=np.int64
        )
        d = len(self.shape)

        def visit(j: int, node: np.ndarray, st: _State) -> None:
            if j == d:
                i = int(node @ strides)
                out, sup, anon = self._check(node, st)
                anonymous[i], suppressed[i] = anon, sup
                loss[i] = self.quality.loss(self, node, st, out)[0]
                return
            cur = st
            for lv in range(self.shape[j]):
                if lv:
                    node = node.copy()
                    node[j] = lv
                    cur = self._derive(node, cur)
                visit(j + 1, node, cur)

        visit(0, np.zeros(d, dtype=np.int64), self.bottom)
        return LatticeEvaluation(self.nodes, anonymous, suppressed, loss)

    # -- the search ------------------------------------------------------------------------------

    # -- quick failure test -------------------------------------------------------------------

    def _prepare_quick(self) -> None:
        """Hashed level codes of the bottom classes, for :meth:`_quick_suppressed`."""
        self._k_min = max((m.min_class_size for m in self.models), default=1)
        rows = len(self.bottom.rep)
        self._quick_bits = int(min(max(math.ceil(math.log2(max(rows, 2))) + 3, 16), 24))
        rng = np.random.default_rng(0x7EE1)
        self._salts = [
            [
                rng.integers(0, 1 << 63, size=h.domain_size(lv), dtype=np.uint64) * np.uint64(2)
                + np.uint64(1)
                for lv in range(h.levels)
            ]
            for h in self.hierarchies
        ]
        self._hashed: list[list[np.ndarray]] | None = None
        if rows * sum(h.levels for h in self.hierarchies) <= (1 << 24):
            self._hashed = [
                [salt[self.level_codes(j, self.bottom.rep, lv)] for lv, salt in enumerate(salts)]
                for j, salts in enumerate(self._salts)
            ]
        self._bottom_weights = self.bottom.sizes.astype(float)

    def _quick_suppressed(self, node: np.ndarray) -> int:
        """A lower bound of the records in classes smaller than ``k_min`` at ``node``.

        The bottom classes are hashed into 2^b buckets by a random 64-bit sum of their labels
        at the node's levels. A bucket holds a whole class (and, rarely, several): so a record
        in a bucket smaller than k is in a class smaller than k. Merging classes only makes
        buckets larger, so the count never exceeds the truth: a node whose bound is above the
        suppression limit surely fails, without the exact (sorting) evaluation.
        """
        d = len(node)
        if self._hashed is not None:
            key = self._hashed[0][int(node[0])].copy()
            for j in range(1, d):
                key += self._hashed[j][int(node[j])]
        else:
            rep = self.bottom.rep
            key = self._salts[0][int(node[0])][self.level_codes(0, rep, int(node[0]))]
            for j in range(1, d):
                key += self._salts[j][int(node[j])][self.level_codes(j, rep, int(node[j]))]
        bins = (key >> np.uint64(64 - self._quick_bits)).astype(np.intp)
        w = self._bottom_weights
        counts = np.bincount(bins, weights=w, minlength=1 << self._quick_bits)
        return int(w[counts[bins] < self._k_min].sum())

    # -- the search ------------------------------------------------------------------------------

    def search(self) -> tuple[NodeEvaluation, int]:
        """The optimal anonymous node and the number of nodes evaluated exactly.

        1. An incumbent: greedy descent from the top node, always to the anonymous direct
           predecessor of least loss.
        2. Candidates are the nodes whose lower bound does not exceed the best loss so far,
           classified top-down (highest first): a node that fails the monotone models takes
           its whole down-set with it; when every model is monotone an anonymous node takes
           its up-set too. Classification tries the hashed lower bound of suppression first
           and the exact evaluation only when that does not settle it. Anonymous candidates
           get their loss computed; every improvement shrinks the candidate set. (Quality
           models with ``bottom_up`` visit bottom-up instead, to use their dynamic bound.)
        """
        nodes, heights = self.nodes, self.heights
        n, d = nodes.shape
        bounds = self.quality.static_bounds(nodes)
        dynamic = bounds.copy()
        unknown, anonymous, failed = 0, 1, 2
        status = np.zeros(n, dtype=np.int8)
        done = np.zeros(n, dtype=bool)
        strides = np.array([math.prod(self.shape[j + 1 :]) for j in range(d)], dtype=np.int64)
        best: tuple[float, int, tuple[int, ...]] | None = None
        best_eval: NodeEvaluation | None = None
        self.stats = {"exact": 0, "quick": 0, "quick_failed": 0}
        states: dict[int, tuple[_State, np.ndarray, int]] = {}

        def mark(i: int, anon: bool, monotone_failure: bool = False) -> None:
            if anon and self.monotone:
                status[np.all(nodes >= nodes[i], axis=1)] = anonymous
            elif not anon and (self.monotone or monotone_failure):
                status[np.all(nodes <= nodes[i], axis=1)] = failed
            status[i] = anonymous if anon else failed

        def classify(i: int) -> bool:
            if status[i] != unknown:
                return bool(status[i] == anonymous)
            if self._k_min > 1:
                self.stats["quick"] += 1
                if self._quick_suppressed(nodes[i]) > self.max_outliers:
                    # classes smaller than k_min fail a monotone model (k-anonymity)
                    self.stats["quick_failed"] += 1
                    mark(i, False, monotone_failure=True)
                    return False
            st = self.state(nodes[i])
            out, sup, anon = self._check(nodes[i], st)
            self.stats["exact"] += 1
            if anon:  # kept for consider(), which follows at once
                states[i] = (st, out, sup)
            mark(
                i,
                anon,
                monotone_failure=not anon
                and not self.monotone
                and bool(self._monotone_models)
                and self._fails_monotone_part(st),
            )
            return anon

        def consider(i: int) -> float:
            nonlocal best, best_eval
            done[i] = True
            if i in states:
                st, out, sup = states.pop(i)
            else:
                st = self.state(nodes[i])
                out, sup, _ = self._check(nodes[i], st)
                self.stats["exact"] += 1
            loss, bound = self.quality.loss(self, nodes[i], st, out)
            if bound is not None:
                up = np.all(nodes >= nodes[i], axis=1)
                dynamic[up] = np.maximum(dynamic[up], bound)
            cand = (loss, int(heights[i]), tuple(int(x) for x in nodes[i]))
            if best is None or cand < best:
                best = cand
                best_eval = NodeEvaluation(cand[2], True, sup, len(st.sizes), loss)
            return loss

        # 1. incumbent by greedy descent (a heuristic: it only makes the bound tight early)
        current = n - 1  # the top node
        while classify(current):
            if not done[current]:
                consider(current)
            choice, choice_loss = -1, math.inf
            for j in range(d):
                if nodes[current, j] == 0:
                    continue
                p = current - int(strides[j])
                if classify(p):
                    loss = consider(p) if not done[p] else math.inf
                    if loss < choice_loss:
                        choice, choice_loss = p, loss
            if choice < 0:
                break
            current = choice

        # 2. candidates, in one pass over a fixed order (the limit only ever shrinks, so a
        #    node skipped for its bound stays skippable).
        def limit() -> float:
            return math.inf if best is None else best[0] + 1e-9 * max(1.0, abs(best[0]))

        if self.quality.bottom_up:
            order = np.lexsort((bounds, heights))  # bottom-up: bounds prune up-sets
        else:
            order = np.lexsort((bounds, -heights))  # top-down: failures prune down-sets
        for i in order.tolist():
            if done[i] or status[i] == failed:
                continue
            lim = limit()
            if bounds[i] > lim or dynamic[i] > lim:
                continue
            if classify(i):
                consider(i)
            else:
                done[i] = True
        if best_eval is None:
            raise NoSolution(
                "no generalization satisfies the privacy models within the suppression limit "
                f"({self.suppression_limit:.2%} of {self.records} records)"
            )
        return best_eval, self.stats["exact"]

    # -- after -------------------------------------------------------------------------------

    def released_classes(
        self, node: Sequence[int]
    ) -> tuple[EquivalenceClasses | None, _State, np.ndarray]:
        """The classes that ``node`` releases (suppressed ones removed), the node's state and
        its outlier mask. Sensitive distributions keep the input as reference."""
        arr = self._validate_node(node)
        st = self.state(arr)
        out = self.outliers(st)
        keep = ~out
        codes = np.stack(
            [self.level_codes(j, st.rep, int(arr[j])) for j in range(len(arr))], axis=1
        )
        if not keep.any():
            return None, st, out
        new_index = np.cumsum(keep) - 1
        sensitive = {}
        for a, p in st.pairs.items():
            mask = keep[p.class_index]
            sensitive[a] = SensitiveCounts(
                a,
                self.sensitive[a].values,
                new_index[p.class_index[mask]],
                p.value_code[mask],
                p.counts[mask],
                reference=self._reference[a],
            )
        ec = EquivalenceClasses(
            self.quasi_identifiers,
            tuple(h.labels(int(lv)) for h, lv in zip(self.hierarchies, arr, strict=True)),
            codes[keep],
            st.sizes[keep],
            sensitive,
        )
        return ec, st, out


def anonymize(
    data: DataSource | EquivalenceClasses,
    hierarchies: Mapping[str, Hierarchy],
    models: Sequence[PrivacyModel],
    *,
    suppression_limit: float = 0.0,
    quality: QualityModel | None = None,
    quasi_identifiers: Sequence[str] | None = None,
    risk_threshold: float = 0.2,
    sensitive_hierarchies: Mapping[str, Hierarchy] | None = None,
    sensitive_orders: Mapping[str, Sequence[object]] | None = None,
    report_options: Mapping[str, Any] | None = None,
) -> AnonymizationResult:
    """Find the optimal full-domain generalization (with suppression) of a table.

    The QIs are ``quasi_identifiers`` (default: the keys of ``hierarchies``, in order); the
    sensitive attributes are those the models name. The data is read once; every QI value is
    checked against its hierarchy as it is read. Use ``result.apply(stream)`` for the second
    pass that writes the anonymized batches.
    """
    started = time.perf_counter()
    qis = tuple(quasi_identifiers) if quasi_identifiers is not None else tuple(hierarchies)
    for q in qis:
        if q not in hierarchies:
            raise PolicyError(f"quasi-identifier '{q}' has no generalization hierarchy")
    sensitive = tuple(dict.fromkeys(m.attribute for m in models if m.attribute is not None))
    ec = aggregate(data, qis, sensitive, hierarchies={q: hierarchies[q] for q in qis})
    engine = Anonymizer(
        ec, hierarchies, models, suppression_limit=suppression_limit, quality=quality
    )
    best, evaluated = engine.search()
    elapsed = time.perf_counter() - started
    opts: dict[str, Any] = {
        "risk_threshold": risk_threshold,
        "sensitive_hierarchies": sensitive_hierarchies,
        "sensitive_orders": sensitive_orders,
        **dict(report_options or {}),
    }
    before = report(ec, **opts)
    released, st, out = engine.released_classes(best.node)
    after = report(released, **opts) if released is not None else None
    codes = np.stack([engine.level_codes(j, st.rep, best.node[j]) for j in range(len(qis))], axis=1)
    return AnonymizationResult(
        quasi_identifiers=qis,
        node=best.node,
        quality_model=engine.quality.name,
        info_loss=best.loss,
        records=engine.records,
        suppressed_records=best.suppressed,
        suppression_limit=suppression_limit,
        before=before,
        after=after,
        nodes_total=len(engine.nodes),
        nodes_evaluated=evaluated,
        elapsed_seconds=elapsed,
        hierarchies=engine.hierarchies,
        _class_codes=codes,
        _suppressed_class=out,
    )

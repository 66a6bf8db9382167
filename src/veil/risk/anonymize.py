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

Where the parts live: the privacy models in :mod:`veil.risk.privacy`, the quality
models in :mod:`veil.risk.quality`, the classes at a node and their roll-up in
:mod:`veil.risk.lattice`, the quick suppression bound in :mod:`veil.risk.small_classes`, the
search in :mod:`veil.risk.search`, the result and its second pass in :mod:`veil.risk.result`.
:class:`Anonymizer` composes them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from veil.errors import PolicyError
from veil.risk.classes import (
    DataSource,
    EquivalenceClasses,
    SensitiveCounts,
    aggregate,
    aggregate_with_population,
)
from veil.risk.hierarchy import Hierarchy
from veil.risk.lattice import (
    ClassState,
    LatticeEvaluation,
    LevelCodes,
    NodeEvaluation,
    RollUp,
)
from veil.risk.metrics import report
from veil.risk.privacy import (
    AlphaKAnonymity,
    DeltaDisclosure,
    DistinctLDiversity,
    EntropyLDiversity,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
    KAnonymity,
    OrderedDistanceTCloseness,
    PresentCaps,
    PrivacyModel,
    RecursiveCLDiversity,
)
from veil.risk.quality import Discernibility, Loss, NonUniformEntropy, QualityModel
from veil.risk.result import AnonymizationResult
from veil.risk.search import LatticeSearch
from veil.risk.small_classes import SmallClassBound
from veil.risk.table_models import TableModel
from veil.risk.utility import utility_of

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

_MAX_LATTICE = 2_000_000


class NoSolution(PolicyError):
    """No node of the lattice satisfies the privacy models within the suppression limit."""


class Anonymizer:
    """Lattice search over an aggregate (see the module docstring).

    Composes the encoded classes (:class:`~veil.risk.lattice.LevelCodes`), their roll-up to
    any node (:class:`~veil.risk.lattice.RollUp`), the quality model, the quick suppression
    bound and the search; it decides which classes of a node are outliers.
    """

    def __init__(
        self,
        classes: EquivalenceClasses,
        hierarchies: Mapping[str, Hierarchy],
        models: Sequence[PrivacyModel],
        *,
        suppression_limit: float = 0.0,
        quality: QualityModel | None = None,
    ) -> None:
        _check_setup(classes, hierarchies, models, suppression_limit)
        self.quasi_identifiers = classes.quasi_identifiers
        self.hierarchies = tuple(hierarchies[q] for q in self.quasi_identifiers)
        self.classes = classes
        self.records = classes.records
        self.models = tuple(m.bind(self.records) for m in models)
        self.table_models = tuple(m for m in self.models if isinstance(m, TableModel))
        self.class_models = tuple(m for m in self.models if not isinstance(m, TableModel))
        self.presence_models = tuple(
            m for m in self.models if getattr(m, "needs_population", False)
        )
        self.suppression_limit = suppression_limit
        self.quality = quality if quality is not None else NonUniformEntropy()
        self.max_outliers = int(math.floor(suppression_limit * self.records + 1e-9))
        #: the models whose failures propagate to a node's down-set (with suppression:
        #: monotone under suppression; without: under generalization)
        self.monotone_models = tuple(
            m
            for m in self.models
            if (m.monotonic_suppression if self.max_outliers > 0 else m.monotonic_generalization)
        )
        self.monotone = len(self.monotone_models) == len(self.models)
        # Input rows: hierarchy codes of each distinct combination (checked: raises on gaps).
        self.codes = LevelCodes(classes, self.hierarchies)
        self.codes0, self.sizes0 = self.codes.codes0, self.codes.sizes0
        self.value_counts = self.codes.value_counts
        self.sensitive: dict[str, SensitiveCounts] = dict(classes.sensitive)
        self._views: tuple[ClassState, dict[str, SensitiveCounts]] | None = None
        self._reference = {a: sc.totals() for a, sc in self.sensitive.items()}
        self.shape = _lattice_shape(self.hierarchies)
        d = len(self.shape)
        self.nodes = np.indices(self.shape).reshape(d, -1).T.astype(np.int64)
        self.heights = self.nodes.sum(axis=1)
        self.quality.prepare(self)
        self.rollup = RollUp(
            self.codes,
            {a: len(sc.values) for a, sc in self.sensitive.items()},
            self.codes.input_state(self.sensitive),
        )
        self.bottom = self.rollup.bottom
        #: classes smaller than this fail some model whatever their content: the quick
        #: failure test counts their records, and k-anonymity with this k, monotone, lets a
        #: node that suppresses too many of them fail its whole down-set
        self.k_min = max((self._smallest_passing(m) for m in self.models), default=1)
        if self.k_min > 1 and not self.monotone:
            self.monotone_models = (*self.monotone_models, KAnonymity(self.k_min))
        if not self.monotone:
            self.monotone_models = (*self.monotone_models, *self._present_caps())
        #: the other models that bound what their failing classes cost every predecessor
        self.excess_models = tuple(
            m
            for m in self.class_models
            if m not in self.monotone_models
            and (type(m).excess is not PrivacyModel.excess or getattr(m, "needs_population", False))
        )
        self.small_classes = SmallClassBound(
            self.hierarchies, self.bottom, self.codes.level_codes, self.k_min
        )

    def _present_caps(self) -> list[PresentCaps]:
        """The monotone parts (:class:`~veil.risk.privacy.PresentCaps`) of the models that
        are not monotone themselves."""
        out = []
        for m in self.models:
            if (
                m in self.monotone_models
                or m.attribute is None
                or m.attribute not in self._reference
            ):
                continue
            ref = self._reference[m.attribute]
            total = ref.sum()
            caps = m.present_caps(ref / total) if total else None
            if caps is not None:
                out.append(PresentCaps(m.attribute, np.asarray(caps, dtype=float)))
        return out

    def prefers_top_down(self) -> bool:
        """Should a search with non-monotone models go top-down? Only a speed choice (the
        result is the same): top-down lets failures of the monotone parts prune down-sets,
        bottom-up rolls each node up from small, just evaluated predecessors. Top-down pays
        when the monotone parts and the excess bounds (:meth:`suppressed_lower_bound`) make
        the middle of the lattice suppress at least half what is allowed (one roll-up to
        find out; on Adult top-down was faster for every model with a bound of at least
        0.86 times the limit there, as fast at 0.52)."""
        if self.monotone or not self.prunes_down_sets():
            return self.monotone
        middle = np.array([(s - 1) // 2 for s in self.shape], dtype=np.int64)
        return 2 * self.suppressed_lower_bound(self.state(middle)) >= max(self.max_outliers, 1)

    def _smallest_passing(self, m: PrivacyModel) -> int:
        ref = self._reference.get(m.attribute) if m.attribute is not None else None
        if ref is None:
            return m.smallest_passing_size(None)
        total = ref.sum()
        return m.smallest_passing_size(ref / total if total else ref.astype(float))

    # -- classes at a node -------------------------------------------------------------------

    def level_codes(self, j: int, rows: np.ndarray, level: int) -> np.ndarray:
        """Level-``level`` codes of QI ``j`` for input rows ``rows``."""
        return self.codes.level_codes(j, rows, level)

    def state(self, node: Sequence[int] | np.ndarray) -> ClassState:
        """Classes at ``node`` (rolled up from the best cached finer node, then cached)."""
        return self.rollup.state(np.asarray(node, dtype=np.int64))

    # -- which classes fail ------------------------------------------------------------------

    def _node_sensitive(self, state: ClassState, attribute: str) -> SensitiveCounts:
        """The node's (class, value) counts as the models read them; the same object for
        the same node (its per-pair arrays are computed once, see
        :class:`~veil.risk.classes.SensitiveCounts`), kept for the last node asked about."""
        if self._views is None or self._views[0] is not state:
            self._views = (state, {})
        views = self._views[1]
        hit = views.get(attribute)
        if hit is None:
            p = state.pairs[attribute]
            hit = views[attribute] = SensitiveCounts(
                attribute,
                self.sensitive[attribute].values,
                p.class_index,
                p.value_code,
                p.counts,
                reference=self._reference[attribute],
            )
        return hit

    def _failing(self, state: ClassState, models: Sequence[PrivacyModel]) -> np.ndarray:
        fails = np.zeros(len(state.sizes), dtype=bool)
        for m in models:
            if isinstance(m, TableModel):
                continue
            if getattr(m, "needs_population", False):
                assert state.population is not None
                fails |= m.failing_presence(state.sizes, state.population)  # type: ignore[attr-defined]
                continue
            sc = self._node_sensitive(state, m.attribute) if m.attribute is not None else None
            fails |= m.failing(state.sizes, sc)
        return fails

    def outliers(self, state: ClassState) -> np.ndarray:
        """Classes to suppress: those failing a per-class model, then the smallest ones a
        table model needs suppressed (see :mod:`veil.risk.table_models`)."""
        out = self._failing(state, self.class_models)
        for m in self.table_models:
            budget = self.max_outliers - int(state.sizes[out].sum())
            out |= m.to_suppress(state.sizes, ~out, budget=max(budget, 0))
        return out

    def _presence_blocked(self, state: ClassState) -> bool:
        """Does a population class without sample records fail delta-presence? Its records
        are public and cannot be suppressed: no suppression makes the node anonymous."""
        if not self.presence_models or state.population is None:
            return False
        empty = state.sizes == 0
        if not empty.any():
            return False
        for m in self.presence_models:
            fails = m.failing_presence(state.sizes, state.population)  # type: ignore[attr-defined]
            if (fails & empty).any():
                return True
        return False

    def check(self, node: np.ndarray, state: ClassState) -> tuple[np.ndarray, int, bool]:
        """(outlier mask, suppressed records, anonymous?) of the classes at ``node``."""
        out = self.outliers(state)
        suppressed = int(state.sizes[out].sum())
        anonymous = suppressed <= self.max_outliers and not self._presence_blocked(state)
        return out, suppressed, anonymous

    def check_many(
        self, state: ClassState, bounds: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """:meth:`check` of several nodes at once, their classes joined in ``state`` (node
        ``t``'s are ``bounds[t]:bounds[t + 1]``, see :mod:`veil.risk.batch`): (outlier mask
        of the joined classes, suppressed records per node, anonymous per node). None when a
        table model is involved (its outliers depend on the whole node)."""
        if self.table_models:
            return None
        out = self._failing(state, self.class_models)
        m = len(bounds) - 1
        node_of = np.repeat(np.arange(m, dtype=np.int64), np.diff(bounds))
        suppressed = np.bincount(node_of, weights=state.sizes * out, minlength=m)
        suppressed = np.rint(suppressed).astype(np.int64)
        anonymous = suppressed <= self.max_outliers
        if self.presence_models and state.population is not None:
            empty = state.sizes == 0
            for model in self.presence_models:
                fails = model.failing_presence(state.sizes, state.population)  # type: ignore[attr-defined]
                anonymous &= np.bincount(node_of, weights=fails & empty, minlength=m) == 0
        return out, suppressed, anonymous

    def suppressed_lower_bound(self, state: ClassState, stop: float = math.inf) -> float:
        """Records that the node and every predecessor must suppress at least: the classes
        failing the monotone models fail whole at every predecessor; each other class costs
        at least its excess (:mod:`veil.risk.excess`) under each other model. (Returns early,
        with the monotone part alone, once that exceeds ``stop``. Without suppression the
        monotone models are those monotone under generalization, so only "above 0" counts:
        every predecessor then has a failing class.)"""
        fails = self._failing(state, self.monotone_models)
        bound = np.where(fails, state.sizes, 0).astype(float)
        if float(bound.sum()) > stop:
            return float(bound.sum())
        for m in self.excess_models:
            if getattr(m, "needs_population", False):
                assert state.population is not None
                excess = m.excess_presence(state.sizes, state.population)  # type: ignore[attr-defined]
            else:
                sc = self._node_sensitive(state, m.attribute) if m.attribute is not None else None
                excess = m.excess(state.sizes, sc)
            if excess is not None:
                bound = np.maximum(bound, excess)
        return float(bound.sum())

    def fails_monotone_part(self, state: ClassState) -> bool:
        """Must every predecessor suppress too much (other outliers only add)? Then the
        search fails the node's whole down-set."""
        limit = self.max_outliers
        return self.suppressed_lower_bound(state, stop=limit) > limit

    def prunes_down_sets(self) -> bool:
        """Can a node's failure say anything of its predecessors?"""
        return bool(self.monotone_models or self.excess_models)

    # -- evaluation ----------------------------------------------------------------------------

    def evaluate(self, node: Sequence[int]) -> NodeEvaluation:
        """Evaluate one node (the loss is computed even when it is not anonymous)."""
        arr = self._validate_node(node)
        st = self.state(arr)
        out, suppressed, anon = self.check(arr, st)
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
        derive = self.rollup.derive

        def visit(j: int, node: np.ndarray, st: ClassState) -> None:
            if j == d:
                i = int(node @ strides)
                out, sup, anon = self.check(node, st)
                anonymous[i], suppressed[i] = anon, sup
                loss[i] = self.quality.loss(self, node, st, out)[0]
                return
            cur = st
            for lv in range(self.shape[j]):
                if lv:
                    node = node.copy()
                    node[j] = lv
                    cur = derive(node, cur)
                visit(j + 1, node, cur)

        visit(0, np.zeros(d, dtype=np.int64), self.bottom)
        return LatticeEvaluation(self.nodes, anonymous, suppressed, loss)

    # -- the search ----------------------------------------------------------------------------

    def search(self) -> tuple[NodeEvaluation, int]:
        """The optimal anonymous node and the number of nodes evaluated exactly (see
        :mod:`veil.risk.search`; ``self.stats`` then counts exact and quick evaluations)."""
        run = LatticeSearch(self)
        self.stats = run.stats
        best = run.run()
        if best is None:
            raise NoSolution(
                "no generalization satisfies the privacy models within the suppression limit "
                f"({self.suppression_limit:.2%} of {self.records} records)"
            )
        return best, self.stats["exact"]

    # -- after -------------------------------------------------------------------------------

    def released_classes(
        self, node: Sequence[int]
    ) -> tuple[EquivalenceClasses | None, ClassState, np.ndarray]:
        """The classes that ``node`` releases (suppressed ones removed), the node's state and
        its outlier mask. Sensitive distributions keep the input as reference."""
        arr = self._validate_node(node)
        st = self.state(arr)
        out = self.outliers(st)
        keep = ~out & (st.sizes > 0)
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


def _check_setup(
    classes: EquivalenceClasses,
    hierarchies: Mapping[str, Hierarchy],
    models: Sequence[PrivacyModel],
    suppression_limit: float,
) -> None:
    """Refuse an :class:`Anonymizer` without models, hierarchies or aggregated attributes."""
    if not models:
        raise PolicyError("at least one privacy model is required")
    if not 0.0 <= suppression_limit <= 1.0:
        raise PolicyError(f"suppression limit must be in [0, 1], got {suppression_limit}")
    for q in classes.quasi_identifiers:
        if q not in hierarchies:
            raise PolicyError(f"quasi-identifier '{q}' has no generalization hierarchy")
    for m in models:
        if getattr(m, "needs_population", False) and classes.population is None:
            raise PolicyError("delta-presence needs a population table (population=...)")
        if m.attribute is not None and m.attribute not in classes.sensitive:
            raise PolicyError(
                f"{type(m).__name__} refers to '{m.attribute}', which was not aggregated "
                f"as a sensitive attribute"
            )


def _lattice_shape(hierarchies: Sequence[Hierarchy]) -> tuple[int, ...]:
    """Levels per QI; refuses a lattice too large to search."""
    shape = tuple(h.levels for h in hierarchies)
    total = math.prod(shape)
    if total > _MAX_LATTICE:
        raise PolicyError(
            f"the generalization lattice has {total} nodes (more than {_MAX_LATTICE}); "
            f"use fewer quasi-identifiers or hierarchy levels"
        )
    return shape


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
    population: DataSource | None = None,
    utility_target: str | None = None,
) -> AnonymizationResult:
    """Find the optimal full-domain generalization (with suppression) of a table.

    The QIs are ``quasi_identifiers`` (default: the keys of ``hierarchies``, in order); the
    sensitive attributes are those the models name. The data is read once; every QI value is
    checked against its hierarchy as it is read. Use ``result.apply(stream)`` for the second
    pass that writes the anonymized batches. ``population``: the population table the data
    is a sample of (needed by :class:`~veil.risk.table_models.DeltaPresence`); its classes
    are generalized with the sample's, and the data's records must all be in it.
    ``utility_target``: a column to predict, for the classification metric of
    ``result.utility`` (discernibility, DM* and AECS are always given).
    """
    started = time.perf_counter()
    qis = tuple(quasi_identifiers) if quasi_identifiers is not None else tuple(hierarchies)
    for q in qis:
        if q not in hierarchies:
            raise PolicyError(f"quasi-identifier '{q}' has no generalization hierarchy")
    sensitive = tuple(
        dict.fromkeys(
            [m.attribute for m in models if m.attribute is not None]
            + ([utility_target] if utility_target is not None else [])
        )
    )
    if utility_target is not None and utility_target in qis:
        raise PolicyError(f"the utility target '{utility_target}' is a quasi-identifier")
    qi_hs = {q: hierarchies[q] for q in qis}
    if population is not None and not isinstance(data, EquivalenceClasses):
        ec = aggregate_with_population(data, population, qis, sensitive, hierarchies=qi_hs)
    else:
        ec = aggregate(data, qis, sensitive, hierarchies=qi_hs)
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
    before = report(ec.sample_only(), **opts)
    released, st, out = engine.released_classes(best.node)
    after = report(released, **opts) if released is not None else None
    codes = np.stack([engine.level_codes(j, st.rep, best.node[j]) for j in range(len(qis))], axis=1)
    out = out | (st.sizes == 0)  # classes of the population alone: nothing of the sample
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
        utility=utility_of(st, out, utility_target),
    )

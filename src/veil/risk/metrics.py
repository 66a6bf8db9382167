"""Re-identification risk of a table, measured in one streaming pass.

The table is first reduced to its equivalence classes (:mod:`veil.risk.classes`: counts per
combination of quasi-identifier values, and per (class, sensitive value), merged across
batches, so memory is bounded by the number of distinct combinations, never by the number of
rows). Every metric is then computed from that aggregate with vectorized numpy: nothing
re-reads the data. The aggregate's names are re-exported here.

Definitions follow ARX (Prasser et al.) and the papers it implements; ``docs/risk.md`` writes
every formula out with references.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.risk.attacker import AttackerRisk, sampled_risk
from veil.risk.classes import (
    ClassAggregator,
    DataSource,
    EquivalenceClasses,
    SensitiveCounts,
    aggregate,
    combine_codes,
    divide,
    group_keys,
    iter_batches,
)
from veil.risk.hierarchy import Hierarchy
from veil.risk.likeness import (
    enhanced_beta,
    per_class_beta_basic,
    per_class_entropy_grassberger,
)
from veil.risk.population import PopulationUniqueness, population_uniqueness

__all__ = [
    "ClassAggregator",
    "EquivalenceClasses",
    "QIContribution",
    "RiskReport",
    "RiskyClass",
    "SensitiveCounts",
    "SensitiveRisk",
    "aggregate",
    "alpha_k_anonymity",
    "class_size_buckets",
    "class_size_distribution",
    "delta_disclosure",
    "distinct_l_diversity",
    "entropy_l_diversity",
    "iter_batches",
    "k_anonymity",
    "mask_value",
    "measure",
    "prosecutor_risk",
    "qi_contributions",
    "records_at_risk",
    "recursive_cl_diversity",
    "report",
    "riskiest_classes",
    "sample_uniqueness",
    "t_closeness_equal",
    "t_closeness_hierarchical",
    "t_closeness_ordered",
]

# ---------------------------------------------------------------------------------------------
# Identity-disclosure metrics (class sizes only)
# ---------------------------------------------------------------------------------------------


def k_anonymity(ec: EquivalenceClasses) -> int:
    """k: the size of the smallest equivalence class."""
    return int(ec.sizes.min())


def class_size_distribution(ec: EquivalenceClasses) -> dict[int, int]:
    """Class size -> number of classes of that size."""
    sizes, counts = np.unique(ec.sizes, return_counts=True)
    return {int(s): int(c) for s, c in zip(sizes, counts, strict=True)}


#: Lower bounds of the class-size buckets of :func:`class_size_buckets`.
SIZE_BUCKETS = (1, 2, 3, 5, 10, 20, 50, 100, 1000, 10000)


def class_size_buckets(
    distribution: Mapping[int, int], bounds: Sequence[int] = SIZE_BUCKETS
) -> list[dict[str, Any]]:
    """The class size distribution in buckets (``1``, ``2``, ``3-4``, ``5-9``, ... ``10000+``):
    one dict per non-empty bucket with ``label``, ``min``, ``max`` (None: open), ``classes``
    and ``records`` (records in classes of that size)."""
    out = []
    for i, lo in enumerate(bounds):
        hi = bounds[i + 1] - 1 if i + 1 < len(bounds) else None
        classes = records = 0
        for size, count in distribution.items():
            if size >= lo and (hi is None or size <= hi):
                classes += count
                records += size * count
        if classes:
            label = str(lo) if hi == lo else (f"{lo}+" if hi is None else f"{lo}-{hi}")
            out.append(
                {"label": label, "min": lo, "max": hi, "classes": classes, "records": records}
            )
    return out


def sample_uniqueness(ec: EquivalenceClasses) -> float:
    """Share of records that are alone in their class."""
    return float(ec.sizes[ec.sizes == 1].sum() / ec.records)


def prosecutor_risk(ec: EquivalenceClasses) -> tuple[float, float]:
    """(highest, average) prosecutor risk: ``1 / min |E|`` and ``#classes / #records``."""
    return 1.0 / float(ec.sizes.min()), ec.classes / ec.records


def records_at_risk(ec: EquivalenceClasses, threshold: float) -> float:
    """Share of records whose prosecutor risk ``1 / |E|`` is above ``threshold``."""
    at_risk = (1.0 / ec.sizes) > threshold
    return float(ec.sizes[at_risk].sum() / ec.records)


# ---------------------------------------------------------------------------------------------
# Attribute-disclosure metrics: per class, vectorized over (class, value) pairs
# ---------------------------------------------------------------------------------------------


def _p(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    return sc.counts / sc.pair_sizes(sizes)


def per_class_distinct(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Number of distinct sensitive values in each class."""
    return np.bincount(sc.class_index, minlength=len(sizes))


def per_class_entropy(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Shannon entropy (nats) of the sensitive values in each class."""
    p = _p(sc, sizes)
    return -np.bincount(sc.class_index, weights=p * np.log(p), minlength=len(sizes))


def per_class_recursive_ratio(sc: SensitiveCounts, sizes: np.ndarray, l: int) -> np.ndarray:  # noqa: E741
    """``r1 / (r_l + ... + r_m)`` per class (inf when the class has fewer than l values).

    A class satisfies recursive (c,l)-diversity iff ``c`` is larger than this ratio.
    """
    if l < 1:
        raise PolicyError(f"recursive (c,l)-diversity needs l >= 1, got {l}")
    n = len(sizes)
    order = np.lexsort((-sc.counts, sc.class_index))
    cls, cnt = sc.class_index[order], sc.counts[order]
    starts = np.searchsorted(cls, np.arange(n))
    rank = np.arange(len(cls)) - starts[cls]
    tail_mask = rank >= l - 1
    tail = np.bincount(cls[tail_mask], weights=cnt[tail_mask], minlength=n)
    r1 = cnt[starts].astype(float)
    with np.errstate(divide="ignore"):
        return np.where(tail > 0, r1 / np.where(tail > 0, tail, 1), np.inf)


def per_class_max_share(
    sc: SensitiveCounts, sizes: np.ndarray, value: object | None = None
) -> np.ndarray:
    """Largest share of one sensitive value in each class (or the share of ``value``)."""
    p = _p(sc, sizes)
    n = len(sizes)
    if value is None:
        return sc.class_max(p, n)
    try:
        code = pc.index(sc.values, pa.scalar(value, type=sc.values.type)).as_py()
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise PolicyError(
            f"value {value!r} does not fit column '{sc.attribute}' ({sc.values.type})"
        ) from exc
    if code < 0:
        return np.zeros(n)
    mask = sc.value_code == code
    return np.bincount(sc.class_index[mask], weights=p[mask], minlength=n)


def per_class_emd_equal(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """Equal-distance EMD of each class to the reference: ``1/2 sum_i |p_i - q_i|``."""
    q = sc.pair_reference
    p = _p(sc, sizes)
    s = np.bincount(sc.class_index, weights=np.abs(p - q) - q, minlength=len(sizes))
    return np.clip((1.0 + s) / 2.0, 0.0, 1.0)


def _order_ranks(sc: SensitiveCounts, order: Sequence[object] | None) -> np.ndarray:
    """Rank of each value code in the ordered domain."""
    m = len(sc.values)
    if order is None:
        t = sc.values.type
        if not (
            pa.types.is_integer(t)
            or pa.types.is_floating(t)
            or pa.types.is_decimal(t)
            or pa.types.is_temporal(t)
        ):
            raise PolicyError(
                f"ordered-distance t-closeness on '{sc.attribute}' needs a numeric column or an "
                f"explicit order of its values"
            )
        if sc.values.null_count:
            raise InputError(f"column '{sc.attribute}' has nulls: they have no place in the order")
        return np.arange(m)  # values are sorted ascending
    order_arr = pa.array(list(order))
    if order_arr.type != sc.values.type:
        order_arr = order_arr.cast(sc.values.type)
    pos = pc.index_in(sc.values, value_set=order_arr)
    if pos.null_count:
        missing = sc.values.filter(pc.is_null(pos))[0].as_py()
        raise PolicyError(f"value '{missing}' of '{sc.attribute}' is not in the given order")
    raw = pos.to_numpy(zero_copy_only=False)
    return np.argsort(np.argsort(raw, kind="stable"), kind="stable")


def per_class_emd_ordered(
    sc: SensitiveCounts, sizes: np.ndarray, order: Sequence[object] | None = None
) -> np.ndarray:
    """Ordered-distance EMD: ``1/(m-1) sum_{i<m} |sum_{j<=i} (p_j - q_j)|`` per class.

    Vectorized over pairs: between two values present in a class, the class CDF is constant,
    and the sum of ``|c - Q(i)|`` over a run of ``i`` follows from prefix sums of the reference
    CDF ``Q`` split where ``Q`` crosses ``c``.
    """
    n = len(sizes)
    m = len(sc.values)
    if m <= 1:
        return np.zeros(n)
    ranks = _order_ranks(sc, order)
    q_by_rank = np.zeros(m)
    q_by_rank[ranks] = sc.reference_distribution()
    big_q = np.cumsum(q_by_rank)  # Q(i)
    prefix = np.concatenate([[0.0], np.cumsum(big_q)])  # S(i) = sum_{j<i} Q(j)
    r = ranks[sc.value_code]
    o = np.lexsort((r, sc.class_index))
    cls, rk = sc.class_index[o], r[o]
    p = (sc.counts / sizes[sc.class_index])[o]
    starts = np.searchsorted(cls, np.arange(n))
    csum = np.cumsum(p)
    before = np.concatenate([[0.0], csum])[starts][cls]
    c = csum - before  # class CDF after each present value
    nxt = np.empty_like(rk)
    nxt[:-1] = rk[1:]
    last = np.ones(len(rk), dtype=bool)
    last[:-1] = cls[1:] != cls[:-1]
    nxt[last] = m
    lo, hi = rk, nxt
    t = np.clip(np.searchsorted(big_q, c, side="right"), lo, hi)
    seg = c * (t - lo) - (prefix[t] - prefix[lo]) + (prefix[hi] - prefix[t]) - c * (hi - t)
    total = np.bincount(cls, weights=seg, minlength=n)
    total += prefix[rk[starts]]  # before the first present value the class CDF is 0
    return np.clip(total / (m - 1), 0.0, 1.0)


def per_class_emd_hierarchical(
    sc: SensitiveCounts, sizes: np.ndarray, hierarchy: Hierarchy
) -> np.ndarray:
    """Hierarchical-distance EMD (Li et al. 2007) per class.

    With ``A_l = sum over labels N at level l present in the class of (|p_N - q_N| - q_N)``
    the EMD is ``1/(2H) sum_{l=1..H} l (A_{l-1} - A_l)`` (derivation in docs/risk.md); only
    labels present in the class contribute, so the cost is linear in the pairs.
    """
    n = len(sizes)
    levels = _value_levels(hierarchy, sc.values)
    height = len(levels) - 1
    if height == 0:
        return np.zeros(n)
    q_val = sc.reference_distribution()
    p = sc.counts / sizes[sc.class_index]
    # level 0: the (class, value) pairs are the (class, label) pairs
    q0 = q_val[sc.value_code]
    a_prev = np.bincount(sc.class_index, weights=np.abs(p - q0) - q0, minlength=n)
    total = np.zeros(n)
    for lv in range(1, height + 1):
        label_of_value = levels[lv]
        if lv == height:  # the root: one label with p = q = 1 in every (non-empty) class
            a = np.where(sizes > 0, -1.0, 0.0)
        else:
            width = int(label_of_value.max()) + 1 if len(label_of_value) else 1
            labels = label_of_value[sc.value_code]
            q_label = np.bincount(label_of_value, weights=q_val, minlength=width)
            key, space = combine_codes([sc.class_index, labels], [n, width])
            inverse, first, groups = group_keys(key, space)
            p_n = np.bincount(inverse, weights=p, minlength=groups)
            q_n = q_label[labels[first]]
            a = np.bincount(sc.class_index[first], weights=np.abs(p_n - q_n) - q_n, minlength=n)
        total += lv * (a_prev - a)
        a_prev = a
    return np.clip(total / (2.0 * height), 0.0, 1.0)


_LEVELS_CACHE: dict[tuple[int, int], tuple[Hierarchy, pa.Array, list[np.ndarray]]] = {}


def _value_levels(hierarchy: Hierarchy, values: pa.Array) -> list[np.ndarray]:
    """The label code of each value at every level, up to a single root (a virtual one
    when the top level has several labels). Memoized per (hierarchy, values) object: the
    lattice search asks for the same pair at every node."""
    key = (id(hierarchy), id(values))
    hit = _LEVELS_CACHE.get(key)
    if hit is not None and hit[0] is hierarchy and hit[1] is values:
        return hit[2]
    leaf = hierarchy.encode(values, row_offset=None)
    levels = [hierarchy.code_map[leaf, lv] for lv in range(hierarchy.levels)]
    if hierarchy.domain_size(hierarchy.height) > 1:  # no single root: add one
        levels.append(np.zeros(len(leaf), dtype=np.int64))
    if len(_LEVELS_CACHE) >= 32:
        _LEVELS_CACHE.clear()
    _LEVELS_CACHE[key] = (hierarchy, values, levels)
    return levels


def per_class_delta(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """``max |log2(p(s|E) / p(s))|`` over the values present in each class."""
    return sc.class_max(pair_delta(sc, sizes), len(sizes))


def pair_delta(sc: SensitiveCounts, sizes: np.ndarray) -> np.ndarray:
    """``|log2(p(s|E) / p(s))|`` of each (class, value) pair."""
    return np.abs(np.log2(divide(_p(sc, sizes), sc.pair_reference, np.inf)))


# Table-level values ------------------------------------------------------------------------


def _sc(ec: EquivalenceClasses, attribute: str) -> SensitiveCounts:
    try:
        return ec.sensitive[attribute]
    except KeyError:
        raise PolicyError(
            f"'{attribute}' was not aggregated as a sensitive attribute "
            f"(sensitive: {sorted(ec.sensitive)})"
        ) from None


def distinct_l_diversity(ec: EquivalenceClasses, attribute: str) -> int:
    """Distinct l: the fewest distinct sensitive values in any class."""
    return int(per_class_distinct(_sc(ec, attribute), ec.sizes).min())


def entropy_l_diversity(ec: EquivalenceClasses, attribute: str) -> float:
    """Entropy l: ``min_E exp(H(E))``; the table is entropy-l-diverse iff l <= this value."""
    return float(np.exp(per_class_entropy(_sc(ec, attribute), ec.sizes).min()))


def recursive_cl_diversity(ec: EquivalenceClasses, attribute: str, l: int) -> float:  # noqa: E741
    """The bound on c for recursive (c,l)-diversity: the table satisfies it iff c > value."""
    return float(per_class_recursive_ratio(_sc(ec, attribute), ec.sizes, l).max())


def t_closeness_equal(ec: EquivalenceClasses, attribute: str) -> float:
    """t with equal ground distance: the largest EMD of a class to the whole table."""
    return float(per_class_emd_equal(_sc(ec, attribute), ec.sizes).max())


def t_closeness_ordered(
    ec: EquivalenceClasses, attribute: str, order: Sequence[object] | None = None
) -> float:
    """t with ordered distance (numeric attributes, or an explicit order)."""
    return float(per_class_emd_ordered(_sc(ec, attribute), ec.sizes, order).max())


def t_closeness_hierarchical(ec: EquivalenceClasses, attribute: str, hierarchy: Hierarchy) -> float:
    """t with hierarchical ground distance over a generalization hierarchy."""
    return float(per_class_emd_hierarchical(_sc(ec, attribute), ec.sizes, hierarchy).max())


def alpha_k_anonymity(
    ec: EquivalenceClasses, attribute: str, value: object | None = None
) -> tuple[float, int]:
    """(alpha, k): the largest share of a sensitive value (or of ``value``) in any class, and
    k. The table is (alpha', k')-anonymous iff alpha <= alpha' and k >= k'."""
    return float(per_class_max_share(_sc(ec, attribute), ec.sizes, value).max()), k_anonymity(ec)


def delta_disclosure(ec: EquivalenceClasses, attribute: str) -> float:
    """The largest ``|log2(p(s|E)/p(s))|``; delta-disclosure private iff delta > value."""
    return float(per_class_delta(_sc(ec, attribute), ec.sizes).max())


# ---------------------------------------------------------------------------------------------
# Which QI makes records unique; the riskiest classes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QIContribution:
    """How much sample uniqueness falls when one QI is dropped from the QI set."""

    quasi_identifier: str
    uniqueness_without: float
    drop: float


@dataclass(frozen=True)
class RiskyClass:
    """A small equivalence class, its QI values masked (first character kept)."""

    size: int
    risk: float
    values: dict[str, str]


def qi_contributions(ec: EquivalenceClasses) -> tuple[QIContribution, ...]:
    """Uniqueness drop when each QI is removed, largest drop first."""
    base = sample_uniqueness(ec)
    d = len(ec.quasi_identifiers)
    out = []
    for j, q in enumerate(ec.quasi_identifiers):
        sizes = ec.projected_sizes([i for i in range(d) if i != j])
        without = float(sizes[sizes == 1].sum() / ec.records)
        out.append(QIContribution(q, without, base - without))
    return tuple(sorted(out, key=lambda c: (-c.drop, c.quasi_identifier)))


def mask_value(value: object) -> str:
    """Mask a value for display: keep the first character, star the rest."""
    if value is None:
        return "null"
    s = str(value)
    if s == "*" or len(s) <= 1:
        return "*"
    return s[0] + "*" * (len(s) - 1)


def riskiest_classes(ec: EquivalenceClasses, top: int = 10) -> tuple[RiskyClass, ...]:
    """The ``top`` smallest classes (highest prosecutor risk), values masked."""
    if top <= 0:
        return ()
    order = np.argsort(ec.sizes, kind="stable")[:top]
    return tuple(
        RiskyClass(
            size=int(ec.sizes[i]),
            risk=1.0 / float(ec.sizes[i]),
            values={q: mask_value(v) for q, v in ec.class_values(int(i)).items()},
        )
        for i in order
    )


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x


@dataclass(frozen=True)
class SensitiveRisk:
    """Attribute-disclosure figures for one sensitive attribute.

    ``recursive_c``: the table is recursive (c, ``recursive_l``)-diverse iff c > this value
    (inf: no c works). ``alpha``: largest share of one value in a class. ``delta``: the table
    is delta-disclosure private iff delta > this value. ``t_*``: largest EMD of a class.
    """

    attribute: str
    distinct_l: int
    entropy_l: float
    recursive_l: int
    recursive_c: float
    t_equal: float
    t_ordered: float | None
    t_hierarchical: float | None
    alpha: float
    delta: float
    entropy_l_grassberger: float | None = None
    beta_basic: float | None = None
    beta_enhanced: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "distinct_l": self.distinct_l,
            "entropy_l": self.entropy_l,
            "entropy_l_grassberger": self.entropy_l_grassberger,
            "recursive_l": self.recursive_l,
            "recursive_c": _finite(self.recursive_c),
            "t_equal": self.t_equal,
            "t_ordered": self.t_ordered,
            "t_hierarchical": self.t_hierarchical,
            "alpha": self.alpha,
            "delta": _finite(self.delta),
            "beta_basic": _finite(self.beta_basic),
            "beta_enhanced": _finite(self.beta_enhanced),
        }


@dataclass(frozen=True)
class RiskReport:
    """Re-identification risk of one table (see docs/risk.md for the definitions)."""

    quasi_identifiers: tuple[str, ...]
    records: int
    classes: int
    k: int
    class_size_distribution: dict[int, int]
    sample_uniqueness: float
    prosecutor_risk_highest: float
    prosecutor_risk_average: float
    risk_threshold: float
    records_at_risk: float
    sensitive: dict[str, SensitiveRisk]
    qi_contributions: tuple[QIContribution, ...]
    riskiest_classes: tuple[RiskyClass, ...]
    #: with a sampling fraction or population size: population uniqueness and the
    #: journalist's and marketer's risks (:mod:`veil.risk.population`, ``.attacker``)
    population: PopulationUniqueness | None = None
    attacker: AttackerRisk | None = None
    #: with a population table: delta = f / F of the classes (:mod:`veil.risk.presence`)
    presence: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (non-finite values become None)."""
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "records": self.records,
            "classes": self.classes,
            "k": self.k,
            "class_size_distribution": {
                str(s): c for s, c in sorted(self.class_size_distribution.items())
            },
            "sample_uniqueness": self.sample_uniqueness,
            "prosecutor_risk_highest": self.prosecutor_risk_highest,
            "prosecutor_risk_average": self.prosecutor_risk_average,
            "risk_threshold": self.risk_threshold,
            "records_at_risk": self.records_at_risk,
            "sensitive": {a: s.to_dict() for a, s in self.sensitive.items()},
            "qi_contributions": [
                {
                    "quasi_identifier": c.quasi_identifier,
                    "uniqueness_without": c.uniqueness_without,
                    "drop": c.drop,
                }
                for c in self.qi_contributions
            ],
            "riskiest_classes": [
                {"size": r.size, "risk": r.risk, "values": dict(r.values)}
                for r in self.riskiest_classes
            ],
            "population": self.population.to_dict() if self.population else None,
            "attacker": self.attacker.to_dict() if self.attacker else None,
            "presence": dict(self.presence) if self.presence else None,
        }


def report(
    ec: EquivalenceClasses,
    *,
    risk_threshold: float = 0.2,
    recursive_l: int = 2,
    sensitive_hierarchies: Mapping[str, Hierarchy] | None = None,
    sensitive_orders: Mapping[str, Sequence[object]] | None = None,
    top: int = 10,
    contributions: bool = True,
    sampling_fraction: float | None = None,
    population_size: float | None = None,
    population_model: str = "dankar",
) -> RiskReport:
    """All metrics of an aggregate. Ordered-distance t is computed for numeric sensitive
    attributes and those given an order; hierarchical t for those given a hierarchy. With a
    ``sampling_fraction`` (or ``population_size``) the report adds population uniqueness
    (``population_model``) and the journalist's and marketer's risks."""
    if ec.population is not None:
        ec = ec.sample_only()
    if ec.records == 0:
        raise InputError("empty table: there are no records to measure")
    hier = dict(sensitive_hierarchies or {})
    orders = dict(sensitive_orders or {})
    sens: dict[str, SensitiveRisk] = {}
    for a, sc in ec.sensitive.items():
        t = sc.values.type
        numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
        t_ord = (
            float(per_class_emd_ordered(sc, ec.sizes, orders.get(a)).max())
            if a in orders or (numeric and not sc.values.null_count)
            else None
        )
        t_h = float(per_class_emd_hierarchical(sc, ec.sizes, hier[a]).max()) if a in hier else None
        sens[a] = SensitiveRisk(
            attribute=a,
            distinct_l=int(per_class_distinct(sc, ec.sizes).min()),
            entropy_l=float(np.exp(per_class_entropy(sc, ec.sizes).min())),
            recursive_l=recursive_l,
            recursive_c=float(per_class_recursive_ratio(sc, ec.sizes, recursive_l).max()),
            t_equal=float(per_class_emd_equal(sc, ec.sizes).max()),
            t_ordered=t_ord,
            t_hierarchical=t_h,
            alpha=float(per_class_max_share(sc, ec.sizes).max()),
            delta=float(per_class_delta(sc, ec.sizes).max()),
            entropy_l_grassberger=_grassberger_l(sc, ec.sizes),
            beta_basic=float(per_class_beta_basic(sc, ec.sizes).max()),
            beta_enhanced=enhanced_beta(sc, ec.sizes),
        )
    highest, average = prosecutor_risk(ec)
    population = attacker = None
    if sampling_fraction is not None or population_size is not None:
        population = population_uniqueness(
            ec.sizes,
            sampling_fraction=sampling_fraction,
            population_size=population_size,
            model=population_model,
        )
        attacker = sampled_risk(ec.sizes, population.sampling_fraction, risk_threshold)
    return RiskReport(
        quasi_identifiers=ec.quasi_identifiers,
        records=ec.records,
        classes=ec.classes,
        k=k_anonymity(ec),
        class_size_distribution=class_size_distribution(ec),
        sample_uniqueness=sample_uniqueness(ec),
        prosecutor_risk_highest=highest,
        prosecutor_risk_average=average,
        risk_threshold=risk_threshold,
        records_at_risk=records_at_risk(ec, risk_threshold),
        sensitive=sens,
        qi_contributions=qi_contributions(ec) if contributions else (),
        riskiest_classes=riskiest_classes(ec, top),
        population=population,
        attacker=attacker,
    )


def _grassberger_l(sc: SensitiveCounts, sizes: np.ndarray) -> float:
    """``min_E exp(H_G(E))``: the largest l that Grassberger entropy l-diversity allows
    (before its ``ceil(l)`` distinct values rule)."""
    return float(np.exp(per_class_entropy_grassberger(sc, sizes).min()))


def measure(
    data: DataSource | EquivalenceClasses,
    quasi_identifiers: Sequence[str] = (),
    sensitive: Sequence[str] = (),
    *,
    risk_threshold: float = 0.2,
    recursive_l: int = 2,
    sensitive_hierarchies: Mapping[str, Hierarchy] | None = None,
    sensitive_orders: Mapping[str, Sequence[object]] | None = None,
    top: int = 10,
    contributions: bool = True,
    sampling_fraction: float | None = None,
    population_size: float | None = None,
    population_model: str = "dankar",
) -> RiskReport:
    """Measure the re-identification risk of a table or stream of batches, in one pass.

    Without quasi-identifiers the whole table is one class: the report then gives the
    sensitive attributes' figures over the whole table (its entropy, for instance)."""
    qis = tuple(quasi_identifiers)
    if isinstance(data, EquivalenceClasses) or qis:
        ec = aggregate(data, qis, sensitive)
    else:
        ec = aggregate(with_constant(iter_batches(data)), (ALL_RECORDS,), sensitive)
    r = report(
        ec,
        risk_threshold=risk_threshold,
        recursive_l=recursive_l,
        sensitive_hierarchies=sensitive_hierarchies,
        sensitive_orders=sensitive_orders,
        top=top,
        contributions=contributions and bool(qis or isinstance(data, EquivalenceClasses)),
        sampling_fraction=sampling_fraction,
        population_size=population_size,
        population_model=population_model,
    )
    if ec.quasi_identifiers == (ALL_RECORDS,):
        r = replace(r, quasi_identifiers=(), riskiest_classes=())
    return r


#: Name of the constant column that stands for "no QI": the whole table, one class.
ALL_RECORDS = "__veil_all_records__"


def with_constant(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches with a constant column :data:`ALL_RECORDS` (one class for all records)."""
    for b in batches:
        yield b.append_column(ALL_RECORDS, pa.array(np.zeros(b.num_rows, dtype=np.int8)))

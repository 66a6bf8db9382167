"""The policy's privacy models, and how a table fares against them.

:func:`privacy_models` turns the rules of a :class:`~veil.policy.risk.RiskPolicy` into
:class:`~veil.risk.privacy.PrivacyModel` objects (skipping rules on attributes that
are not released); :func:`check_models` checks them on an aggregate and gives each its
table-level figure (:class:`ModelCheck`), which the release gate reports and refuses with.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from veil.errors import PolicyError
from veil.policy.risk import (
    AlphaKRule,
    BetaLikenessRule,
    DeltaDisclosureRule,
    LDiversityRule,
    RiskPolicy,
    TClosenessRule,
)
from veil.risk.classes import EquivalenceClasses, SensitiveCounts
from veil.risk.hierarchy import Hierarchy
from veil.risk.likeness import per_class_beta_basic, per_class_beta_enhanced_excess
from veil.risk.metrics import (
    per_class_delta,
    per_class_distinct,
    per_class_emd_equal,
    per_class_emd_hierarchical,
    per_class_emd_ordered,
    per_class_max_share,
    per_class_recursive_ratio,
)
from veil.risk.privacy import (
    AlphaKAnonymity,
    BasicBetaLikeness,
    DeltaDisclosure,
    DistinctLDiversity,
    EnhancedBetaLikeness,
    EntropyLDiversity,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
    KAnonymity,
    OrderedDistanceTCloseness,
    PrivacyModel,
    RecursiveCLDiversity,
)
from veil.risk.quality import Discernibility, Loss, NonUniformEntropy, QualityModel
from veil.risk.quality_simple import AECS, DMStar, Height, MonotonicNonUniformEntropy, Precision
from veil.risk.table_models import (
    AverageRisk,
    DeltaPresence,
    HighestRisk,
    Population,
    TableModel,
    UniquenessLimit,
)

__all__ = ["ModelCheck", "check_models", "privacy_models", "quality_model"]


# ---------------------------------------------------------------------------------------------
# Policy -> models
# ---------------------------------------------------------------------------------------------


def quality_model(risk: RiskPolicy) -> QualityModel:
    """The information-loss model the policy names."""
    simple: dict[str, type[QualityModel]] = {
        "discernibility": Discernibility,
        "dm_star": DMStar,
        "monotonic_non_uniform_entropy": MonotonicNonUniformEntropy,
        "height": Height,
        "aecs": AECS,
    }
    if risk.quality in simple:
        return simple[risk.quality]()
    if risk.quality == "loss":
        return Loss(risk.gs_factor, risk.aggregate or "geometric")
    if risk.quality == "precision":
        return Precision(risk.aggregate or "arithmetic")
    return NonUniformEntropy(risk.gs_factor)


def population_of(risk: RiskPolicy) -> Population | None:
    """The population of a ``model: population`` section (None for ``sample``)."""
    if risk.model != "population":
        return None
    return Population(
        sampling_fraction=risk.sampling_fraction,
        size=None if risk.population_size is None else float(risk.population_size),
        model=risk.population_model,
    )


def _bound_model(risk: RiskPolicy, key: str, value: float) -> PrivacyModel:
    population = population_of(risk)
    if key == "max_uniqueness":
        return UniquenessLimit(value, population)
    if key == "max_risk":
        return HighestRisk(value, population)
    return AverageRisk(value, population)


def _rule_model(rule: Any, hierarchies: Mapping[str, Hierarchy]) -> PrivacyModel:
    if isinstance(rule, BetaLikenessRule):
        if rule.kind == "basic":
            return BasicBetaLikeness(rule.attribute, rule.beta)
        return EnhancedBetaLikeness(rule.attribute, rule.beta)
    if isinstance(rule, LDiversityRule):
        if rule.kind == "distinct":
            return DistinctLDiversity(rule.attribute, int(rule.l))
        if rule.kind == "entropy":
            return EntropyLDiversity(rule.attribute, float(rule.l), rule.estimator or "shannon")
        assert rule.c is not None
        return RecursiveCLDiversity(rule.attribute, float(rule.c), int(rule.l))
    if isinstance(rule, TClosenessRule):
        if rule.distance == "equal":
            return EqualDistanceTCloseness(rule.attribute, rule.t)
        if rule.distance == "ordered":
            return OrderedDistanceTCloseness(rule.attribute, rule.t, rule.order)
        h = hierarchies.get(rule.attribute)
        if h is None:
            raise PolicyError(
                f"hierarchical t-closeness on '{rule.attribute}' needs a hierarchy for it"
            )
        return HierarchicalDistanceTCloseness(rule.attribute, rule.t, h)
    if isinstance(rule, AlphaKRule):
        return AlphaKAnonymity(rule.attribute, rule.alpha, rule.k, rule.value)
    assert isinstance(rule, DeltaDisclosureRule)
    return DeltaDisclosure(rule.attribute, rule.delta)


def privacy_models(
    risk: RiskPolicy,
    hierarchies: Mapping[str, Hierarchy],
    released: Collection[str] | None = None,
) -> tuple[list[tuple[PrivacyModel, dict[str, Any]]], list[dict[str, Any]]]:
    """The policy's privacy models with their descriptions, and the described rules skipped
    because their attribute is not among the ``released`` columns (None: keep all)."""
    models: list[tuple[PrivacyModel, dict[str, Any]]] = []
    skipped: list[dict[str, Any]] = []
    if risk.min_k is not None:
        models.append((KAnonymity(risk.min_k), {"model": "k-anonymity", "k": risk.min_k}))
    for rule in risk.rules:
        if released is not None and rule.attribute not in released:
            skipped.append({**rule.describe(), "reason": "attribute not released"})
            continue
        models.append((_rule_model(rule, hierarchies), rule.describe()))
    for key, value in risk.risk_bounds():
        models.append((_bound_model(risk, key, value), risk.describe_bound(key, value)))
    dp = risk.delta_presence
    if dp is not None:
        models.append((DeltaPresence(dp.delta_min, dp.delta_max), dp.describe()))
    return models, skipped


# ---------------------------------------------------------------------------------------------
# Checking an aggregate
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelCheck:
    """One privacy model on one table: its figure and how much of the table fails it.

    ``figure`` names the table-level value (``k``, ``l``, ``t``, ``c*``, ``alpha``,
    ``delta*``); ``requirement`` says what it must be.
    """

    model: dict[str, Any]
    figure: str
    value: float
    requirement: str
    failing_classes: int
    failing_records: int
    records: int

    @property
    def passed(self) -> bool:
        return self.failing_classes == 0

    def text(self) -> str:
        m = self.model
        name = m["model"] + (f" of '{m['attribute']}'" if "attribute" in m else "")
        value = _fmt(self.value)
        if self.passed:
            return f"{name} ({self.requirement}): {self.figure} = {value}, holds"
        return (
            f"{name} ({self.requirement}) fails: {self.figure} = {value}; "
            f"{self.failing_records:,} of {self.records:,} records in "
            f"{self.failing_classes:,} classes that fail"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.model,
            "figure": self.figure,
            "value": self.value if math.isfinite(self.value) else None,
            "requirement": self.requirement,
            "passed": self.passed,
            "failing_classes": self.failing_classes,
            "failing_records": self.failing_records,
        }


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return f"{int(x):,}" if float(x).is_integer() else f"{x:.4g}"


def _figure(
    m: PrivacyModel, sizes: np.ndarray, sc: SensitiveCounts | None
) -> tuple[str, float, str]:
    if isinstance(m, KAnonymity):
        return "k", float(sizes.min()), f"k >= {m.k}"
    if isinstance(m, UniquenessLimit):
        return "uniqueness", m.figure(sizes), f"uniqueness <= {m.max_share:g}"
    if isinstance(m, AverageRisk):
        return "average risk", m.figure(sizes), f"average risk <= {m.max_risk:g}"
    if isinstance(m, HighestRisk):
        return "highest risk", float(m.risk(sizes).max()), f"risk <= {m.max_risk:g}"
    assert sc is not None
    if isinstance(m, BasicBetaLikeness):
        value = float(per_class_beta_basic(sc, sizes).max())
        return "beta*", value, f"beta* <= {m.beta:g}"
    if isinstance(m, EnhancedBetaLikeness):
        value = float(per_class_beta_enhanced_excess(sc, sizes, m.beta).max())
        return "excess", value, f"gain <= min({m.beta:g}, -ln q)"
    if isinstance(m, DistinctLDiversity):
        return "l", float(per_class_distinct(sc, sizes).min()), f"l >= {m.l}"
    if isinstance(m, EntropyLDiversity):
        return "l", float(np.exp(m.entropy(sizes, sc).min())), f"l >= {m.l:g}"
    if isinstance(m, RecursiveCLDiversity):
        value = float(per_class_recursive_ratio(sc, sizes, m.l).max())
        return "c*", value, f"c* < c = {m.c:g}, l = {m.l}"
    if isinstance(m, EqualDistanceTCloseness):
        return "t", float(per_class_emd_equal(sc, sizes).max()), f"t <= {m.t:g}"
    if isinstance(m, OrderedDistanceTCloseness):
        return "t", float(per_class_emd_ordered(sc, sizes, m.order).max()), f"t <= {m.t:g}"
    if isinstance(m, HierarchicalDistanceTCloseness):
        value = float(per_class_emd_hierarchical(sc, sizes, m.hierarchy).max())
        return "t", value, f"t <= {m.t:g}"
    if isinstance(m, AlphaKAnonymity):
        value = float(per_class_max_share(sc, sizes, m.value).max())
        return "alpha", value, f"alpha <= {m.alpha:g}, k >= {m.k}"
    if isinstance(m, DeltaDisclosure):
        return "delta*", float(per_class_delta(sc, sizes).max()), f"delta* < {m.delta:g}"
    raise TypeError(f"unknown privacy model {type(m).__name__}")


def check_models(
    ec: EquivalenceClasses, models: Sequence[tuple[PrivacyModel, dict[str, Any]]]
) -> list[ModelCheck]:
    """Check every model on every class of ``ec`` (no suppression: a class that fails, fails).
    With population counts (``ec.population``), delta-presence is checked on every class of
    the population and the other models on the classes the sample holds."""
    out = []
    sample = ec.sample_only()
    for m, desc in models:
        if isinstance(m, DeltaPresence):
            out.append(_presence_check(ec, m, desc))
            continue
        ec_m = sample
        sc = ec_m.sensitive[m.attribute] if m.attribute is not None else None
        if isinstance(m, TableModel):
            failing = m.to_suppress(ec_m.sizes, np.ones(len(ec_m.sizes), dtype=bool))
        else:
            failing = m.failing(ec_m.sizes, sc)
        figure, value, requirement = _figure(m, ec_m.sizes, sc)
        out.append(
            ModelCheck(
                model=desc,
                figure=figure,
                value=value,
                requirement=requirement,
                failing_classes=int(failing.sum()),
                failing_records=int(ec_m.sizes[failing].sum()),
                records=ec_m.records,
            )
        )
    return out


def _presence_check(ec: EquivalenceClasses, m: DeltaPresence, desc: dict[str, Any]) -> ModelCheck:
    """delta-presence on a sample joined with its population. The figure is the delta that
    fails (the largest above ``delta_max``, else the smallest below ``delta_min``), else the
    largest; failing classes include population classes the sample does not reach when
    ``delta_min > 0`` (their records hold 0 sample records)."""
    if ec.population is None:
        raise PolicyError("delta-presence needs a population table")
    delta = m.delta(ec.sizes, ec.population)
    failing = m.failing_presence(ec.sizes, ec.population)
    high, low = delta > m.delta_max, delta < m.delta_min
    if high.any() or not failing.any():
        value = float(delta.max()) if len(delta) else 0.0
    else:
        value = float(delta[low].min())
    return ModelCheck(
        model=desc,
        figure="delta",
        value=value,
        requirement=f"{m.delta_min:g} <= delta <= {m.delta_max:g}",
        failing_classes=int(failing.sum()),
        failing_records=int(ec.sizes[failing].sum()),
        records=ec.records,
    )

"""Re-identification risk: measure it, and enforce it by generalization and suppression.

* :mod:`veil.risk.metrics`: one streaming pass over Arrow batches -> equivalence classes ->
  k-anonymity, l-diversity (distinct, entropy, recursive), t-closeness (equal, hierarchical,
  ordered EMD), (alpha,k)-anonymity, delta-disclosure, uniqueness and prosecutor risk.
* :mod:`veil.risk.hierarchy`: ARX-format generalization hierarchies.
* :mod:`veil.risk.anonymize`: the optimal full-domain generalization with record suppression.

Formulas and references: ``docs/risk.md``.
"""

from veil.risk.anonymize import (
    AlphaKAnonymity,
    AnonymizationResult,
    Anonymizer,
    DeltaDisclosure,
    Discernibility,
    DistinctLDiversity,
    EntropyLDiversity,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
    KAnonymity,
    LatticeEvaluation,
    Loss,
    NodeEvaluation,
    NonUniformEntropy,
    OrderedDistanceTCloseness,
    PrivacyModel,
    QualityModel,
    RecursiveCLDiversity,
    anonymize,
)
from veil.risk.hierarchy import Hierarchy, load_hierarchies
from veil.risk.metrics import (
    ClassAggregator,
    EquivalenceClasses,
    RiskReport,
    SensitiveCounts,
    SensitiveRisk,
    aggregate,
    measure,
    report,
)

__all__ = [
    "AlphaKAnonymity",
    "AnonymizationResult",
    "Anonymizer",
    "ClassAggregator",
    "DeltaDisclosure",
    "Discernibility",
    "DistinctLDiversity",
    "EntropyLDiversity",
    "EqualDistanceTCloseness",
    "EquivalenceClasses",
    "HierarchicalDistanceTCloseness",
    "Hierarchy",
    "KAnonymity",
    "LatticeEvaluation",
    "Loss",
    "NodeEvaluation",
    "NonUniformEntropy",
    "OrderedDistanceTCloseness",
    "PrivacyModel",
    "QualityModel",
    "RecursiveCLDiversity",
    "RiskReport",
    "SensitiveCounts",
    "SensitiveRisk",
    "aggregate",
    "anonymize",
    "load_hierarchies",
    "measure",
    "report",
]

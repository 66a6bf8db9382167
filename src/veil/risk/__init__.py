"""Re-identification risk: measure it, and enforce it by generalization and suppression.

* :mod:`veil.risk.classes`: one streaming pass over Arrow batches -> equivalence classes.
* :mod:`veil.risk.metrics`: from the classes, k-anonymity, l-diversity (distinct, entropy,
  recursive), t-closeness (equal, hierarchical, ordered EMD), (alpha,k)-anonymity,
  delta-disclosure, beta-likeness, uniqueness and prosecutor risk.
* :mod:`veil.risk.population`, :mod:`veil.risk.attacker`: population uniqueness (Pitman,
  Zayatz, SNB, Dankar et al.'s rule), journalist and marketer risk.
* :mod:`veil.risk.hierarchy`: ARX-format generalization hierarchies.
* :mod:`veil.risk.anonymize`: the optimal full-domain generalization with record suppression
  (:mod:`~veil.risk.privacy`, :mod:`~veil.risk.quality`, :mod:`~veil.risk.lattice`,
  :mod:`~veil.risk.search`, :mod:`~veil.risk.result`).
* :mod:`veil.policy.risk`: the ``risk:`` section of a policy dataset (:class:`RiskPolicy`).
* :mod:`veil.risk.model_checks`: the policy's models, checked on a table (:class:`ModelCheck`).
* :mod:`veil.risk.gate`: the release gate of a run (:func:`release_gate`).
* :mod:`veil.risk.files`: the same on files (``veil risk``, ``veil anonymize``).

Names are imported on first use, so that the policy loader can import
:mod:`veil.policy.risk` (pydantic only) without numpy and pyarrow.

Formulas and references: ``docs/risk.md``.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from veil._lazy import lazy_exports

_EXPORTS = {
    **{
        name: "veil.risk.privacy"
        for name in (
            "AlphaKAnonymity",
            "BasicBetaLikeness",
            "DeltaDisclosure",
            "DistinctLDiversity",
            "EnhancedBetaLikeness",
            "EntropyLDiversity",
            "EqualDistanceTCloseness",
            "HierarchicalDistanceTCloseness",
            "KAnonymity",
            "OrderedDistanceTCloseness",
            "PrivacyModel",
            "RecursiveCLDiversity",
        )
    },
    **{
        name: "veil.risk.quality"
        for name in ("Discernibility", "Loss", "NonUniformEntropy", "QualityModel", "RankLoss")
    },
    **{
        name: "veil.risk.quality_simple"
        for name in ("AECS", "DMStar", "Height", "MonotonicNonUniformEntropy", "Precision")
    },
    **{
        name: "veil.risk.table_models"
        for name in (
            "AverageRisk",
            "DeltaPresence",
            "HighestRisk",
            "Population",
            "TableModel",
            "UniquenessLimit",
        )
    },
    "PopulationUniqueness": "veil.risk.population",
    "population_uniqueness": "veil.risk.population",
    "AttackerRisk": "veil.risk.attacker",
    "register_risk": "veil.risk.attacker",
    "sampled_risk": "veil.risk.attacker",
    "Utility": "veil.risk.utility",
    "LatticeEvaluation": "veil.risk.lattice",
    "NodeEvaluation": "veil.risk.lattice",
    "AnonymizationResult": "veil.risk.result",
    "Anonymizer": "veil.risk.anonymize",
    "NoSolution": "veil.risk.anonymize",
    "anonymize": "veil.risk.anonymize",
    "Hierarchy": "veil.risk.hierarchy",
    "load_hierarchies": "veil.risk.hierarchy",
    "policy_hierarchies": "veil.risk.hierarchy",
    **{
        name: "veil.risk.classes"
        for name in (
            "ClassAggregator",
            "EquivalenceClasses",
            "SensitiveCounts",
            "aggregate",
            "aggregate_with_population",
        )
    },
    **{name: "veil.risk.metrics" for name in ("RiskReport", "SensitiveRisk", "measure", "report")},
    **{
        name: "veil.policy.risk"
        for name in (
            "AlphaKRule",
            "BetaLikenessRule",
            "DeltaDisclosureRule",
            "LDiversityRule",
            "RiskPolicy",
            "RiskPolicyError",
            "TClosenessRule",
        )
    },
    "ModelCheck": "veil.risk.model_checks",
    "privacy_models": "veil.risk.model_checks",
    **{name: "veil.risk.gate" for name in ("GateResult", "enforce", "release_gate")},
    "anonymize_file": "veil.risk.files",
    "measure_file": "veil.risk.files",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


class _Package(types.ModuleType):
    """``veil.risk.anonymize`` names both a submodule and the function users call. Importing
    the submodule makes Python set the package attribute to the module; keep the function
    there instead (``from veil.risk.anonymize import ...`` still reaches the module)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "anonymize" and isinstance(value, types.ModuleType):
            value = value.anonymize
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from veil.policy.risk import (  # noqa: F401
        AlphaKRule,
        BetaLikenessRule,
        DeltaDisclosureRule,
        LDiversityRule,
        RiskPolicy,
        RiskPolicyError,
        TClosenessRule,
    )
    from veil.risk.anonymize import Anonymizer, NoSolution, anonymize  # noqa: F401
    from veil.risk.attacker import AttackerRisk, register_risk, sampled_risk  # noqa: F401
    from veil.risk.classes import (  # noqa: F401
        ClassAggregator,
        EquivalenceClasses,
        SensitiveCounts,
        aggregate,
        aggregate_with_population,
    )
    from veil.risk.files import anonymize_file, measure_file  # noqa: F401
    from veil.risk.gate import GateResult, enforce, release_gate  # noqa: F401
    from veil.risk.hierarchy import Hierarchy, load_hierarchies, policy_hierarchies  # noqa: F401
    from veil.risk.lattice import LatticeEvaluation, NodeEvaluation  # noqa: F401
    from veil.risk.metrics import RiskReport, SensitiveRisk, measure, report  # noqa: F401
    from veil.risk.model_checks import ModelCheck, privacy_models  # noqa: F401
    from veil.risk.population import PopulationUniqueness, population_uniqueness  # noqa: F401
    from veil.risk.privacy import (  # noqa: F401
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
    from veil.risk.quality import (  # noqa: F401
        Discernibility,
        Loss,
        NonUniformEntropy,
        QualityModel,
        RankLoss,
    )
    from veil.risk.quality_simple import (  # noqa: F401
        AECS,
        DMStar,
        Height,
        MonotonicNonUniformEntropy,
        Precision,
    )
    from veil.risk.result import AnonymizationResult  # noqa: F401
    from veil.risk.table_models import (  # noqa: F401
        AverageRisk,
        DeltaPresence,
        HighestRisk,
        Population,
        TableModel,
        UniquenessLimit,
    )
    from veil.risk.utility import Utility  # noqa: F401

"""Automated decisions about people (Art. 22 GDPR; EU AI Act Annex III 5(b)): the model registry,
the decision ledger, explanations, human review and contest, bias monitoring.

Names are imported on first use (``from veil.decisions import DecisionLedger`` does not load
scikit-learn or SHAP).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    # the ledger (issue 19 item 2, 4)
    "DecisionLedger": "veil.decisions.ledger",
    "RecordedBatch": "veil.decisions.ledger",
    "AsyncDecisionLedger": "veil.decisions.aio",
    "DecisionRecord": "veil.decisions.records",
    "HistoryEntry": "veil.decisions.records",
    "QueueItem": "veil.decisions.records",
    "ScoringSession": "veil.decisions.session",
    # the model registry
    "ModelRegistry": "veil.decisions.registry",
    "RegisteredModel": "veil.decisions.registry",
    # explanations
    "Reason": "veil.decisions.explain",
    "reason_codes": "veil.decisions.explain",
    "plain_reasons": "veil.decisions.explain",
    "explain_decision": "veil.decisions.explanation",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from veil.decisions.aio import AsyncDecisionLedger  # noqa: F401
    from veil.decisions.explain import Reason, plain_reasons, reason_codes  # noqa: F401
    from veil.decisions.explanation import explain_decision  # noqa: F401
    from veil.decisions.ledger import DecisionLedger, RecordedBatch  # noqa: F401
    from veil.decisions.records import DecisionRecord, HistoryEntry, QueueItem  # noqa: F401
    from veil.decisions.registry import ModelRegistry, RegisteredModel  # noqa: F401
    from veil.decisions.session import ScoringSession  # noqa: F401

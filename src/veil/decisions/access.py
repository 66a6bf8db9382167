"""The access package's automated-decisions section (Art. 15(1)(h) GDPR, AI Act Art. 86):
every decision about the person, with its explanation (rendered from the stored reason codes,
so it survives erasure of the inputs), its review history and the inputs still held."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from veil.errors import VeilError

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.ledger import DecisionLedger
    from veil.decisions.records import DecisionRecord, HistoryEntry

__all__ = ["access_section"]


def _explanation(ledger: DecisionLedger, rec: DecisionRecord,
                 history: list[HistoryEntry]) -> dict[str, Any]:
    try:
        model: Any = ledger.model(rec.model, rec.model_version)
    except VeilError:  # a model no longer registered: the record still explains itself
        model = None
    try:
        from veil.decisions.explanation import explain_decision
    except ImportError:  # pragma: no cover - explanations not installed: the reason codes
        return {"reasons": [{"feature": r.feature, "contribution": r.contribution}
                            for r in rec.reasons]}
    out: dict[str, Any] = explain_decision(rec, ledger.policy, model, history=history).to_dict()
    return out


def access_section(ledger: DecisionLedger, subject_id: str, *, actor: str) -> list[dict[str, Any]]:
    """One entry per decision about ``subject_id``, oldest first."""
    out = []
    for rec in ledger.for_subject(subject_id):
        history = ledger.history(rec.id)
        entry = rec.to_dict()
        entry["explanation"] = _explanation(ledger, rec, history)
        entry["history"] = [h.to_dict() for h in history]
        entry["inputs"] = (ledger.inputs(rec.id, actor=actor)
                           if rec.inputs_available else None)
        out.append(entry)
    return out

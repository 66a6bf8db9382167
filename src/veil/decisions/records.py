"""What the decision ledger hands out: a decision, one step of its review history, one item of
the review queue. Plain frozen records; none holds personal data in clear (the subject is a
keyed pseudonym, the inputs stay encrypted in the store until `DecisionLedger.inputs`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from veil.decisions.explain import Reason

__all__ = ["DecisionRecord", "HistoryEntry", "QueueItem", "iso"]

#: A decision's states: final (stands as made), review (routed to a human by the policy),
#: contested (the subject contested it), reviewed (a human's final decision replaced it).
STATUSES = ("final", "review", "contested", "reviewed")


def iso(t: datetime | None) -> str | None:
    """RFC 3339 UTC with ``Z`` (None stays None)."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class DecisionRecord:
    """One decision as recorded (automated, or a reviewer's final decision with ``final_of``).

    ``reasons`` are the stored reason codes: feature and contribution only (a feature's value is
    an input, kept encrypted). ``retain_until`` is the end of the period the log is kept (the
    purpose's ``log_retention``); ``actual`` the observed outcome, when recorded.
    """

    id: str
    model: str
    model_version: int
    purpose: str
    subject: str
    score: float
    threshold: float
    outcome: str
    reasons: list[Reason]
    decided_at: datetime
    decided_by: str
    status: str
    final_of: str | None
    inputs_available: bool
    review: str | None = None  # why the policy routed it to review: refusal | near_threshold
    review_due: datetime | None = None
    session: str | None = None
    retain_until: datetime | None = None
    final_id: str | None = None  # the reviewer's final decision, once reviewed
    actual: int | None = None

    @property
    def automated(self) -> bool:
        return self.final_of is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "model": self.model, "model_version": self.model_version,
            "purpose": self.purpose, "subject": self.subject, "score": self.score,
            "threshold": self.threshold, "outcome": self.outcome,
            "reasons": [{"feature": r.feature, "contribution": r.contribution}
                        for r in self.reasons],
            "decided_at": iso(self.decided_at), "decided_by": self.decided_by,
            "status": self.status, "final_of": self.final_of, "final_id": self.final_id,
            "inputs_available": self.inputs_available, "review": self.review,
            "review_due": iso(self.review_due), "session": self.session,
            "retain_until": iso(self.retain_until), "actual": self.actual,
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One step after the decision: a contest (the subject's view, Art. 22(3)), a review (a
    named reviewer's outcome and rationale) or an observed outcome. ``text`` is None once the
    subject is erased (it was encrypted under their key)."""

    decision_id: str
    kind: str  # contest | review | actual
    at: datetime
    by: str
    due: datetime | None = None
    outcome: str | None = None
    final_id: str | None = None
    text: str | None = None
    text_erased: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision_id, "kind": self.kind, "at": iso(self.at),
                "by": self.by, "due": iso(self.due), "outcome": self.outcome,
                "final_id": self.final_id, "text": self.text,
                "text_erased": self.text_erased}


@dataclass(frozen=True)
class QueueItem:
    """A decision waiting for a human: why (refusal | near_threshold | contest) and by when."""

    decision_id: str
    why: str
    due: datetime
    overdue: bool
    model: str
    purpose: str
    outcome: str
    score: float
    threshold: float
    since: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision_id, "why": self.why, "due": iso(self.due),
                "overdue": self.overdue, "model": self.model, "purpose": self.purpose,
                "outcome": self.outcome, "score": self.score, "threshold": self.threshold,
                "since": iso(self.since)}

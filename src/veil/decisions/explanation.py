"""The explanation a person is owed for an automated decision about them.

Art. 15(1)(h) GDPR ("meaningful information about the logic involved, as well as the significance
and the envisaged consequences") and Art. 86 EU AI Act ("clear and meaningful explanations of the
role of the AI system in the decision-making procedure and the main elements of the decision"):
the decision and its effect, that it was automated and by which model and version, the main
factors in plain language with their direction, the score against the threshold, the person's
Art. 22(3) rights and how to use them, and the review history.

Built from the decision record's stored reason codes and the policy alone, never from the inputs:
after an erasure shreds the inputs, the explanation still works. Rendered as JSON, Markdown and
HTML (every value escaped).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from veil.decisions.explain import Reason, coerce_reasons, plain_reasons

__all__ = ["Explanation", "explain_decision", "explanation_for"]

#: Art. 22(3) safeguards: what the person may do, and the article.
_RIGHTS = {
    "human_intervention": ("Obtain human intervention",
                           "ask for a person to review the decision (Art. 22(3) GDPR)"),
    "express_view": ("Express your point of view",
                     "tell us anything the decision did not take into account "
                     "(Art. 22(3) GDPR)"),
    "contest": ("Contest the decision",
                "ask for the decision to be reconsidered by a person with the authority "
                "to change it (Art. 22(3) GDPR)"),
}
_TOP = 4


@dataclass(frozen=True)
class Explanation:
    """One decision explained; `to_dict`, `to_markdown` and `to_html` render it."""

    decision_id: str
    purpose: str
    decision: str
    outcome: str
    legal_effect: bool
    basis: str | None
    automated: bool
    decided_by: str
    decided_at: datetime
    model: str
    model_version: int
    model_kind: str | None
    score: float
    threshold: float
    status: str
    factors: list[dict[str, Any]]
    rights: list[dict[str, str]]
    contact: str
    history: list[dict[str, Any]] = field(default_factory=list)
    inputs_available: bool = True
    final_of: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id, "purpose": self.purpose, "decision": self.decision,
            "outcome": self.outcome, "legal_effect": self.legal_effect, "basis": self.basis,
            "automated": self.automated, "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat(), "model": self.model,
            "model_version": self.model_version, "model_kind": self.model_kind,
            "score": self.score, "threshold": self.threshold, "status": self.status,
            "final_of": self.final_of, "main_factors": self.factors, "rights": self.rights,
            "contact": self.contact, "review_history": self.history,
            "inputs_available": self.inputs_available,
            "legal_references": ["Art. 15(1)(h) GDPR", "Art. 22 GDPR", "Art. 86 EU AI Act"],
        }

    def _lines(self) -> list[tuple[str, Any]]:
        """The document as (kind, content) parts, shared by Markdown and HTML."""
        how = "automatically, by a computer model" if self.automated else "by a person"
        model = f"{self.model} version {self.model_version}"
        parts: list[tuple[str, Any]] = [
            ("h1", f"Explanation of decision {self.decision_id}"),
            ("p", f"Decision: {self.decision}. Outcome: {self.outcome}."),
            ("p", f"This decision was made {how} ({self.decided_by}) on "
                  f"{self.decided_at.date().isoformat()}, using model {model}."),
        ]
        if self.final_of:
            parts.append(("p", f"It replaces the automated decision {self.final_of} after a "
                               "human review."))
        if self.legal_effect:
            parts.append(("p", "It has a legal or similarly significant effect on you "
                               "(Art. 22 GDPR)."))
        parts += [
            ("h2", "How the decision was reached"),
            ("p", f"The model gave a score of {self.score:.4g}; the threshold is "
                  f"{self.threshold:.4g}. The factors that weighed most:"),
            ("ul", [f"{f['text']} ({f['direction']} the score)" for f in self.factors]
             or ["No factor is recorded for this decision."]),
        ]
        if not self.inputs_available:
            parts.append(("p", "Your input data for this decision has been erased; this "
                               "explanation comes from the reasons recorded when it was made."))
        parts += [("h2", "Your rights"),
                  ("ul", [f"{r['right']}: {r['how']}" for r in self.rights]),
                  ("p", f"To use them, contact {self.contact} quoting decision "
                        f"{self.decision_id}.")]
        if self.history:
            parts += [("h2", "Review history"),
                      ("ul", [_history_line(h) for h in self.history])]
        return parts

    def to_markdown(self) -> str:
        out = []
        for kind, content in self._lines():
            if kind == "h1":
                out.append(f"# {content}")
            elif kind == "h2":
                out.append(f"## {content}")
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in content))
            else:
                out.append(content)
        return "\n\n".join(out) + "\n"

    def to_html(self) -> str:
        e = html.escape
        body = []
        for kind, content in self._lines():
            if kind == "ul":
                body.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in content) + "</ul>")
            else:
                body.append(f"<{kind}>{e(content)}</{kind}>")
        return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{e('Decision ' + self.decision_id)}</title></head><body>\n"
                + "\n".join(body) + "\n</body></html>\n")


def _history_line(h: Mapping[str, Any]) -> str:
    bits = [str(h.get("at") or h.get("time") or ""), str(h.get("kind") or h.get("event") or "")]
    if h.get("by"):
        bits.append(f"by {h['by']}")
    if h.get("outcome"):
        bits.append(f"outcome {h['outcome']}")
    line = " ".join(b for b in bits if b)
    text = h.get("text") or h.get("rationale")
    return f"{line}: {text}" if text else line


def _history(items: Sequence[Any] | None) -> list[dict[str, Any]]:
    out = []
    for h in items or []:
        d = dict(h) if isinstance(h, Mapping) else (
            h.to_dict() if hasattr(h, "to_dict") else dict(vars(h)))
        out.append({k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in d.items()})
    return out


def _factors(reasons: list[Reason], features: Mapping[str, Any]) -> list[dict[str, Any]]:
    lowered = [r for r in reasons if r.contribution < 0][:_TOP]
    texts = {r.feature: plain_reasons([r], features, top=1)[0] for r in lowered}
    raised = sorted((r for r in reasons if r.contribution > 0),
                    key=lambda r: -r.contribution)[:max(0, _TOP - len(lowered))]
    out = [{"feature": r.feature, "text": texts[r.feature], "direction": "lowered",
            "contribution": r.contribution} for r in lowered]
    out += [{"feature": r.feature, "text": f"Your {r.feature.replace('_', ' ')}",
             "direction": "raised", "contribution": r.contribution} for r in raised]
    return out


def _contact(policy: Any) -> str:
    ctl = policy.controller
    dpo = getattr(ctl, "dpo", None)
    who = f"{ctl.name} ({ctl.contact})"
    if dpo is not None and getattr(dpo, "email", None):
        who += f" or its data protection officer ({dpo.email})"
    return who


def explain_decision(record: Any, policy: Any, model: Any = None, *,
                     history: Sequence[Any] | None = None) -> Explanation:
    """The explanation of ``record`` (a `DecisionRecord`) under ``policy``; ``model``: its
    `RegisteredModel` when known (adds the model's kind); ``history``: the contests and reviews
    (`HistoryEntry`\\ s or mappings with at, kind, by, outcome, text), oldest first."""
    purpose = policy.purposes.get(record.purpose) if hasattr(policy.purposes, "get") else None
    ad = getattr(purpose, "automated_decisions", None)
    features = dict(getattr(ad, "features", None) or {})
    reasons = coerce_reasons(record.reasons)
    safeguards = list(getattr(ad, "safeguards", None) or _RIGHTS)
    rights = [{"safeguard": s, "right": _RIGHTS[s][0], "how": _RIGHTS[s][1]}
              for s in safeguards if s in _RIGHTS]
    return Explanation(
        decision_id=record.id, purpose=record.purpose,
        decision=getattr(ad, "decision", None) or getattr(purpose, "description", record.purpose),
        outcome=record.outcome, legal_effect=bool(getattr(ad, "legal_effect", False)),
        basis=getattr(ad, "basis", None),
        automated=str(record.decided_by).startswith("model:"), decided_by=record.decided_by,
        decided_at=record.decided_at, model=record.model, model_version=record.model_version,
        model_kind=getattr(model, "kind", None), score=float(record.score),
        threshold=float(record.threshold), status=record.status,
        factors=_factors(reasons, features), rights=rights, contact=_contact(policy),
        history=_history(history), inputs_available=bool(record.inputs_available),
        final_of=getattr(record, "final_of", None))


def explanation_for(ledger: Any, decision_id: str, *, actor: str | None = None) -> Explanation:
    """The explanation of a decision in ``ledger`` (a `DecisionLedger`): the record (its reading
    recorded in the audit log as ``decision.show`` by ``actor``), its review history (of the
    automated decision a final one replaces), and the registered model when it is there."""
    from veil._actor import default_actor
    from veil.errors import InputError

    rec = ledger.get(decision_id, actor=default_actor(actor))
    history = ledger.history(rec.final_of or rec.id)
    try:
        model = ledger.model(rec.model, rec.model_version)
    except InputError:  # the model's registration is gone: the record still explains itself
        model = None
    return explain_decision(rec, ledger.policy, model, history=history)

"""The model card written at registration (AI Act Art. 11 / Annex IV style, Art. 13 GDPR-minded):
what the model is for, what trained it and whether that data was fit to use, its features and the
reason texts people see, its metrics and fairness at registration, and what the card cannot show.

The card is data (a dict stored with the model, JSON on disk) and a Markdown rendering of it.
Every figure on it comes from the registration call, the training outputs' receipts, or the
policy; nothing is estimated by the card itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from veil.decisions.training_gate import GateResult
    from veil.policy.model import Policy

CARD_VERSION = 1

_STATIC_LIMITS = [
    "Veil does not see the training itself: that the estimator was trained on the listed outputs "
    "(and only on them) is the registrant's statement.",
    "Metrics are those given at registration or computed on the holdout the registrant gave; "
    "they are not re-measured after registration (no drift monitoring).",
    "The risk figures describe the released training table, not the model: membership or "
    "attribute inference against the model itself is not measured.",
]


def _decision_section(policy: Policy, purpose_id: str) -> dict[str, Any]:
    p = policy.purposes[purpose_id]
    ad = getattr(p, "automated_decisions", None)
    out: dict[str, Any] = {"purpose": purpose_id, "description": p.description,
                           "legal_basis": p.legal_basis_text}
    if ad is None:
        return out
    out.update({
        "decision": ad.decision, "legal_effect": ad.legal_effect,
        "art22_basis": ad.basis, "law": ad.law, "safeguards": list(ad.safeguards),
        "overseers": list(ad.overseers),
        "review": {"refusals": ad.review.refusals, "near_threshold": ad.review.near_threshold,
                   "due": str(ad.review.due)},
        "contest_due": str(ad.contest_due),
        "protected_attributes": list(ad.protected_attributes),
        "log_retention": str(ad.log_retention),
    })
    return out


def _features(policy: Policy, purpose_id: str, names: list[str]) -> list[dict[str, Any]]:
    ad = getattr(policy.purposes[purpose_id], "automated_decisions", None)
    decl = ad.features if ad is not None else {}
    return [{"name": n, "reason": decl[n].reason if n in decl else None,
             "field": getattr(decl.get(n), "field", None)} for n in names]


def _limitations(gate: GateResult, metrics: dict[str, Any] | None,
                 fairness: dict[str, Any] | None) -> list[str]:
    out = list(_STATIC_LIMITS)
    if not metrics:
        out.append("No performance metrics were given at registration.")
    if fairness is None:
        out.append("No fairness report at registration (no protected attributes were given): "
                   "monitor with `veil decisions fairness` once decisions are recorded.")
    if gate.accepted_stale:
        out.append(f"{gate.stale_count} training subject(s) were erased, withdrew consent or "
                   "objected before registration and are still in the training data "
                   f"(accepted: {gate.reason}). Retrain without them.")
    return out


def build_card(*, policy: Policy, model: dict[str, Any], purpose_id: str, features: list[str],
               gate: GateResult, metrics: dict[str, Any] | None,
               fairness: dict[str, Any] | None) -> dict[str, Any]:
    """The card as a JSON-ready dict. ``model`` holds name, version, kind, threshold, artifact,
    artifact_sha256, estimator, registered_at, registered_by, description."""
    return {
        "card_version": CARD_VERSION,
        "model": dict(model),
        "intended_use": _decision_section(policy, purpose_id),
        "training_data": [o.to_dict() for o in gate.outputs],
        "features": _features(policy, purpose_id, features),
        "metrics": dict(metrics or {}),
        "fairness": fairness,
        "training_data_gate": {k: v for k, v in gate.to_dict().items() if k != "outputs"},
        "limitations": _limitations(gate, metrics, fairness),
    }


def card_json(card: dict[str, Any]) -> str:
    return json.dumps(card, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if v is None:
        return "-"
    return str(v)


def _training_md(card: dict[str, Any]) -> list[str]:
    lines = ["## Training data", "",
             "| run | sha256 | rows | subjects | consent | k | l / t | suppressed | stale |",
             "|---|---|---|---|---|---|---|---|---|"]
    for o in card["training_data"]:
        r = o.get("risk") or {}
        lt = "; ".join(f"{a}: l={_fmt(s.get('l_distinct'))} t={_fmt(s.get('t_max'))}"
                       for a, s in (r.get("sensitive") or {}).items()) or "-"
        stale = sum(o["stale_subjects"].values())
        lines.append(f"| {o['run_id'][:12]} | {o['sha256'][:12]} | {o['rows']} | "
                     f"{o['subjects']} | {o['consent']} | {_fmt(r.get('k'))} | {lt} | "
                     f"{_fmt(r.get('suppressed_records')) if r else '-'} | {stale} |")
    g = card["training_data_gate"]
    lines += ["", f"Gate: **{g['outcome']}** at {g['checked_at']}"
              + (f" (stale subjects accepted: {g['reason']})" if g.get("accepted_stale") else "")
              + ".", ""]
    return lines


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people: a DPO, a model validator, a supervisor."""
    m, use = card["model"], card["intended_use"]
    lines = [f"# Model card: {m['name']} v{m['version']}", "",
             f"Registered {m['registered_at']} by {m['registered_by']}. Kind: {m['kind']} "
             f"({m.get('estimator') or 'external'}); threshold {_fmt(m['threshold'])}.",
             f"Artifact: `{m.get('artifact') or '-'}` (sha256 `{m.get('artifact_sha256') or '-'}`)",
             "", "## Intended use", "",
             f"- Purpose: `{use['purpose']}`: {use['description']} ({use['legal_basis']})"]
    if "decision" in use:
        lines += [f"- Decision: {use['decision']} (legal or similarly significant effect: "
                  f"{'yes' if use['legal_effect'] else 'no'}; Art. 22(2) basis: "
                  f"{use['art22_basis']})",
                  f"- Safeguards: {', '.join(use['safeguards'])}; overseers: "
                  f"{', '.join(use['overseers'])}",
                  f"- Decision logs kept {use['log_retention']}; contests reviewed within "
                  f"{use['contest_due']}"]
    lines += ["", *_training_md(card), "## Features", "",
              "| feature | reason shown to the person |", "|---|---|"]
    lines += [f"| {f['name']} | {f['reason'] or '-'} |" for f in card["features"]]
    lines += ["", "## Metrics at registration", ""]
    lines += [f"- {k}: {_fmt(v)}" for k, v in card["metrics"].items()] or ["- none given"]
    lines += ["", "## Fairness at registration", ""]
    fair = card.get("fairness")
    lines += ([f"```json\n{json.dumps(fair, indent=2)}\n```"] if fair else ["- not measured"])
    lines += ["", "## Limitations", ""] + [f"- {x}" for x in card["limitations"]]
    return "\n".join(lines) + "\n"

"""Draft a purpose's DPIA from the policy and (optionally) the workspace: nothing is invented;
what Veil cannot know becomes a question for the DPO."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from veil.dpia.document import Dpia
from veil.dpia.measured import last_run_figures
from veil.dpia.questions import open_questions
from veil.policy.edpb import CRITERIA, criteria_met
from veil.policy.model import Policy, Purpose
from veil.store.workspace import Workspace

#: Treatments that replace a value by a pseudonym or ciphertext (Art. 4(5), 32(1)(a)).
PSEUDONYMIZING = ("pseudonymize", "tokenize", "encrypt", "fpe")
#: Treatments that coarsen or hide a value.
REDUCING = ("generalize", "mask", "noise", "date_shift", "redact", "redact_text", "replace")


def draft_dpia(policy: Policy, purpose_id: str, workspace: Workspace | None = None) -> Dpia:
    """The DPIA draft of one purpose; with a workspace, the last succeeded run's figures."""
    p = policy.purpose(purpose_id)
    met = dict((c.id, why) for c, why in criteria_met(policy, purpose_id))
    measured = last_run_figures(workspace, purpose_id) if workspace is not None else None
    criteria = [{"id": c.id, "title": c.title, "met": c.id in met, "why": met.get(c.id)}
                for c in CRITERIA]
    return Dpia(
        purpose=purpose_id, reference=p.dpia,
        generated_at=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        policy={"path": policy.source, "sha256": policy.digest,
                "controller": policy.controller.name},
        description=_description(policy, purpose_id, p), criteria=criteria,
        necessity=_necessity(policy, p), measured_risk=measured,
        safeguards=_safeguards(policy, purpose_id, measured),
        open_risks=open_questions(policy, purpose_id, met, measured))


def _description(policy: Policy, pid: str, p: Purpose) -> dict[str, Any]:
    cats = sorted({policy.datasets[d].fields[f].category
                   for d, u in p.datasets.items() for f in u.fields})
    ad = p.automated_decisions
    return {
        "description": p.description, "legal_basis": p.legal_basis_text,
        "legitimate_interest": p.legitimate_interest,
        "data_subjects": sorted({policy.datasets[d].subjects for d in p.datasets}),
        "datasets": sorted(p.datasets),
        "categories": [f"{c} ({policy.category(c).description})" for c in cats],
        "retention": f"{p.retention} ({p.retention_period.iso()})",
        "on_erasure": {"rebuild": "rebuilt without the subject", "purge": "deleted",
                       "flag": "flagged for a person to decide"}[p.on_erasure],
        "recipients": [{"id": r, "name": x.name, "role": x.role, "country": x.country,
                        "contract": x.contract} for r, x in policy.recipients_of(pid)],
        "transfers": [t.model_dump() for t in p.transfers],
        "automated_decisions": None if ad is None else {
            "decision": ad.decision, "basis": ad.basis, "legal_effect": ad.legal_effect,
            "features": list(ad.features), "overseers": list(ad.overseers)},
    }


def _necessity(policy: Policy, p: Purpose) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for d, use in p.datasets.items():
        declared = policy.datasets[d].fields
        used = {f: _treatment_text(t.transform, t.params) for f, t in use.fields.items()}
        out[d] = {"declared": len(declared), "used": used,
                  "not_used": [f for f in declared if f not in use.fields]}
    kept = [f for u in p.datasets.values() for f, t in u.fields.items() if t.transform == "keep"]
    return {"datasets": out, "kept_in_clear": kept,
            "principle": "deny by default: only the fields listed leave a run (Art. 5(1)(c), "
                         "25(2))"}


def _treatment_text(name: str, params: dict[str, Any]) -> str:
    args = ", ".join(f"{k}={v}" for k, v in params.items())
    return name + (f" ({args})" if args else "")


def _safeguards(policy: Policy, pid: str, measured: dict[str, Any] | None) -> list[str]:
    p = policy.purposes[pid]
    out = []
    if p.encryption.at_rest:
        seen = " (the last run's output was encrypted)" if measured and measured["encrypted"] \
            else ""
        out.append("Outputs encrypted at rest (Tink AES-GCM-HKDF streaming AEAD, keys wrapped "
                   f"under a key-encryption key){seen}")
    else:
        out.append("Outputs are NOT encrypted at rest (encryption.at_rest: false)")
    fields = [(f, t.transform) for u in p.datasets.values() for f, t in u.fields.items()]
    pseudo = [f"{f} ({t})" for f, t in fields if t in PSEUDONYMIZING]
    reduced = [f"{f} ({t})" for f, t in fields if t in REDUCING]
    if pseudo:
        out.append("Pseudonymized or encrypted fields: " + ", ".join(pseudo))
    if reduced:
        out.append("Generalized, masked or redacted fields: " + ", ".join(reduced))
    if p.needs_consent:
        out.append("Consent filter: only rows of subjects with valid consent at run time are "
                   "used (Veil consent ledger)")
    out.append("Every run, consent change and key operation is recorded in the tamper-evident "
               "audit log (RFC 6962 Merkle tree, signed tree heads)")
    ad = p.automated_decisions
    if ad is not None:
        review = ("every refusal" if ad.review.refusals else "no refusals") + (
            f" and scores within {ad.review.near_threshold} of the threshold"
            if ad.review.near_threshold else "")
        out.append("Automated-decision safeguards (Art. 22(3)): "
                   f"{', '.join(ad.safeguards) or 'none'}; human review of {review} within "
                   f"{ad.review.due}; contests reviewed within {ad.contest_due}; overseers: "
                   f"{', '.join(ad.overseers) or 'none'}; "
                   f"decision log kept {ad.log_retention}")
        if ad.protected_attributes:
            out.append("Bias monitoring on " + ", ".join(ad.protected_attributes)
                       + " (used only for fairness checks)")
    processors = [x for _, x in policy.recipients_of(pid) if x.role == "processor"]
    out += [f"Processor {x.name} under Art. 28(3) contract {x.contract}" for x in processors]
    out += [f"Controller measure: {m}" for m in policy.security_measures]
    return out


"""What ``veil policy check`` reports: a policy that loads, whose treatments can all run, and a
summary of its datasets and purposes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from veil.pipeline.plan import check_treatments
from veil.policy import Policy, load_policy


def check_policy(name: str | Path) -> Policy:
    """Load a policy file (or ``"sample"``) and check every purpose's treatments; the errors
    name file:line and the key."""
    policy = load_policy(name)
    check_treatments(policy)
    return policy


def summarize_policy(policy: Policy) -> dict[str, Any]:
    """The policy's datasets (fields, subject id, quasi-identifiers) and purposes (legal basis,
    consent, retention, fields used), as JSON-ready data."""
    return {
        "policy": policy.source, "sha256": policy.digest, "controller": policy.controller.name,
        "datasets": {d: {"fields": len(ds.fields), "subject_id": ds.subject_id,
                         "quasi_identifiers": [f for f, v in ds.fields.items()
                                               if v.quasi_identifier]}
                     for d, ds in policy.datasets.items()},
        "purposes": {p: {"legal_basis": pu.legal_basis_text, "consent_required": pu.needs_consent,
                         "retention": pu.retention,
                         "fields": {d: list(u.fields) for d, u in pu.datasets.items()}}
                     for p, pu in policy.purposes.items()},
    }

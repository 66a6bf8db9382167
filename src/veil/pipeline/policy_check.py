"""What ``veil policy check`` reports: a policy that loads (the legal rules of
veil.policy.legal included), whose treatments can all run, whose consent purposes have a notice
in the workspace, and a summary of its datasets and purposes with the warnings a DPO should
read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.consent.models import now_us
from veil.consent.notices import read_notices
from veil.errors import PolicyError
from veil.pipeline.plan import treatment_errors
from veil.policy import Policy
from veil.policy.legal import Finding, legal_warnings
from veil.policy.loader import in_file_order, load_policy_problems

if TYPE_CHECKING:
    from veil.store.workspace import Workspace

#: The rule a consent purpose without a notice breaks: consent is informed (Art. 4(11), 7(1))
#: and the information of Art. 13 is given when the data is collected.
NOTICE_ARTICLE = "Art. 4(11), 7(1), 13 GDPR"


def check_policy(name: str | Path) -> Policy:
    """Load a policy file (or ``"sample"``) and check every purpose's treatments; the errors
    name file:line and the key. One `PolicyError` stands for all: its ``problems`` lists every
    one found (schema errors, else legal rules, risk sections and treatments)."""
    policy, problems = load_policy_problems(name)
    if policy is not None:
        problems = in_file_order(problems + treatment_errors(policy))
    if problems:
        raise PolicyError.several(problems)
    assert policy is not None
    return policy


def missing_notices(policy: Policy, workspace: Workspace) -> list[Finding]:
    """Consent purposes with no notice version in effect now in the workspace's store."""
    now = now_us()
    out = []
    for pid, p in policy.purposes.items():
        if not p.needs_consent:
            continue
        notices = read_notices(workspace.engine, pid)
        if not any(n.effective_us <= now for n in notices):
            state = "only notices that take effect later" if notices else "no notice"
            out.append(Finding(
                "consent_notice", NOTICE_ARTICLE, "error", pid, ("purposes", pid),
                f"consent purpose '{pid}' has {state} in the workspace: add the text people "
                f"are shown with `veil consent notice add {pid} --version 1 --text-file FILE`"))
    return out


def policy_findings(policy: Policy, workspace: Workspace | None = None) -> list[Finding]:
    """Errors that need the workspace (missing consent notices) and the policy's warnings."""
    found = missing_notices(policy, workspace) if workspace is not None else []
    return found + legal_warnings(policy)


def summarize_policy(policy: Policy, findings: list[Finding] | None = None) -> dict[str, Any]:
    """The policy's datasets (fields, subject id, quasi-identifiers) and purposes (legal basis,
    consent, retention, fields used, recipients, DPIA), and its findings, as JSON-ready data."""
    return {
        "policy": policy.source, "sha256": policy.digest, "controller": policy.controller.name,
        "datasets": {d: {"fields": len(ds.fields), "subject_id": ds.subject_id,
                         "quasi_identifiers": [f for f, v in ds.fields.items()
                                               if v.quasi_identifier]}
                     for d, ds in policy.datasets.items()},
        "purposes": {p: {"legal_basis": pu.legal_basis_text, "consent_required": pu.needs_consent,
                         "retention": pu.retention,
                         "fields": {d: list(u.fields) for d, u in pu.datasets.items()},
                         "recipients": [r for r, _ in policy.recipients_of(p)],
                         "on_erasure": pu.on_erasure, "dpia": pu.dpia,
                         "automated_decisions": pu.automated_decisions is not None}
                     for p, pu in policy.purposes.items()},
        "recipients": {r: {"name": x.name, "role": x.role, "country": x.country}
                       for r, x in policy.recipients.items()},
        "findings": [f.to_dict(policy) for f in findings or []],
    }

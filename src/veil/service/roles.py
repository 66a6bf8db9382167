"""Roles and the permission matrix of the service: data, in one place.

Every endpoint names one permission (``PERMISSIONS``); every role holds a set of permissions
(``ROLE_PERMISSIONS``). The docs render :func:`matrix_markdown`, the tests call every endpoint
with every role from the same tables, so the three cannot drift apart.
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("dpo", "engineer", "service", "auditor", "reviewer")

ROLE_HELP: dict[str, str] = {
    "dpo": "Data Protection Officer: everything, including data-subject requests and breaches",
    "engineer": "ML / data engineer: scan files, read the policy and records, check consent",
    "service": "a bank application: record and check consent at the customer's click",
    "auditor": "read-only: audit log and proofs, records of processing, breach register, "
               "request list",
    "reviewer": "a credit decision reviewer: the decisions, the review queue and reviews "
                "(Art. 22(3) human intervention)",
}

# permission -> what it allows (the order is the order of the docs' table)
PERMISSIONS: dict[str, str] = {
    "auth.self": "who am I; exchange the key for a short-lived bearer token",
    "consent.write": "grant, renew, withdraw consent",
    "consent.check": "check consent (one subject or a list)",
    "consent.receipt": "a subject's consent receipt (ISO/IEC TS 27560 record)",
    "consent.history": "a subject's consent events",
    "dsr.list": "list data-subject requests",
    "dsr.read": "show one data-subject request",
    "dsr.write": "open, run, close data-subject requests",
    "breach.read": "list and show breaches, export the breach register",
    "breach.write": "record, update, assess, notify and close breaches; write the notification "
                    "drafts",
    "audit.read": "audit head, proofs, verification, events",
    "witness.read": "the checkpoints this service witnessed for other logs",
    "witness.cosign": "submit a log's checkpoint for this service to check and co-sign",
    "policy.read": "the policy in force",
    "ropa.read": "records of processing (Art. 30)",
    "retention.read": "outputs due for disposal (retention) and their legal holds",
    "retention.write": "run the retention sweep (deletes expired outputs, destroys their keys)",
    "scan": "scan an uploaded file for personal data",
    "decisions.read": "list and show automated decisions (pseudonymous), the review queue",
    "decisions.write": "record a model's decision about a person",
    "decisions.contest": "contest a decision for the person (their point of view)",
    "decisions.review": "record a human review: the final decision",
    "decisions.fairness": "run a bias check with protected attributes (Art. 10(5) AI Act: "
                          "used for the check only, never stored)",
    "metrics.read": "Prometheus metrics: request counts and latencies, backlogs and deadlines "
                    "(no personal data)",
}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "dpo": frozenset(PERMISSIONS),
    "engineer": frozenset({"auth.self", "consent.check", "policy.read", "ropa.read", "scan"}),
    "service": frozenset({"auth.self", "consent.write", "consent.check", "consent.receipt",
                          "witness.read", "witness.cosign", "decisions.write",
                          "decisions.contest"}),
    "auditor": frozenset({"auth.self", "audit.read", "ropa.read", "breach.read", "dsr.list",
                          "witness.read", "retention.read", "decisions.read", "metrics.read"}),
    "reviewer": frozenset({"auth.self", "decisions.read", "decisions.review"}),
}


def allowed(role: str, permission: str) -> bool:
    """Whether ``role`` holds ``permission`` (unknown roles hold nothing)."""
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


def matrix_markdown() -> str:
    """The permission matrix as a Markdown table (rendered into the docs)."""
    head = "| permission | allows | " + " | ".join(ROLES) + " |"
    rule = "|---|---|" + "---|" * len(ROLES)
    rows = [head, rule]
    for perm, text in PERMISSIONS.items():
        marks = " | ".join("yes" if perm in ROLE_PERMISSIONS[r] else "-" for r in ROLES)
        rows.append(f"| `{perm}` | {text} | {marks} |")
    return "\n".join(rows) + "\n"


__all__ = ["PERMISSIONS", "ROLES", "ROLE_HELP", "ROLE_PERMISSIONS", "allowed", "matrix_markdown"]

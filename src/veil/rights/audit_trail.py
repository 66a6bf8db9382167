"""A request's audit events: every change (open, run, extend, close, lift, export) is logged
with the request id and type, the subject as ``dsr:<pseudonym>`` only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from veil.rights.records import KINDS

if TYPE_CHECKING:
    from veil.store.workspace import Workspace

__all__ = ["audit_request", "audited"]


def audit_request(workspace: Workspace, action: str, rec: Any, actor: str,
                  outcome: str = "success", counts: dict[str, int] | None = None,
                  details: dict[str, Any] | None = None,
                  categories: list[str] | None = None) -> None:
    """Append one event about request ``rec`` (details: only scalar values are kept)."""
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    d = {"request": rec.id, "kind": rec.kind}
    d.update({k: v for k, v in (details or {}).items()
              if v is None or isinstance(v, str | int | float | bool)})
    AuditLog(workspace).append([AuditEvent(
        time=datetime.now(UTC), actor=actor or "unknown", action=action,
        purpose="data-subject-rights", legal_basis=KINDS[rec.kind], outcome=outcome,
        data_categories=categories or [], counts=counts or {},
        subjects=[f"dsr:{rec.subject}"], details=d)])


def audited(workspace: Workspace, request_id: str, action: str) -> bool:
    """Whether the audit log holds a successful ``action`` event of this request."""
    from veil.audit.log import AuditLog

    for le in AuditLog(workspace).events(action=action, outcome="success", newest_first=True):
        if le.event.details.get("request") == request_id:
            return True
    return False

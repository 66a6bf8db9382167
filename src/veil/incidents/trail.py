"""The audit trail of breach handling: one event per step (``breach.*``) holding counts,
categories and subject pseudonyms only, never an id or a description."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from veil.incidents.breach import breach_ref
from veil.store.workspace import Workspace

AUDIT_PURPOSE = "breach-management"
AUDIT_BASIS = "Art. 33-34 GDPR"
#: Subject pseudonyms per event: a large scope continues in ``breach.scope`` events.
AUDIT_SUBJECTS = 1000


class BreachTrail:
    """Writes the audit events of one actor's breach handling."""

    def __init__(self, workspace: Workspace, actor: str) -> None:
        from veil.audit.screen import screen_text

        screen_text({"actor": actor})  # refused before any breach row is stored, not after
        self.workspace = workspace
        self.actor = actor

    def record(self, action: str, bid: int, scope: dict[str, Any], pseudonyms: Sequence[str],
               *, details: dict[str, Any], digests: dict[str, str] | None = None) -> None:
        """``action`` for breach ``bid``: its categories and counts from ``scope``, the subject
        pseudonyms in parts of :data:`AUDIT_SUBJECTS`."""
        from veil.audit.event import AuditEvent
        from veil.audit.log import AuditLog

        now = datetime.now(UTC)
        cats = list(scope.get("categories") or [])
        counts = {"subjects": int((scope.get("subjects") or {}).get("count") or 0),
                  "records": int((scope.get("records") or {}).get("count") or 0)}
        base = {"breach": breach_ref(bid), **details}
        chunks = [list(pseudonyms[i:i + AUDIT_SUBJECTS])
                  for i in range(0, len(pseudonyms), AUDIT_SUBJECTS)] or [[]]
        events = [AuditEvent(
            time=now, actor=self.actor, action=action if n == 0 else "breach.scope",
            purpose=AUDIT_PURPOSE, legal_basis=AUDIT_BASIS, outcome="success",
            data_categories=cats, counts=counts, subjects=part, digests=digests or {},
            details=base if n == 0 else {"breach": breach_ref(bid), "part": n})
            for n, part in enumerate(chunks)]
        AuditLog(self.workspace).append(events)

    def register_export(self, count: int, digests: dict[str, str]) -> None:
        """The Art. 33(5) register was exported (``count`` breaches)."""
        from veil.audit.log import AuditLog

        AuditLog(self.workspace).record(
            self.actor, "breach.register_export", purpose=AUDIT_PURPOSE,
            legal_basis="Art. 33(5) GDPR", outcome="success", counts={"breaches": count},
            digests=digests)

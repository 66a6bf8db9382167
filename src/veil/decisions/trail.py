"""The ledger's audit events. An online decision, a contest, a review and a reading of inputs
each get their own event naming the decision and the subject's pseudonym; a batch gets one
event with its counts and the SHA-256 of its decision ids (one per line, in order), so the
events stay small whatever the batch size. Events hold no personal data: the free text they
carry (actor, reviewer) is screened before anything is stored (`screen`)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from veil.audit.event import AuditEvent
    from veil.store.workspace import Workspace

__all__ = ["batch_event", "event", "ids_digest", "screen", "write"]

Details = Mapping[str, str | int | float | bool | None]


_SCREENED: set[tuple[tuple[str, str], ...]] = set()  # passed already (an online loop's actor)


def screen(**fields: str) -> None:
    """Refuse, before any write, text an event would carry if it holds personal data."""
    key = tuple(fields.items())
    if key in _SCREENED:
        return
    from veil.audit.screen import screen_text

    screen_text({k: v[:128] for k, v in fields.items() if v})
    if len(_SCREENED) >= 1024:
        _SCREENED.clear()
    _SCREENED.add(key)


def actor(text: str, pseudonym: Callable[[str], str]) -> str:
    """The name an event gives a person who acts (a reviewer, the DPO for a subject): the text
    itself when the audit screen finds no personal data in it (a role, a team, a key), else
    ``person:`` and 16 hex digits of its keyed pseudonym (the ledger's rows keep the name)."""
    from veil.errors import AuditError

    try:
        screen(actor=text)
    except AuditError:
        return f"person:{pseudonym(text)[:16]}"
    return text[:128]


def ids_digest(ids: Sequence[str]) -> str:
    return "sha256:" + hashlib.sha256("\n".join(ids).encode("ascii")).hexdigest()


def event(action: str, actor: str, purpose: str, legal_basis: str, *,
          subjects: Sequence[str] = (), counts: Mapping[str, int] | None = None,
          details: Details | None = None, digests: Mapping[str, str] | None = None,
          outcome: str = "success") -> AuditEvent:
    from veil.audit.event import AuditEvent

    return AuditEvent(time=datetime.now(UTC), actor=actor[:128] or "unknown", action=action,
                      purpose=purpose, legal_basis=legal_basis, outcome=outcome,
                      data_categories=["automated_decision"], counts=dict(counts or {}),
                      subjects=list(subjects), digests=dict(digests or {}),
                      details=dict(details or {}))


def batch_event(actor: str, purpose: str, legal_basis: str, ids: Sequence[str], *,
                counts: Mapping[str, int], details: Details) -> AuditEvent:
    return event("decision.batch", actor, purpose, legal_basis, counts=counts,
                 details=details, digests={"decisions": ids_digest(ids)})


def write(workspace: Workspace, events: Sequence[AuditEvent]) -> None:
    from veil.audit.log import AuditLog

    if events:
        AuditLog(workspace).append(events)

"""Consent changes in the audit log: one event per (purpose, kind, collector) and up to
``SUBJECTS_PER_EVENT`` subjects, each named by keyed pseudonym only (the log holds no direct
personal data, so an erasure never conflicts with it)."""

from __future__ import annotations

import hmac
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from veil.consent.models import Event, SubjectRef

if TYPE_CHECKING:
    from veil.audit.event import AuditEvent
    from veil.store.workspace import Workspace

__all__ = ["SUBJECTS_PER_EVENT", "audit_consent_events", "consent_audit_events",
           "screen_consent_text"]

SUBJECTS_PER_EVENT = 1000


def screen_consent_text(collectors: Iterable[str], channels: Iterable[str]) -> None:
    """Refuse, before anything is stored, the text the audit events of an append would carry
    if it holds personal data (the audit screen would refuse the events after the write)."""
    from veil.audit.screen import screen_text

    screen_text({"actor": sorted({c[:128] or "unknown" for c in collectors}),
                 "details.channels": sorted(set(channels))})


def audit_consent_events(workspace: Workspace, ref: SubjectRef, events: list[Event]) -> None:
    """Append the audit events that record ``events`` (stored consent events)."""
    from veil.audit.log import AuditLog

    audit = consent_audit_events(ref, events)
    if audit:
        AuditLog(workspace).append(audit)


def consent_audit_events(ref: SubjectRef, events: list[Event]) -> list[AuditEvent]:
    """The audit events that record ``events``: one per (purpose, kind, collector) and up to
    `SUBJECTS_PER_EVENT` pseudonymous subjects."""
    from veil.audit.event import AuditEvent

    groups: dict[tuple[str, str, str], list[Event]] = defaultdict(list)
    for e in events:
        groups[(e.purpose, e.kind, e.collector)].append(e)
    now = datetime.now(UTC)
    key = ref.key()
    tokens: dict[str, str] = {}  # subject -> "consent:" + ref.token(subject), one-shot HMACs
    for e in events:
        if e.subject not in tokens:
            tokens[e.subject] = "consent:" + hmac.digest(
                key, e.subject.encode("utf-8", "surrogatepass"), "sha256").hex()
    audit = []
    for (purpose, kind, collector), evs in groups.items():
        for i in range(0, len(evs), SUBJECTS_PER_EVENT):
            part = evs[i:i + SUBJECTS_PER_EVENT]
            audit.append(AuditEvent(
                time=now, actor=collector[:128] or "unknown", action=f"consent.{kind}",
                purpose=purpose, legal_basis="consent", outcome="success",
                counts={"events": len(part)},
                subjects=sorted({tokens[e.subject] for e in part}),
                details={"channels": ",".join(sorted({e.channel for e in part}))[:500]}))
    return audit

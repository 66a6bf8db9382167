"""What a data-subject request is: its types (the GDPR articles), states and deadlines, and the
record of a stored request (no personal data: the subject is a pseudonym)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from veil.errors import InputError
from veil.policy.duration import Duration
from veil.rights.package_state import honest_result
from veil.store.schema import dsr_requests

__all__ = ["DSR_KEYSET", "KINDS", "LEASE_MINUTES", "OBJECTABLE_BASES", "OPEN_STATES",
           "PACKAGE_KEYSET", "PORTABLE_BASES", "PURPOSE_KINDS", "STATUSES", "RequestRecord",
           "add_months", "iso", "parse_time", "record_from_row", "record_from_values", "utc"]

KINDS: dict[str, str] = {
    "access": "Art. 15 right of access",
    "portability": "Art. 20 right to data portability",
    "rectification": "Art. 16 right to rectification",
    "erasure": "Art. 17 right to erasure",
    "restriction": "Art. 18 right to restriction of processing",
    "objection": "Art. 21 right to object",
}
OPEN_STATES = ("open", "running", "failed")
PORTABLE_BASES = ("consent", "contract")
OBJECTABLE_BASES = ("legitimate_interests", "public_task")
DSR_KEYSET = "dsr"
PACKAGE_KEYSET = "dsr-packages"
LEASE_MINUTES = 30
STATUSES = ("open", "running", "failed", "completed", "refused", "closed")
PURPOSE_KINDS = ("restriction", "objection")


def add_months(t: datetime, months: int) -> datetime:
    """Same day ``months`` later (the month's last day when it has fewer days)."""
    return Duration(months=months).after(t)


def utc(t: datetime | None) -> datetime | None:
    """``t`` in UTC (a naive time, as some databases return it, is taken as UTC)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: datetime | None) -> str | None:
    t = utc(t)
    return None if t is None else t.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: datetime | str | None, what: str) -> datetime:
    """An aware time from a datetime or ISO 8601 text (default now); InputError naming
    ``what``."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InputError(f"{what} must carry a time zone (e.g. 2025-03-01T09:00:00Z)")
        return value.astimezone(UTC)
    try:
        t = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what} '{value}' is not an ISO 8601 time "
                         "(e.g. 2025-03-01T09:00:00Z)") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC)


@dataclass
class RequestRecord:
    """A request as stored (no personal data: the subject is a pseudonym)."""

    id: str
    kind: str
    subject: str
    received_at: datetime
    due_at: datetime
    extended_months: int
    extension_reason: str | None
    status: str
    verification: str | None
    purposes: list[str] | None
    policy_path: str
    opened_by: str
    updated_at: datetime
    closed_at: datetime | None
    close_note: str | None
    result: dict[str, Any] | None
    error: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)
    lease_owner: str | None = None
    running_since: datetime | None = None
    hold_until: datetime | None = None
    package: str | None = None  # the package's state now (`veil.rights.package_state`)

    @property
    def article(self) -> str:
        return KINDS[self.kind]

    def urgency(self, now: datetime | None = None, due_soon_days: int = 7) -> str:
        now = now or datetime.now(UTC)
        if self.status in ("completed", "closed") and self.hold_until is not None:
            return "hold ended: run again" if self.hold_until <= now else "legal hold"
        if self.status not in OPEN_STATES:
            return ""
        now = now or datetime.now(UTC)
        if self.due_at < now:
            return "overdue"
        if self.due_at - now <= timedelta(days=due_soon_days):
            return "due soon"
        return ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "article": self.article,
                "subject": self.subject, "received_at": iso(self.received_at),
                "due_at": iso(self.due_at), "urgency": self.urgency(),
                "extended_months": self.extended_months,
                "extension_reason": self.extension_reason, "status": self.status,
                "verification": self.verification, "purposes": self.purposes,
                "policy": self.policy_path, "opened_by": self.opened_by,
                "updated_at": iso(self.updated_at), "closed_at": iso(self.closed_at),
                "close_note": self.close_note, "package": self.package,
                "result": honest_result(self.result, self.package), "error": self.error,
                "running_since": iso(self.running_since), "hold_until": iso(self.hold_until),
                "steps": self.steps}


def record_from_row(r: Any, steps: list[dict[str, Any]] | None = None) -> RequestRecord:
    """The record of a ``dsr_requests`` row (with its recorded steps)."""
    return RequestRecord(
        id=r.id, kind=r.kind, subject=r.subject, received_at=utc(r.received_at),  # type: ignore[arg-type]
        due_at=utc(r.due_at), extended_months=r.extended_months,  # type: ignore[arg-type]
        extension_reason=r.extension_reason, status=r.status, verification=r.verification,
        purposes=json.loads(r.purposes) if r.purposes else None, policy_path=r.policy_path,
        opened_by=r.opened_by, updated_at=utc(r.updated_at),  # type: ignore[arg-type]
        closed_at=utc(r.closed_at), close_note=r.close_note, result=r.result, error=r.error,
        steps=steps or [], lease_owner=r.lease_owner, running_since=utc(r.running_since),
        hold_until=utc(r.hold_until))


class _Row:
    """Column values seen as a row (to build a RequestRecord before it is stored)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update({c.name: None for c in dsr_requests.c})
        self.__dict__.update(values)


def record_from_values(values: dict[str, Any]) -> RequestRecord:
    """The record a row of these column values will be (before it is stored)."""
    return record_from_row(_Row(values))

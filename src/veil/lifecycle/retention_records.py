"""What the retention ledger holds about one output (a ``retention_outputs`` row), what a
disposal did, and how an output is named on the command line (run id, prefix, or path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.errors import InputError, NotFoundError
from veil.store.schema import retention_outputs

__all__ = ["DISPOSAL_STEPS", "LEGAL_BASIS", "Disposal", "OutputRetention", "find_output",
           "iso", "parse_now", "retention_of", "utc"]

#: A disposal's steps, in order; each is recorded before the next starts.
DISPOSAL_STEPS = ("intent", "file_deleted", "key_destroyed", "done")
LEGAL_BASIS = "Art. 5(1)(e) storage limitation"


def utc(t: datetime | None) -> datetime | None:
    """Aware UTC (SQLite hands back naive times, stored as UTC)."""
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def iso(t: datetime | None) -> str | None:
    t = utc(t)
    return None if t is None else t.isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_now(value: datetime | str | None) -> datetime:
    """The clock a status or sweep judges by: now, or a given time (``--now``, tests)."""
    if value is None:
        return datetime.now(UTC)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InputError("now must carry a time zone (e.g. 2031-01-01T00:00:00Z)")
        return value.astimezone(UTC)
    try:
        t = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--now '{str(value)[:40]}' is not an ISO 8601 time "
                         "(e.g. 2031-01-01T00:00:00Z)") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


@dataclass(frozen=True)
class OutputRetention:
    """One published output's retention: expiry, key, hold and disposal state."""

    run_id: str
    output: str
    digest: str | None
    purpose: str
    retention: str
    created_at: datetime
    expires_at: datetime
    keyset: str | None
    own_key: bool
    hold_reason: str | None
    held_at: datetime | None
    held_by: str | None
    state: str
    disposal_reason: str | None
    disposal_started_at: datetime | None
    disposed_at: datetime | None
    certificate: str | None

    def due(self, now: datetime) -> bool:
        """Expired and not yet disposed of (a held output is due but kept)."""
        return self.state != "done" and self.expires_at <= now

    def urgency(self, now: datetime) -> str:
        if self.state == "done":
            return "disposed"
        if self.state != "live":
            return "disposal unfinished"
        if self.expires_at <= now:
            return "held" if self.hold_reason else "overdue"
        return ""

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        return {"run_id": self.run_id, "output": self.output, "sha256": self.digest,
                "purpose": self.purpose, "retention": self.retention,
                "created_at": iso(self.created_at), "expires_at": iso(self.expires_at),
                "due": self.due(now), "urgency": self.urgency(now), "state": self.state,
                "keyset": self.keyset, "own_key": self.own_key,
                "hold": None if not self.hold_reason else {
                    "reason": self.hold_reason, "since": iso(self.held_at), "by": self.held_by},
                "disposal_reason": self.disposal_reason,
                "disposed_at": iso(self.disposed_at), "certificate": self.certificate}


def retention_of(row: Any) -> OutputRetention:
    return OutputRetention(
        run_id=row.run_id, output=row.output_ref, digest=row.output_digest,
        purpose=row.purpose, retention=row.retention, created_at=utc(row.created_at),  # type: ignore[arg-type]
        expires_at=utc(row.expires_at), keyset=row.keyset, own_key=bool(row.own_key),  # type: ignore[arg-type]
        hold_reason=row.hold_reason, held_at=utc(row.held_at), held_by=row.held_by,
        state=row.state, disposal_reason=row.disposal_reason,
        disposal_started_at=utc(row.disposal_started_at), disposed_at=utc(row.disposed_at),
        certificate=row.certificate)


def find_output(conn: sa.Connection, ref: str) -> OutputRetention:
    """An output by run id, a unique run-id prefix of 6+ characters, or its path."""
    t = retention_outputs
    ref = str(ref or "").strip()
    if not ref:
        raise InputError("an output reference is empty: give a run id or an output path")
    rows = conn.execute(sa.select(t).where(t.c.run_id == ref)).all()
    if not rows and len(ref) >= 6 and ref.isalnum():
        rows = conn.execute(sa.select(t).where(t.c.run_id.like(ref + "%"))).all()
    if not rows:
        from pathlib import Path

        rows = conn.execute(sa.select(t).where(
            t.c.output_ref.in_([ref, str(Path(ref).resolve())]))).all()
    if not rows:
        raise NotFoundError(f"no output '{ref[:80]}' in the retention records "
                            "(see `veil retention status`)")
    if len(rows) > 1:
        raise InputError(f"output reference '{ref[:80]}' is ambiguous (give the full run id)")
    return retention_of(rows[0])


@dataclass(frozen=True)
class Disposal:
    """What disposing of one output did (the certificate's entry for it)."""

    run_id: str
    output: str
    digest: str | None
    purpose: str
    rule: str  # the retention rule, e.g. "5 years"
    expires_at: datetime
    reason: str
    actor: str
    file: str  # "deleted" | "already absent"
    keyset: str | None
    key: str  # "destroyed" | "shared keyset kept (...)" | "none (written in clear)"
    disposed_at: datetime | None
    certificate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "output": self.output, "sha256": self.digest,
                "purpose": self.purpose, "retention_rule": self.rule,
                "expires_at": iso(self.expires_at), "reason": self.reason, "actor": self.actor,
                "file": self.file, "keyset": self.keyset, "key": self.key,
                "disposed_at": iso(self.disposed_at), "certificate": self.certificate}

"""The retention sweep: dispose of every expired output not under a legal hold (and finish any
disposal a killed sweep left part way), then apply the policy's periods to the store's own
records (closed requests, ended consents' evidence). One certificate per sweep."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from veil._actor import default_actor
from veil.errors import InputError, PolicyError
from veil.lifecycle.retention_dispose import Hook, dispose_rows
from veil.lifecycle.retention_listing import retention_status
from veil.lifecycle.retention_records import Disposal, OutputRetention, iso, parse_now

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

__all__ = ["SweepReport", "sweep"]

_SKEW = timedelta(minutes=5)  # a clock a little ahead of this machine's is no future


def clock() -> datetime:
    """This machine's time: a sweep that disposes may not judge by a later one."""
    return datetime.now(UTC)


@dataclass
class SweepReport:
    """What a sweep did (or, with ``dry_run``, would do)."""

    as_of: datetime
    dry_run: bool
    disposed: list[Disposal] = field(default_factory=list)
    held: list[OutputRetention] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # reduced to tombstones
    consent_events: int = 0  # events whose evidence was removed
    certificate: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": iso(self.as_of), "dry_run": self.dry_run,
                "disposed": [d.to_dict() for d in self.disposed],
                "held": [{"run_id": h.run_id, "output": h.output, "hold": h.hold_reason,
                          "expires_at": iso(h.expires_at)} for h in self.held],
                "requests_reduced": self.requests,
                "consent_events_stripped": self.consent_events,
                "certificate": self.certificate, "notes": self.notes}


def sweep(ws: Workspace, policy: Policy | None = None, now: datetime | str | None = None,
          dry_run: bool = False, actor: str | None = None, *,
          hook: Hook | None = None) -> SweepReport:
    """Dispose of expired outputs (`veil.lifecycle.retention_dispose`), keeping held ones;
    with a ``policy`` whose ``retention:`` sets ``requests`` or ``consent_evidence``, also
    reduce closed requests to tombstones and strip ended consents' evidence past the period.
    ``now`` (default the clock; ``--now`` in the CLI) decides what has expired; a time in the
    future is refused unless ``dry_run``, which changes nothing and says what would go.
    Re-running after a crash finishes the work."""
    at = parse_now(now)
    if not dry_run and at > clock() + _SKEW:
        raise InputError(f"{iso(at)} is in the future: a sweep disposes of outputs only once "
                         "their retention has ended (preview a later date with --dry-run)",
                         where="--now")
    ws = ws.ready()
    actor = default_actor(actor)
    due = retention_status(ws, at, due=True)
    held = [r for r in due if r.state == "live" and r.hold_reason]
    todo = [r for r in due if not (r.state == "live" and r.hold_reason)]
    report = SweepReport(as_of=at, dry_run=dry_run, held=held)
    rules = {r.retention for r in todo}
    reason = ("retention ended (" + ", ".join(sorted(rules)) + ")") if rules else ""
    report.disposed = dispose_rows(ws, todo, reason=reason, actor=actor, now=at, hook=hook,
                                   dry_run=dry_run)
    if report.disposed and not dry_run:
        report.certificate = report.disposed[0].certificate
    if policy is not None:
        _store_records(ws, policy, at, dry_run, report, actor)
    elif not dry_run:
        report.notes.append("no policy given: the store's own records were not swept")
    return report


def _store_records(ws: Workspace, policy: Policy, at: datetime, dry_run: bool,
                   report: SweepReport, actor: str) -> None:
    from veil.lifecycle.retention_store_records import sweep_consent_evidence, sweep_requests

    rr = getattr(policy, "retention", None)
    if rr is None:
        return
    try:
        req, ev = rr.period("requests"), rr.period("consent_evidence")
    except ValueError as exc:
        raise PolicyError(str(exc), where=f"{policy.source}: retention") from None
    if req is not None:
        report.requests = sweep_requests(ws, req, at, rule=str(rr.requests), dry_run=dry_run)
    if ev is not None:
        report.consent_events = sweep_consent_evidence(ws, ev, at, dry_run=dry_run)
    if (report.requests or report.consent_events) and not dry_run:
        _audit_records(ws, report, actor)


def _audit_records(ws: Workspace, report: SweepReport, actor: str) -> None:
    from datetime import UTC

    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    AuditLog(ws).append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action="retention.records",
        purpose="store-records", legal_basis="Art. 5(1)(e) storage limitation",
        outcome="success",
        counts={"requests": len(report.requests), "consent_events": report.consent_events},
        details={"as_of": report.as_of.isoformat()})])

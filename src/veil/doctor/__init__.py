"""`veil doctor`: what a crash or an outage left in a workspace, reported and (``repair``) fixed.

    from veil.doctor import doctor
    report = doctor(ws)                  # findings only
    report = doctor(ws, repair=True)     # repair each, then look again
    report.healthy, report.remaining

The checks, in the order they run and repair (`CHECKS`, a table a reviewer can read):

| kind | what | repair |
|---|---|---|
| stale_run | a run whose holder is gone (exited; other host: no heartbeat) | roll back / finish |
| late_heartbeat | a live run's heartbeat is late (info) | none |
| unleased_run | a run recorded as running with no lease | mark it failed |
| temp_file | ``.<name>.<hex>.tmp``/``.old`` beside recorded outputs, not a live run's | remove |
| request_lease | a data-subject request held by a run that is gone | set failed (rerun resumes) |
| audit_outbox | audit events waiting for a sink | deliver |
| recipient_outbox | Art. 19 notices due and not sent (failed ones: info) | deliver |
| disposal | a retention disposal stopped part-way | resume |

A repair writes one ``doctor.repair`` audit event (counts per kind, no personal data).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from veil._actor import default_actor
from veil.doctor import queues, runs
from veil.doctor.findings import DoctorReport, Finding
from veil.store.workspace import Workspace

__all__ = ["CHECKS", "Check", "DoctorReport", "Finding", "doctor"]


@dataclass(frozen=True)
class Check:
    kind: str
    find: Callable[[Workspace, datetime], list[Finding]]


CHECKS: tuple[Check, ...] = (
    Check("runs", runs.stale_runs),
    Check("unleased runs", runs.unleased_runs),
    Check("temporary files", runs.temp_files),
    Check("request leases", queues.request_leases),
    Check("audit outbox", queues.audit_outbox),
    Check("recipient outbox", queues.recipient_outbox),
    Check("disposals", queues.disposals),
)


def _find_all(ws: Workspace, now: datetime) -> list[Finding]:
    return [f for c in CHECKS for f in c.find(ws, now)]


def doctor(ws: Workspace, *, repair: bool = False, actor: str | None = None,
           now: datetime | None = None) -> DoctorReport:
    """Report what needs attention; with ``repair`` fix each finding (check by check, in
    order) and look again: ``remaining`` is what is left. A repair that fails is reported
    with its error; the others go on."""
    ws = ws.ready()
    now = now or datetime.now(UTC)
    if not repair:
        found = _find_all(ws, now)
        return DoctorReport(found, found, repair=False)
    found = []
    for check in CHECKS:
        for f in check.find(ws, now):
            found.append(f)
            if f.fix is None:
                continue
            try:
                f.repaired = f.fix()
            except Exception as exc:  # noqa: BLE001 - reported; the other repairs go on
                f.error = getattr(exc, "message", None) or type(exc).__name__
    if any(f.repaired is not None for f in found):
        _audit(ws, found, default_actor(actor))
    return DoctorReport(found, _find_all(ws, datetime.now(UTC)), repair=True)


def _audit(ws: Workspace, found: list[Finding], actor: str) -> None:
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog
    from veil.pipeline.recovery import LEGAL_BASIS

    done = Counter(f.kind for f in found if f.repaired is not None)
    failed = sum(1 for f in found if f.error is not None)
    log = AuditLog(ws)
    log.append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action="doctor.repair", purpose="workspace",
        legal_basis=LEGAL_BASIS, outcome="failure" if failed else "success",
        counts={**{f"repaired:{k}": n for k, n in sorted(done.items())}, "failed": failed})])
    log.deliver()  # as every operation does: a sink that is down never fails the repair

"""Checks on work other commands left part-done: request leases, outboxes, disposals."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from veil.doctor.findings import Finding
from veil.pipeline.lease import Holder, stale_after
from veil.store.schema import dsr_requests, recipient_notices, retention_outputs
from veil.store.workspace import Workspace

Fix = Callable[[], str]
#: A recipient notice due for longer than this is a backlog (a fresh one waits for the next
#: `veil recipients deliver`).
OVERDUE = timedelta(hours=1)


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _owner_gone(owner: str | None) -> str | None:
    """A request lease owner is ``actor@host:pid:nonce`` (`veil.rights.lease.new_owner`):
    on this host, whether its process is gone."""
    if not owner or "@" not in owner:
        return None
    try:
        host, pid, _ = owner.rsplit("@", 1)[1].rsplit(":", 2)
        pid_n = int(pid)
    except ValueError:
        return None
    if host != os.uname().nodename[:20] or pid_n == os.getpid():
        return None
    return Holder(host, pid_n, None).gone()


def request_leases(ws: Workspace, now: datetime) -> list[Finding]:
    """Data-subject requests held by a run that is gone: its process exited (this host), or
    the lease is older than the request lease limit (repair: set the request failed, so the
    next `veil dsr run` resumes it; steps done are not done again)."""
    from veil.rights.records import LEASE_MINUTES

    t = dsr_requests.c
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(t.id, t.lease_owner, t.running_since)
                            .where(t.status == "running")).all()
    out = []
    for r in rows:
        why = _owner_gone(r.lease_owner)
        since = _utc(r.running_since)
        if why is None and since is not None and now - since > timedelta(minutes=LEASE_MINUTES):
            why = f"its lease is older than {LEASE_MINUTES} minutes"
        if why is not None:
            out.append(Finding("request_lease", r.id, f"request {r.id} is held by a run that "
                               f"is gone ({why})", "set it failed: `veil dsr run` resumes it",
                               fix=_release(ws, r.id, r.lease_owner, why)))
    return out


def _release(ws: Workspace, request_id: str, owner: str, why: str) -> Fix:
    def fix() -> str:
        from veil.rights.lease import release_lease

        release_lease(ws.engine, request_id, owner, status="failed",
                      error=f"abandoned: {why} (veil doctor); run it again to resume")
        return f"request {request_id} set failed: `veil dsr run {request_id}` resumes it"
    return fix


def audit_outbox(ws: Workspace, now: datetime) -> list[Finding]:
    """Audit events still waiting for a sink (repair: deliver now)."""
    from veil.audit.log import AuditLog

    out = []
    for s in AuditLog(ws).outbox_status():
        if s["pending"] <= 0:
            continue
        err = f"; last error: {str(s['last_error'])[:120]}" if s["last_error"] else ""
        out.append(Finding("audit_outbox", str(s["sink"]),
                           f"{s['pending']:,} audit event(s) wait for sink {s['sink']} "
                           f"({s['max_attempts']} attempt(s){err})", "deliver now",
                           fix=_deliver_audit(ws)))
    return out


def _deliver_audit(ws: Workspace) -> Fix:
    def fix() -> str:
        from veil.audit.log import AuditLog

        rep = AuditLog(ws).deliver()
        return (f"delivered {sum(rep.delivered.values()):,}; still pending "
                f"{sum(rep.pending.values()):,}")
    return fix


def recipient_outbox(ws: Workspace, now: datetime) -> list[Finding]:
    """Art. 19 notices due for over an hour and not sent (repair: deliver now); notices that
    failed for good are reported for a person to act."""
    t = recipient_notices.c
    with ws.engine.connect() as conn:
        due = conn.execute(sa.select(sa.func.count()).where(
            t.status == "pending", t.channel != "manual", t.next_attempt <= now - OVERDUE)
        ).scalar_one()
        failed = conn.execute(sa.select(sa.func.count()).where(t.status == "failed")
                              ).scalar_one()
    out = []
    if due:
        out.append(Finding("recipient_outbox", "recipients", f"{due:,} recipient notice(s) "
                           "are overdue (due over an hour ago, not sent)", "deliver now",
                           fix=_deliver_notices(ws)))
    if failed:
        out.append(Finding("recipient_failed", "recipients", f"{failed:,} recipient "
                           "notice(s) failed for good: a person must act (`veil recipients "
                           "notices`)", "none", severity="info"))
    return out


def _deliver_notices(ws: Workspace) -> Fix:
    def fix() -> str:
        from veil.lifecycle import deliver

        d = deliver(ws)
        return (f"sent {len(d.sent)}, retrying {len(d.retrying)}, "
                f"failed {len(d.failed)}")
    return fix


def disposals(ws: Workspace, now: datetime) -> list[Finding]:
    """Retention disposals stopped part-way (intent, file deleted or key destroyed, started
    longer ago than the stale limit) (repair: resume them)."""
    t = retention_outputs.c
    cutoff = now - timedelta(seconds=stale_after())
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(t.run_id, t.state, t.disposal_reason).where(
            t.state.in_(["intent", "file_deleted", "key_destroyed"]),
            t.disposal_started_at < cutoff)).all()
    return [Finding("disposal", r.run_id, f"the disposal of output {r.run_id[:12]} stopped at "
                    f"'{r.state}'", "resume it", fix=_dispose(ws, r.run_id, r.disposal_reason))
            for r in rows]


def _dispose(ws: Workspace, run_id: str, reason: str | None) -> Fix:
    def fix() -> str:
        from veil.lifecycle import dispose_output

        d = dispose_output(ws, run_id, reason=reason or "resumed by veil doctor")
        return f"output {run_id[:12]} disposed of (certificate {d.certificate})"
    return fix

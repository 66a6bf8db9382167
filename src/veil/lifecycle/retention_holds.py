"""Legal holds on outputs: a held output is kept past its expiry until the hold is released
(litigation, an authority's investigation, Art. 17(3)(e)). Both are audit events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from veil._actor import default_actor
from veil.errors import ConflictError, InputError
from veil.lifecycle.retention_records import LEGAL_BASIS, OutputRetention, find_output
from veil.store.schema import retention_outputs
from veil.store.transactions import write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["hold", "release"]


def hold(ws: Workspace, output: str, *, reason: str,
         actor: str | None = None) -> OutputRetention:
    """Put an output under a legal hold (a sweep keeps it until `release`)."""
    if not reason or not reason.strip():
        raise InputError("a legal hold needs a reason (e.g. 'litigation 2026-17')")
    return _set(ws, output, reason.strip()[:2000], default_actor(actor))


def release(ws: Workspace, output: str, *, actor: str | None = None) -> OutputRetention:
    """Release an output's legal hold (the next sweep disposes of it if it has expired)."""
    return _set(ws, output, None, default_actor(actor))


def _set(ws: Workspace, output: str, reason: str | None, actor: str) -> OutputRetention:
    t = retention_outputs
    ws = ws.ready()
    with write_transaction(ws.engine, "recording a legal hold") as conn:
        rec = find_output(conn, output)
        if rec.state != "live":
            raise ConflictError(f"output {rec.run_id} was disposed of "
                                f"({rec.state.replace('_', ' ')}): nothing to hold")
        if reason is None and not rec.hold_reason:
            raise ConflictError(f"output {rec.run_id} is not under a legal hold")
        at = datetime.now(UTC)
        conn.execute(t.update().where(t.c.run_id == rec.run_id).values(
            hold_reason=reason, held_at=at if reason else None,
            held_by=actor[:128] if reason else None))
        rec = find_output(conn, rec.run_id)
    _audit(ws, rec, actor, "retention.hold" if reason else "retention.release", reason)
    return rec


def _audit(ws: Workspace, rec: OutputRetention, actor: str, action: str,
           reason: str | None) -> None:
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    details = {"run_id": rec.run_id, "expires_at": rec.expires_at.isoformat()}
    if reason:
        details["reason"] = reason[:200]
    AuditLog(ws).append([AuditEvent(
        time=datetime.now(UTC), actor=actor, action=action, purpose=rec.purpose,
        legal_basis=LEGAL_BASIS, outcome="success", counts={"outputs": 1},
        digests={"output": f"sha256:{rec.digest}"} if rec.digest else {}, details=details)])

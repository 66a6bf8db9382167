"""Today: what needs the DPO's attention, soonest first. Each part shows only to a role that
holds its permission; every count is one SQL aggregate (:mod:`veil.ui.queries`)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veil.ui import queries as q
from veil.ui.auth import Session, may, need
from veil.ui.csrf import CheckedForm
from veil.ui.host import host_of
from veil.ui.render import page
from veil.ui.sessions import UISession

router = APIRouter()

# part of the page -> the permission a role needs to see it
PARTS = {"requests": "dsr.list", "breaches": "breach.read", "decisions": "decisions.read",
         "retention": "retention.read", "consents": "consent.history", "audit": "audit.read"}


def due_soon_days(policy: Any) -> int:
    rights = getattr(policy, "rights", None)
    return int(getattr(rights, "due_soon_days", 7) or 7)


def _breach_clock(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    from veil.incidents.clock import clock

    aware = row["aware_at"] if row["aware_at"].tzinfo else row["aware_at"].replace(tzinfo=UTC)
    c = clock(aware, now, required=True)
    return {**row, "ref": f"BR-{row['id']:04d}", "deadline": c.deadline,
            "hours_left": c.left.total_seconds() / 3600, "state": c.state}


def gather(host: Any, show: set[str], now: datetime) -> dict[str, Any]:
    """Every part the role may see, read in one connection."""
    w = q.Window(now, due_soon_days(host.policy))
    out: dict[str, Any] = {}
    with host.workspace.engine.connect() as conn:
        if "requests" in show:
            out["requests"] = q.requests_due(conn, w)
        if "breaches" in show:
            out["breaches"] = b = q.breach_clocks(conn)
            b["rows"] = [_breach_clock(r, now) for r in b["rows"]]
        if "decisions" in show:
            out["decisions"] = q.contested_decisions(conn, w)
        if "retention" in show:
            out["retention"] = q.retention_due(conn, w)
        if "consents" in show:
            out["consents"] = q.consents_expiring(conn, w)
        if "audit" in show:
            out["audit"] = q.audit_heads_now(conn)
    if "audit" in show:
        out["audit"].update(_witnesses(host))
    return out


def _witnesses(host: Any) -> dict[str, Any]:
    """The witnesses configured and which of them missed a checkpoint (no network call)."""
    from veil.audit.checkpoint import pending_checkpoints

    try:
        names = [w.name for w in host.audit.witnesses]
    except Exception:  # a broken [audit.witnesses] table: say so, do not fail the page
        names = None
    behind = {p["witness"]: p for p in pending_checkpoints(host.audit)}
    return {"witnesses": names, "behind": behind,
            "verified": getattr(host, "verified", None)}


@router.get("/")
async def today(request: Request, session: Session) -> Response:
    show = {part for part, perm in PARTS.items() if may(request, session, perm)}
    now = datetime.now(UTC)
    data = await run_in_threadpool(gather, host_of(request), show, now)
    return page(request, "today.html", title="Today", parts=data, window_days=30)


@router.post("/audit/verify")
async def verify_audit(request: Request, form: CheckedForm,
                       session: Annotated[UISession, Depends(need("audit.read"))]) -> Response:
    """Recompute the whole audit tree now (as ``GET /v1/audit/verify``; the result is shared
    with the REST API's, until the log grows)."""
    from veil.audit.log import AuditVerifyError
    from veil.ui import trail

    host = host_of(request)
    lock = getattr(host, "verify_lock", None) or contextlib.nullcontext()
    async with lock:  # one verification at a time, shared with GET /v1/audit/verify
        checked_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        size = (await run_in_threadpool(host.audit.head)).size
        try:
            rep = await run_in_threadpool(host.audit.verify)
            result: dict[str, Any] = {"ok": True, "size": rep.size, "checked_at": checked_at,
                                      "latest_signed_size": rep.latest_signed_size,
                                      "seconds": round(rep.seconds, 3)}
        except AuditVerifyError as exc:
            result = {"ok": False, "size": size, "failed_index": exc.index,
                      "failed_check": exc.check, "detail": exc.detail,
                      "checked_at": checked_at}
        if hasattr(host, "verified"):
            host.verified = (size, result)  # type: ignore[attr-defined]
    await trail.record(request, session.actor, "ui.audit_verify",
                       outcome="success" if result["ok"] else "failure",
                       details={"size": result["size"]})
    return RedirectResponse("/ui/#audit", status_code=303)


__all__ = ["PARTS", "due_soon_days", "gather", "router"]

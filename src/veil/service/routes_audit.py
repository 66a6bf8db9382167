"""The audit log over the API: its signed head, inclusion proofs, a full verification and the
events (which hold pseudonyms only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from starlette.concurrency import run_in_threadpool

from veil.errors import InputError
from veil.service import models as m
from veil.service.auth import perm
from veil.service.deps import ERRORS, service_of
from veil.service.times import format_datetime, parse_iso

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/audit/head", response_model=m.HeadOut, tags=["audit"], **perm("audit.read"))
async def audit_head(request: Request) -> m.HeadOut:
    """The log's current size and root, and its latest signed tree head (a C2SP signed note)."""
    svc = service_of(request)

    def run() -> m.HeadOut:
        head = svc.audit.head()
        signed = svc.audit.signed_head()
        return m.HeadOut(origin=head.origin, size=head.size, root=head.root.hex(),
                         signed=(dict(signed.to_dict(), note=signed.to_note())
                                 if signed is not None else None))

    return await run_in_threadpool(run)


@router.get("/audit/proof/{index}", response_model=dict[str, Any], tags=["audit"],
            **perm("audit.read"))
async def audit_proof(request: Request, index: Annotated[int, PathParam(ge=0, le=2**53 - 1)]
                      ) -> dict[str, Any]:
    """A self-contained proof file (``veil-audit-proof/v1``) that event ``index`` is in the log:
    the event, its inclusion path and the signed head; check it offline with
    ``veil audit verify-proof``."""
    svc = service_of(request)

    def run() -> dict[str, Any]:
        size = svc.audit.head().size
        if index >= size:
            raise HTTPException(404, f"no event at index {index} (the log has {size})")
        return svc.audit.prove(index)

    return await run_in_threadpool(run)


@router.get("/audit/verify", response_model=m.VerifyOut, tags=["audit"], **perm("audit.read"))
async def audit_verify(request: Request) -> m.VerifyOut:
    """Recompute the whole tree from the stored events and check every node, head and
    signature. One verification runs at a time; while the log has not grown, the last result
    is returned."""
    from veil.audit.log import AuditVerifyError

    svc = service_of(request)
    async with svc.verify_lock:
        size = (await run_in_threadpool(svc.audit.head)).size
        if svc.verified is not None and svc.verified[0] == size:
            return m.VerifyOut(**svc.verified[1])
        now = format_datetime(datetime.now(UTC)) or ""
        try:
            rep = await run_in_threadpool(svc.audit.verify)
            out: dict[str, Any] = {
                "ok": True, "size": rep.size, "origin": rep.origin, "root": rep.root.hex(),
                "heads_checked": rep.heads_checked, "latest_signed_size": rep.latest_signed_size,
                "nodes_checked": rep.nodes_checked, "key_id": rep.key_id,
                "seconds": round(rep.seconds, 3), "checked_at": now}
        except AuditVerifyError as exc:
            out = {"ok": False, "size": size, "failed_index": exc.index,
                   "failed_check": exc.check, "detail": exc.detail, "checked_at": now}
        svc.verified = (size, out)
        return m.VerifyOut(**out)


def _check_times(**times: str | None) -> None:
    """Each time filter given must be an ISO 8601 time (the error names its query field)."""
    for name, value in times.items():
        if value is not None:
            try:
                parse_iso(value)
            except ValueError:
                raise InputError(f"{name} '{value[:40]}' is not an ISO 8601 time like "
                                 "2026-03-01T09:30:00Z", where=f"query.{name}") from None


@router.get("/audit/events", response_model=m.AuditEventsOut, tags=["audit"],
            **perm("audit.read"))
async def audit_events(
    request: Request,
    action: Annotated[str | None, Query(max_length=128, description="Action, or a prefix "
                                        "ending in * (consent.*)")] = None,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    purpose: Annotated[str | None, Query(max_length=128)] = None,
    outcome: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[str | None, Query(pattern=m.TIME_PATTERN,
                                       description="RFC 3339, inclusive")] = None,
    until: Annotated[str | None, Query(pattern=m.TIME_PATTERN,
                                       description="RFC 3339, exclusive")] = None,
    start: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    newest_first: bool = False,
) -> m.AuditEventsOut:
    """Events matching every filter given, by index (events hold pseudonyms only)."""
    svc = service_of(request)

    def run() -> m.AuditEventsOut:
        from veil.audit.event import AuditEvent

        _check_times(since=since, until=until)
        got = list(svc.audit.events(action=action, actor=actor, purpose=purpose,
                                    outcome=outcome, since=since, until=until,
                                    start=start if not newest_first else 0,
                                    newest_first=newest_first, limit=limit + 1))
        more = len(got) > limit
        got = got[:limit]
        out = [m.AuditEventOut(index=e.idx, time=e.time, action=e.action, actor=e.actor,
                               purpose=e.purpose, outcome=e.outcome,
                               event=AuditEvent.from_canonical_bytes(e.data).to_json_obj())
               for e in got]
        nxt = (got[-1].idx + 1 if not newest_first else None) if more else None
        return m.AuditEventsOut(events=out, next_start=nxt)

    return await run_in_threadpool(run)


__all__ = ["router"]

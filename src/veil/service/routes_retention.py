"""Retention over the API: what is due (``GET /v1/retention``) and the sweep that disposes of
expired outputs (``POST /v1/retention/sweep``, `veil.lifecycle.sweep`; the DPO's permission).

The sweep deletes files and destroys keys: every disposal is an audit event naming the calling
key as its actor, and the answer names the certificate written."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from veil.service.auth import perm
from veil.service.deps import ERRORS, Caller, service_of
from veil.service.models import Time, _In

router = APIRouter(prefix="/v1/retention", tags=["retention"], responses=ERRORS)


class SweepIn(_In):
    dry_run: bool = Field(False, description="Say what would go; change nothing.")
    now: Time | None = Field(None, description="Judge expiry as of this time (default now).")


@router.get("", response_model=list[dict[str, Any]], **perm("retention.read"))
async def retention_due(
    request: Request,
    all_outputs: Annotated[bool, Query(alias="all", description="every kept output, not only "
                                       "what is due")] = False,
) -> list[dict[str, Any]]:
    """Outputs whose retention has ended (held ones flagged), and disposals left unfinished;
    with ``all``, every kept output with its expiry."""
    from veil.lifecycle import retention_status

    svc = service_of(request)
    recs = await run_in_threadpool(retention_status, svc.workspace, None, due=not all_outputs)
    return [r.to_dict() for r in recs]


@router.post("/sweep", response_model=dict[str, Any], **perm("retention.write"))
async def retention_sweep(request: Request, who: Caller, body: SweepIn) -> dict[str, Any]:
    """Dispose of expired outputs not under a legal hold (file deleted, own key destroyed,
    audit event and certificate); with the service's policy, closed requests and ended
    consents' evidence past the policy's periods too."""
    from veil.lifecycle import sweep

    svc = service_of(request)
    rep = await run_in_threadpool(sweep, svc.workspace, svc.policy, now=body.now,
                                  dry_run=body.dry_run, actor=who.actor)
    out: dict[str, Any] = rep.to_dict()
    return out


__all__ = ["router"]

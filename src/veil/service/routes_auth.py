"""The calling key: who it is, and a short-lived bearer token in exchange for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from veil.service import models as m
from veil.service.auth import perm
from veil.service.deps import ERRORS, Caller, service_of
from veil.service.roles import ROLE_PERMISSIONS
from veil.service.times import format_datetime

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/auth/whoami", response_model=m.WhoAmI, tags=["auth"], **perm("auth.self"))
async def whoami(who: Caller) -> m.WhoAmI:
    """The calling key (id, role, name) and what its role may do."""
    return m.WhoAmI(key_id=who.key_id, role=who.role, name=who.name, via=who.via,
                    permissions=sorted(ROLE_PERMISSIONS[who.role]))


@router.post("/auth/token", response_model=m.TokenOut, tags=["auth"], **perm("auth.self"))
async def token(request: Request, who: Caller, body: m.TokenIn | None = None) -> m.TokenOut:
    """Exchange the API key for a short-lived bearer token (OAuth 2 client-credentials style).
    The token carries the key's role and dies with the key."""
    svc = service_of(request)
    if who.via != "api-key":
        raise HTTPException(403, "a bearer token cannot issue another token: use the API key")
    minutes = body.minutes if body is not None and body.minutes else svc.config.token_minutes
    tok, expires = await run_in_threadpool(svc.keys.issue_token, who,
                                           timedelta(minutes=minutes))
    left = max(1, int((expires - datetime.now(UTC)).total_seconds()))
    return m.TokenOut(access_token=tok, token_type="bearer", expires_in=left,
                      expires=format_datetime(expires) or "", key_id=who.key_id, role=who.role)


__all__ = ["router"]

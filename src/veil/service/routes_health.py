"""Liveness and readiness: the two routes that need no credentials."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from veil.errors import VeilError
from veil.service import models as m

router = APIRouter(tags=["health"])


@router.get("/health", response_model=m.Health, summary="Liveness (no credentials needed)")
async def health() -> m.Health:
    return m.Health(status="ok")


@router.get("/ready", response_model=m.Health, summary="Readiness: the store answers and its "
            "schema is current (no credentials needed)",
            responses={503: {"model": m.Health, "description": "Not ready"}})
async def ready(request: Request) -> Any:
    svc = request.app.state.service
    if svc is None:
        return JSONResponse({"status": "not ready"}, status_code=503)
    try:
        await run_in_threadpool(svc.workspace.ready)
    except VeilError:
        return JSONResponse({"status": "not ready"}, status_code=503)
    return m.Health(status="ready")


__all__ = ["router"]

"""Prometheus metrics over the API: ``GET /metrics`` (permission ``metrics.read``), the text
exposition format of :mod:`veil.service.metrics`. Without prometheus-client installed the
route answers 404 and says what to install."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from veil.service.auth import perm
from veil.service.deps import ERRORS

router = APIRouter(tags=["operations"], responses=ERRORS)


@router.get("/metrics", response_class=Response, **perm(
    "metrics.read", responses={200: {"description": "Prometheus text exposition format",
                                     "content": {"text/plain": {"schema": {"type": "string"}}}}}))
async def metrics(request: Request) -> Response:
    """Request counts and latencies by route template and status, and the duties read from
    the store at this scrape: audit outbox backlog, witnesses behind, recipient notices
    pending, open and overdue requests, hours left to notify each breach."""
    m = getattr(request.app.state, "metrics", None)
    if m is None:
        raise HTTPException(404, "metrics need prometheus-client: pip install 'veil[ops]'")
    data, content_type = await run_in_threadpool(m.render)
    return Response(data, media_type=content_type)


__all__ = ["router"]

"""Today: what needs the DPO's attention, soonest first (filled in by the next commit)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from veil.ui.auth import Session
from veil.ui.render import page

router = APIRouter()


@router.get("/")
async def today(request: Request, session: Session) -> Response:
    return page(request, "today.html", title="Today")


__all__ = ["router"]

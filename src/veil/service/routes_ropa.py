"""The records of processing activities (Art. 30(1)) built from the policy in force."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from veil.service.auth import perm
from veil.service.deps import ERRORS, need_policy, service_of

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/ropa", response_model=dict[str, Any], tags=["ropa"], **perm("ropa.read"))
async def ropa(request: Request) -> dict[str, Any]:
    """Records of processing activities (Art. 30(1)), one per purpose; missing items are
    marked, never left out."""
    from veil.ropa import build_ropa

    return build_ropa(need_policy(service_of(request)))


@router.get("/ropa.md", response_class=PlainTextResponse, tags=["ropa"],
            responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}},
            **perm("ropa.read"))
async def ropa_markdown(request: Request) -> PlainTextResponse:
    """The records of processing as Markdown (what ``veil ropa`` writes to ropa.md)."""
    from veil.ropa import build_ropa, render_markdown

    text = render_markdown(build_ropa(need_policy(service_of(request))))
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


__all__ = ["router"]

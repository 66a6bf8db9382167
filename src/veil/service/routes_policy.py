"""The policy in force, as the service loaded it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from veil.service.auth import perm
from veil.service.deps import ERRORS, need_policy, service_of

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/policy", response_model=dict[str, Any], tags=["policy"], **perm("policy.read"))
async def policy(request: Request) -> dict[str, Any]:
    """The policy in force: purposes, datasets and their treatments, with its SHA-256."""
    pol = need_policy(service_of(request))
    body = pol.model_dump(mode="json", exclude_none=True)
    return {"source": Path(pol.source).name, "sha256": pol.digest, "policy": body}


__all__ = ["router"]

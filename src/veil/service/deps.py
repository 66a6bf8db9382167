"""What every routes module needs: the service of the request, its policy, the calling key, and
the error answers every ``/v1`` route documents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from veil.service import models as m
from veil.service.apikeys import Principal

if TYPE_CHECKING:  # pragma: no cover
    from veil.service.state import Service

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": m.ErrorOut, "description": "Malformed request"},
    401: {"model": m.ErrorOut, "description": "Missing, invalid, expired or revoked credentials"},
    403: {"model": m.ErrorOut, "description": "The caller's role lacks the permission"},
    404: {"model": m.ErrorOut, "description": "Not found"},
    409: {"model": m.ErrorOut, "description": "The record's state forbids the change (closed)"},
    413: {"model": m.ErrorOut, "description": "Request body too large"},
    422: {"model": m.ErrorOut, "description": "Invalid input (names the field)"},
    429: {"model": m.ErrorOut, "description": "Rate limit of the key exceeded"},
    503: {"model": m.ErrorOut, "description": "The store is unavailable"},
}


def service_of(request: Request) -> Service:
    svc: Service | None = request.app.state.service
    if svc is None:
        raise HTTPException(503, "the service has no workspace")
    return svc


def need_policy(svc: Service) -> Any:
    """The policy in force, or 404 when the service runs without one."""
    if svc.policy is None:
        raise HTTPException(404, "the service runs without a policy (start it with --policy)")
    return svc.policy


def caller(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


Caller = Annotated[Principal, Depends(caller)]


__all__ = ["ERRORS", "Caller", "caller", "need_policy", "service_of"]

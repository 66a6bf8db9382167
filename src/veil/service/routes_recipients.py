"""Art. 19 notices over the API: the recipient acknowledges a notice
(``POST /v1/recipients/notices/{id}/ack``, `veil.lifecycle.acknowledge`).

The recipient holds no API key: the request is authenticated by the notice's own token, sent
with the notice (header ``X-Notice-Token`` or the JSON body's ``token``); only its SHA-256 is
stored. A wrong token is 401; the acknowledgement is an audit event (actor
``recipient:<id>``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from veil.errors import RunRefused
from veil.service.apikeys import AuthError
from veil.service.deps import ERRORS, service_of
from veil.service.models import _In

router = APIRouter(prefix="/v1/recipients", tags=["recipients"], responses=ERRORS)


class AckIn(_In):
    token: str | None = Field(None, max_length=200, description="The notice's token (or send "
                              "it in the X-Notice-Token header).")
    note: str | None = Field(None, max_length=500, description="What the recipient did.")


@router.post("/notices/{notice_id}/ack", response_model=dict[str, Any],
             summary="A recipient acknowledges an Art. 19 notice (the notice's token, no key)")
async def notice_ack(request: Request, notice_id: str, body: AckIn | None = None,
                     x_notice_token: Annotated[str | None, Header()] = None) -> dict[str, Any]:
    """Record that the recipient applied the rectification, erasure or restriction."""
    from veil.lifecycle import acknowledge

    token = x_notice_token or (body.token if body else None)
    if not token:
        raise AuthError("the notice's token is missing (X-Notice-Token header or 'token')")
    svc = service_of(request)
    try:
        n = await run_in_threadpool(acknowledge, svc.workspace, notice_id[:64], token=token,
                                    note=body.note if body else None)
    except RunRefused:
        raise AuthError("the notice's token does not match") from None
    return {"id": n.id, "status": n.status, "acknowledged_at": n.to_dict()["acknowledged_at"]}


__all__ = ["router"]

"""Data-subject requests over the API: list, open, show, run, close (:class:`veil.rights.Requests`).

The subject id of a request goes in the body of ``POST /v1/dsr`` only; requests are stored and
returned with the subject as a keyed pseudonym. Every write names the calling key as its actor.
A record names the policy it was opened under by the policy's name, never by its server path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from veil.errors import NotFoundError
from veil.service.auth import perm
from veil.service.deps import ERRORS, Caller, service_of
from veil.service.models import PurposeId, Subject, Time, _In

router = APIRouter(prefix="/v1/dsr", tags=["data-subject requests"], responses=ERRORS)

Kind = Literal["access", "portability", "rectification", "erasure", "restriction", "objection"]
RequestId = Annotated[str, PathParam(min_length=4, max_length=32, pattern=r"^[A-Za-z0-9]+$",
                                     description="Request id (or a unique prefix of 4+)")]


class OpenIn(_In):
    kind: Kind
    subject: Subject
    received: Time | None = Field(None, description="When the request came in (default now); "
                                  "the due date is one month later (Art. 12(3)).")
    verification: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="How the requester's identity was checked.")
    purposes: Annotated[list[PurposeId], Field(min_length=1, max_length=100)] | None = None
    details: dict[str, Any] | None = Field(
        None, description="Rectification only: {\"corrections\": {field: new value}, "
        "\"dataset\": name}")


class CloseIn(_In):
    note: Annotated[str, Field(min_length=1, max_length=2000,
                               description="What the subject was told.")]


def _requests(request: Request) -> Any:
    from veil.lifecycle import requests  # runs also propagate and notify (Art. 19)

    svc = service_of(request)
    return requests(svc.workspace, svc.policy)


def _policy_name(svc: Any, path: str | None) -> str:
    """The name a record shows for its policy: the policy's own ``name`` when it is the one
    in force, else the file's name; never the server path."""
    pol = svc.policy
    if not path:
        return "policy"
    if pol is not None:
        try:
            same = Path(path).resolve() == Path(str(pol.source)).resolve()
        except OSError:
            same = False
        if same:
            return str(pol.name or Path(path).name)
    return Path(path).name or "policy"


def _scrubbed(svc: Any, value: Any, policy_path: str | None) -> Any:
    """``value`` with every server path in it replaced (the policy's path by its name)."""
    if isinstance(value, dict):
        return {k: _scrubbed(svc, v, policy_path) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(svc, v, policy_path) for v in value]
    if isinstance(value, str) and value:
        if policy_path and policy_path in value:
            value = value.replace(policy_path, _policy_name(svc, policy_path))
        return svc.scrub(value)
    return value


def _out(request: Request, rec: Any) -> dict[str, Any]:
    svc = service_of(request)
    out: dict[str, Any] = _scrubbed(svc, rec.to_dict(), getattr(rec, "policy_path", None))
    return out


async def _call(request: Request, fn: Any, *args: Any, **kw: Any) -> dict[str, Any]:
    try:
        rec = await run_in_threadpool(fn, *args, **kw)
    except NotFoundError as exc:
        raise HTTPException(404, exc.message) from None
    return _out(request, rec)


@router.get("", response_model=list[dict[str, Any]], **perm("dsr.list"))
async def dsr_list(
    request: Request,
    status: Annotated[Literal["open", "running", "failed", "completed", "closed", "refused"]
                      | None, Query()] = None,
    include_closed: bool = False,
) -> list[dict[str, Any]]:
    """Requests, overdue first, then due soon, then by due date (subjects as pseudonyms)."""
    reqs = _requests(request)
    recs = await run_in_threadpool(reqs.list, status=status, include_closed=include_closed)
    return [_out(request, r) for r in recs]


@router.post("", response_model=dict[str, Any], status_code=201, **perm("dsr.write"))
async def dsr_open(request: Request, who: Caller, body: OpenIn) -> dict[str, Any]:
    """Record a request; a type the policy refuses is recorded as refused and answers 409."""
    reqs = _requests(request)
    return await _call(request, reqs.open, body.kind, body.subject, received=body.received,
                       verification=body.verification, purposes=body.purposes,
                       details=body.details, actor=who.actor)


@router.get("/{request_id}", response_model=dict[str, Any], **perm("dsr.read"))
async def dsr_show(request: Request, request_id: RequestId) -> dict[str, Any]:
    """One request with its recorded steps."""
    return await _call(request, _requests(request).get, request_id)


@router.post("/{request_id}/run", response_model=dict[str, Any], **perm("dsr.write"))
async def dsr_run(request: Request, who: Caller, request_id: RequestId,
                  force: Annotated[bool, Query(description="take over a run that holds the "
                                               "request's lease (a crashed run)")] = False,
                  ) -> dict[str, Any]:
    """Carry out the request (steps already done are skipped; a failure can be rerun; a run
    still holding the lease answers 409 unless `force`)."""
    return await _call(request, _requests(request).run, request_id, actor=who.actor,
                       force=force)


@router.post("/{request_id}/close", response_model=dict[str, Any], **perm("dsr.write"))
async def dsr_close(request: Request, who: Caller, request_id: RequestId,
                    body: CloseIn) -> dict[str, Any]:
    """Close a request with a note (what the subject was told)."""
    return await _call(request, _requests(request).close, request_id, body.note,
                       actor=who.actor)

"""Breaches over the API: the register (list, show, export) for DPO and auditors, and the DPO's
writes (record, assess, notify, close) through :class:`veil.incidents.Breaches`.

Breaches hold counts, categories and pseudonyms, never subject ids; every write names the
calling key as its actor.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from veil.errors import NotFoundError
from veil.service.app import ERRORS, Caller, perm, service_of
from veil.service.models import Time, _In

router = APIRouter(prefix="/v1/breaches", tags=["breaches"], responses=ERRORS)

Ref = Annotated[str, PathParam(max_length=16, pattern=r"^(BR-?)?[0-9]{1,12}$",
                               description="Breach reference, e.g. BR-0001")]
Line = Annotated[str, Field(min_length=1, max_length=500)]
Name = Annotated[str, Field(min_length=1, max_length=512)]


class OpenIn(_In):
    title: Annotated[str, Field(min_length=1, max_length=300)]
    occurred_at: Time
    aware_at: Time
    nature: Annotated[list[Literal["confidentiality", "integrity", "availability"]],
                      Field(min_length=1, max_length=3)]
    description: Annotated[str, Field(max_length=10_000)] = ""
    occurred_until: Time | None = None
    outputs: Annotated[list[Name], Field(max_length=100)] = []
    datasets: Annotated[list[Name], Field(max_length=100)] = []
    keysets: Annotated[list[Name], Field(max_length=100)] = []
    other: Annotated[list[Line], Field(max_length=100)] = []
    recipients: Annotated[str, Field(max_length=32)] = "unknown"
    malicious: bool = False
    recoverable: bool = True
    consequences: Annotated[list[Line], Field(max_length=50)] = []
    measures: Annotated[list[Line], Field(max_length=50)] = []
    estimate_subjects: Annotated[int, Field(ge=0, le=10**10)] | None = None
    estimate_records: Annotated[int, Field(ge=0, le=10**12)] | None = None
    categories: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] = []
    tz: Annotated[str, Field(max_length=64)] | None = None


class AssessIn(_In):
    override: Literal["none", "authority", "authority_and_subjects"] | None = None
    reason: Line | None = None


class NotifyIn(_In):
    recipient: Literal["authority", "subjects", "public"] = "authority"
    sent_at: Time | None = None
    phase: Literal["single", "initial", "follow_up", "final"] = "single"
    delay_reason: Annotated[str, Field(max_length=2000)] | None = None
    reference: Line | None = None
    channel: Line | None = None


class CloseIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    force: bool = False


def _register(request: Request, who: Any = None) -> Any:
    from veil.incidents import Breaches

    svc = service_of(request)
    return Breaches(svc.workspace, policy=svc.policy, actor=who.actor if who else "service")


async def _call(fn: Any, *args: Any, **kw: Any) -> dict[str, Any]:
    try:
        b = await run_in_threadpool(fn, *args, **kw)
    except NotFoundError as exc:
        raise HTTPException(404, exc.message) from None
    out: dict[str, Any] = b.to_json()
    return out


@router.get("", response_model=list[dict[str, Any]], **perm("breach.read"))
async def breach_list(request: Request,
                      status: Annotated[Literal["open", "closed"] | None, Query()] = None
                      ) -> list[dict[str, Any]]:
    """Every breach (or the open or closed ones), with its 72-hour clock."""
    reg = _register(request)
    return [b.to_json() for b in await run_in_threadpool(reg.list, status=status)]


def _export(request: Request, who: Any) -> dict[str, bytes]:
    reg = _register(request, who)
    with tempfile.TemporaryDirectory(prefix="veil-register-") as tmp:
        paths = reg.export_register(tmp)
        return {kind: Path(p).read_bytes() for kind, p in paths.items()}


@router.get("/register", response_model=dict[str, Any], **perm("breach.read"))
async def breach_register(request: Request, who: Caller) -> dict[str, Any]:
    """The Art. 33(5) register of every breach (``veil-breach-register/v1``), as ``veil breach
    register`` writes it; the export is recorded in the audit log."""
    data = await run_in_threadpool(_export, request, who)
    out: dict[str, Any] = json.loads(data["json"])
    return out


@router.get("/register.csv", response_class=PlainTextResponse, **perm(
    "breach.read", responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}))
async def breach_register_csv(request: Request, who: Caller) -> PlainTextResponse:
    """The register as CSV (cells that a spreadsheet would run as formulas are defused)."""
    data = await run_in_threadpool(_export, request, who)
    return PlainTextResponse(data["csv"].decode("utf-8"), media_type="text/csv; charset=utf-8")


@router.get("/{ref}", response_model=dict[str, Any], **perm("breach.read"))
async def breach_show(request: Request, ref: Ref) -> dict[str, Any]:
    """One breach: facts, scope, assessment, notifications, steps, clock."""
    return await _call(_register(request).get, ref)


@router.post("", response_model=dict[str, Any], status_code=201, **perm("breach.write"))
async def breach_open(request: Request, who: Caller, body: OpenIn) -> dict[str, Any]:
    """Record a breach and compute its scope from the evidence (outputs, datasets, keysets)."""
    reg = _register(request, who)
    return await _call(reg.open, **body.model_dump())


@router.post("/{ref}/assess", response_model=dict[str, Any], **perm("breach.write"))
async def breach_assess(request: Request, who: Caller, ref: Ref,
                        body: AssessIn | None = None) -> dict[str, Any]:
    """Run the documented risk rules and record the decision (an override needs a reason)."""
    b = body or AssessIn()
    return await _call(_register(request, who).assess, ref, override=b.override,
                       reason=b.reason)


@router.post("/{ref}/notify", response_model=dict[str, Any], **perm("breach.write"))
async def breach_notify(request: Request, who: Caller, ref: Ref,
                        body: NotifyIn) -> dict[str, Any]:
    """Record a notification sent (authority: Art. 33; subjects or public: Art. 34)."""
    return await _call(_register(request, who).notify, ref, **body.model_dump())


@router.post("/{ref}/close", response_model=dict[str, Any], **perm("breach.write"))
async def breach_close(request: Request, who: Caller, ref: Ref,
                       body: CloseIn) -> dict[str, Any]:
    """Close a breach once assessed and notified as its decision requires (or force it)."""
    return await _call(_register(request, who).close, ref, reason=body.reason,
                       force=body.force)

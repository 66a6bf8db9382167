"""Breaches over the API: the register (list, show, export) for DPO and auditors, and the DPO's
writes (record, update, assess, notify, draft, close) through :class:`veil.incidents.Breaches`,
with everything ``veil breach`` offers.

Breaches hold counts, categories and pseudonyms, never subject ids; every write names the
calling key as its actor. The library names a bad value by its CLI flag (``--aware``); each
route maps those names to its body fields (``body.aware_at``), so an error names the field the
caller sent. The Python API names parameters (``aware_at``) where the CLI names its flags;
both map to the body field of the route.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse
from pydantic import ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from veil.errors import InputError, NotFoundError, VeilError
from veil.service.auth import perm
from veil.service.deps import ERRORS, Caller, service_of

# Breach times may come without an offset: they are then read in the request's `tz`.
from veil.service.models import LocalTime as Time
from veil.service.models import WholeNumber, _In

router = APIRouter(prefix="/v1/breaches", tags=["breaches"], responses=ERRORS)

Ref = Annotated[str, PathParam(max_length=16, pattern=r"^(BR-?)?[0-9]{1,12}$",
                               description="Breach reference, e.g. BR-0001")]
Line = Annotated[str, Field(min_length=1, max_length=500)]
Name = Annotated[str, Field(min_length=1, max_length=512)]
Nature = Literal["confidentiality", "integrity", "availability"]
Category = Annotated[str, Field(max_length=64)]
Zone = Annotated[str, Field(max_length=64, json_schema_extra={"x-timezone": True},
                            description="IANA time zone for times without an offset (default: "
                            "the policy's controller.timezone); the served document lists "
                            "the names")]


class Window(_In):
    """Every output written in this time window is exposed (``--window START/END``)."""

    start: Time
    end: Time


class OpenIn(_In):
    title: Annotated[str, Field(min_length=1, max_length=300)]
    occurred_at: Time
    aware_at: Time
    nature: Annotated[list[Nature], Field(min_length=1, max_length=3)]
    description: Annotated[str, Field(max_length=10_000)] = ""
    occurred_until: Time | None = None
    outputs: Annotated[list[Name], Field(max_length=100)] = []
    datasets: Annotated[list[Name], Field(max_length=100)] = []
    keysets: Annotated[list[Name], Field(max_length=100)] = []
    windows: Annotated[list[Window], Field(max_length=100)] = []
    other: Annotated[list[Line], Field(max_length=100)] = []
    key_exposed: Annotated[list[Name], Field(
        max_length=100, description="Exposed outputs (path, run id) or keysets whose key was "
        "exposed too")] = []
    encrypted_datasets: bool = Field(False, description="The exposed dataset copies were "
                                     "encrypted (declared)")
    recipients: Literal["unknown", "known", "public"] = "unknown"
    malicious: bool = False
    recoverable: bool = True
    consequences: Annotated[list[Line], Field(max_length=50)] = []
    measures: Annotated[list[Line], Field(max_length=50)] = []
    estimate_subjects: Annotated[int, Field(ge=0, le=10**10), WholeNumber] | None = None
    estimate_records: Annotated[int, Field(ge=0, le=10**12), WholeNumber] | None = None
    categories: Annotated[list[Category], Field(max_length=50)] = []
    tz: Zone | None = None


class UpdateIn(_In):
    """Changed facts (given fields replace) and additions (``add_*`` lists add): ``veil breach
    update``. A closed breach cannot change (409)."""

    title: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    occurred_at: Time | None = None
    occurred_until: Time | None = None
    aware_at: Time | None = Field(None, description="Corrected awareness time (only before the "
                                  "authority is notified)")
    nature: Annotated[list[Nature], Field(min_length=1, max_length=3)] | None = None
    add_outputs: Annotated[list[Name], Field(max_length=100)] = []
    add_datasets: Annotated[list[Name], Field(max_length=100)] = []
    add_keysets: Annotated[list[Name], Field(max_length=100)] = []
    add_windows: Annotated[list[Window], Field(max_length=100)] = []
    add_other: Annotated[list[Line], Field(max_length=100)] = []
    key_exposed: Annotated[list[Name], Field(max_length=100)] = []
    recipients: Literal["unknown", "known", "public"] | None = None
    malicious: bool | None = None
    recoverable: bool | None = None
    add_consequences: Annotated[list[Line], Field(max_length=50)] = []
    add_measures: Annotated[list[Line], Field(max_length=50)] = []
    estimate_subjects: Annotated[int, Field(ge=0, le=10**10), WholeNumber] | None = None
    estimate_records: Annotated[int, Field(ge=0, le=10**12), WholeNumber] | None = None
    categories: Annotated[list[Category], Field(max_length=50)] = []
    rescope: bool = Field(False, description="Recompute the scope from the evidence now")
    tz: Zone | None = None


class AssessIn(_In):
    exception_b: Annotated[str, Field(min_length=1, max_length=2000, description=(
        "Art. 34(3)(b): the measures that make the high risk unlikely to materialise "
        "(subjects then need not be told)"))] | None = None
    exception_c: Annotated[str, Field(min_length=1, max_length=2000, description=(
        "Art. 34(3)(c): why telling each subject would take disproportionate effort (a "
        "public communication instead)"))] | None = None
    override: Literal["none", "authority", "authority_and_subjects"] | None = None
    reason: Line | None = None


class NotifyIn(_In):
    recipient: Literal["authority", "subjects", "public"] = "authority"
    sent_at: Time | None = None
    phase: Literal["single", "initial", "follow_up", "final"] = "single"
    delay_reason: Annotated[str, Field(max_length=2000)] | None = None
    reference: Line | None = None
    channel: Line | None = None
    content: Annotated[str, Field(min_length=1, max_length=500_000, description=(
        "The text sent (e.g. the Markdown draft): only its SHA-256 is recorded"))] | None = None
    content_base64: Annotated[str, Field(
        min_length=4, max_length=700_000,
        pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
        description="Or the file sent (e.g. a PDF), base64: only its SHA-256 is recorded"
    )] | None = None
    tz: Zone | None = None
    model_config = ConfigDict(  # one of content and content_base64, as the validator says
        json_schema_extra={"not": {"required": ["content", "content_base64"]}})

    @model_validator(mode="after")
    def _one_content(self) -> NotifyIn:
        if self.content is not None and self.content_base64 is not None:
            raise ValueError("give content or content_base64, not both")
        return self


class CloseIn(_In):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    force: bool = False


class DraftIn(_In):
    tz: Zone | None = None
    phase: Literal["single", "initial", "follow_up", "final"] | None = Field(
        None, description="single (complete), initial (more will follow), follow_up or final "
        "(Art. 33(4)); default: single, or follow_up once the authority was notified")
    subjects_notice: bool | None = Field(
        None, description="Also the notice to the people affected (default: only when the "
        "decision includes telling them)")


# The library's names for a bad value (CLI flags) -> the body field of each route.
_OPEN_FIELDS = {
    "--title": "title", "--occurred": "occurred_at", "--aware": "aware_at",
    "--until": "occurred_until", "--nature": "nature", "--description": "description",
    "--output": "outputs", "--dataset": "datasets", "--keyset": "keysets",
    "--window": "windows", "--other": "other", "--key-exposed": "key_exposed",
    "--recipients": "recipients", "--consequence": "consequences", "--measure": "measures",
    "--subjects": "estimate_subjects", "--records": "estimate_records",
    "--category": "categories", "--tz": "tz", "breach": "",
}
_UPDATE_FIELDS = {
    **_OPEN_FIELDS, "--output": "add_outputs", "--dataset": "add_datasets",
    "--keyset": "add_keysets", "--window": "add_windows", "--other": "add_other",
    "--consequence": "add_consequences", "--measure": "add_measures", "update": "",
    "--rescope": "rescope",
}
_ASSESS_FIELDS = {"--override": "override", "--reason": "reason", "--exception": "exception_b",
                  "exceptions": "exception_b"}
_NOTIFY_FIELDS = {"--to": "recipient", "--sent": "sent_at", "--phase": "phase",
                  "--delay-reason": "delay_reason", "--reference": "reference",
                  "--channel": "channel", "--content": "content", "--tz": "tz"}
_CLOSE_FIELDS = {"--reason": "reason", "close": "", "--force": "force"}
_DRAFT_FIELDS = {"--tz": "tz", "--phase": "phase", "--subjects-notice": "subjects_notice"}
_FLAG = re.compile(r"--[a-z][a-z-]*")
_REF = re.compile(r"^BR-[0-9]+$")


def _translate(exc: VeilError, fields: dict[str, str], *, path_ref: bool) -> VeilError:
    """The same error, naming body fields (``body.aware_at``) where the library named CLI
    flags (``--aware``), in ``where`` and in the message."""
    names = {**{v: v for v in fields.values() if v}, **fields}

    def field(name: str) -> str:
        return f"body.{names[name]}" if names.get(name) else "body"

    where = exc.where
    if where is not None:
        if where in names:
            where = field(where)
        elif where.startswith("--"):
            where = "body"
        elif path_ref and (where == "breach" or _REF.match(where)):
            where = "path.ref"
    message = _FLAG.sub(lambda mt: fields.get(mt.group(0)) or mt.group(0), exc.message)
    if message == exc.message and where == exc.where:
        return exc
    out = type(exc)(message, where=where)
    out.__dict__.update({k: v for k, v in exc.__dict__.items()
                         if k not in ("message", "where", "args")})
    return out


def _register(request: Request, who: Any = None) -> Any:
    from veil.incidents import Breaches

    svc = service_of(request)
    return Breaches(svc.workspace, policy=svc.policy, actor=who.actor if who else "service")


async def _run(fn: Callable[..., Any], *args: Any, fields: dict[str, str] | None = None,
               path_ref: bool = True, **kw: Any) -> Any:
    try:
        return await run_in_threadpool(fn, *args, **kw)
    except NotFoundError as exc:
        raise HTTPException(404, exc.message) from None
    except VeilError as exc:
        raise _translate(exc, fields or {}, path_ref=path_ref) from None


async def _call(fn: Callable[..., Any], *args: Any, **kw: Any) -> dict[str, Any]:
    b = await _run(fn, *args, **kw)
    out: dict[str, Any] = b.to_json()
    return out


def _windows(ws: list[Window]) -> list[tuple[str, str]]:
    return [(w.start, w.end) for w in ws]


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
    """Record a breach and compute its scope from the evidence (outputs, datasets, keysets,
    time windows of outputs, other items): ``veil breach open``."""
    reg = _register(request, who)
    kw = body.model_dump(exclude={"windows"})
    return await _call(reg.open, windows=_windows(body.windows), fields=_OPEN_FIELDS,
                       path_ref=False, **kw)


@router.post("/{ref}/update", response_model=dict[str, Any], **perm("breach.write"))
async def breach_update(request: Request, who: Caller, ref: Ref,
                        body: UpdateIn) -> dict[str, Any]:
    """Change a breach's facts, add what was exposed, measures and consequences (``veil breach
    update``); the scope is recomputed when the evidence can have changed and an earlier
    assessment is marked stale. A closed breach answers 409."""
    kw = body.model_dump(exclude={"add_windows"})
    return await _call(_register(request, who).update, ref,
                       add_windows=_windows(body.add_windows), fields=_UPDATE_FIELDS, **kw)


@router.post("/{ref}/assess", response_model=dict[str, Any], **perm("breach.write"))
async def breach_assess(request: Request, who: Caller, ref: Ref,
                        body: AssessIn | None = None) -> dict[str, Any]:
    """Run the documented risk rules and record the decision, with the Art. 34(3)(b)/(c)
    exceptions the DPO justifies (an override needs a reason): ``veil breach assess``."""
    b = body or AssessIn()
    exc = {k: v for k, v in (("b", b.exception_b), ("c", b.exception_c)) if v is not None}
    fields = dict(_ASSESS_FIELDS)
    if b.exception_b is None or b.exception_b.strip():
        fields["--exception"] = fields["exceptions"] = "exception_c"
    return await _call(_register(request, who).assess, ref, exceptions=exc,
                       override=b.override, reason=b.reason, fields=fields)


def _content(body: NotifyIn) -> bytes | None:
    if body.content is not None:
        return body.content.encode("utf-8")
    if body.content_base64 is not None:
        try:
            return base64.b64decode(body.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InputError("not valid base64", where="body.content_base64") from None
    return None


@router.post("/{ref}/notify", response_model=dict[str, Any], **perm("breach.write"))
async def breach_notify(request: Request, who: Caller, ref: Ref,
                        body: NotifyIn) -> dict[str, Any]:
    """Record a notification sent (authority: Art. 33; subjects or public: Art. 34), with the
    SHA-256 of what was sent (``content`` or ``content_base64``): ``veil breach notify``."""
    kw = body.model_dump(exclude={"content", "content_base64"})
    return await _call(_register(request, who).notify, ref, content=_content(body),
                       fields=_NOTIFY_FIELDS, **kw)


_DRAFT_FILES = {"authority_json": "authority.json", "authority_markdown": "authority.md",
                "authority_html": "authority.html", "subjects_markdown": "subjects.md",
                "subjects_html": "subjects.html"}


def _drafts(request: Request, who: Any, ref: str, body: DraftIn) -> dict[str, Any]:
    reg = _register(request, who)
    with tempfile.TemporaryDirectory(prefix="veil-drafts-") as tmp:
        paths = reg.draft(ref, tmp, tz=body.tz, phase=body.phase,
                          subjects_notice=body.subjects_notice)
        texts: dict[str, str | None] = {
            k: Path(paths[f]).read_text("utf-8") if f in paths else None
            for k, f in _DRAFT_FILES.items()}
    authority = json.loads(texts.pop("authority_json") or "{}")
    return {"breach": authority.get("breach"), "authority": authority, **texts,
            "missing": authority.get("missing", [])}


_TEXT = {"type": "string"}


@router.post("/{ref}/draft", response_model=dict[str, Any], **perm(
    "breach.write", responses={200: {"content": {
        "text/markdown": {"schema": _TEXT}, "text/html": {"schema": _TEXT}}}}))
async def breach_draft(
    request: Request, who: Caller, ref: Ref, body: DraftIn | None = None,
    format: Annotated[Literal["json", "markdown", "html"], Query(
        description="json: the Art. 33(3) notification and every rendering as strings; "
        "markdown or html: one document")] = "json",
    notice: Annotated[Literal["authority", "subjects"], Query(
        description="With markdown or html: the notification to the authority or the notice "
        "to subjects")] = "authority",
) -> Any:
    """The Art. 33(3) notification (JSON, Markdown, HTML) and, when the decision includes the
    people affected (or ``subjects_notice``), the plain-language notice to them (Markdown, HTML;
    else null), as ``veil breach draft`` writes them; missing contents are marked MISSING and
    listed. Recorded as a step of the breach and an audit event (digests)."""
    out: dict[str, Any] = await _run(_drafts, request, who, ref,
                                     body or DraftIn.model_validate({}),
                                     fields=_DRAFT_FIELDS)
    if format == "json":
        return out
    text = out[f"{notice}_{format}"]
    if text is None:
        raise InputError(f"{out['breach']} has no notice to subjects: its decision does not "
                         "include telling them (set subjects_notice to write one anyway)",
                         where="query.notice")
    media = "text/markdown" if format == "markdown" else "text/html"
    return PlainTextResponse(text, media_type=f"{media}; charset=utf-8")


@router.post("/{ref}/close", response_model=dict[str, Any], **perm("breach.write"))
async def breach_close(request: Request, who: Caller, ref: Ref,
                       body: CloseIn) -> dict[str, Any]:
    """Close a breach once assessed and notified as its decision requires (or force it); a
    closed breach answers 409."""
    return await _call(_register(request, who).close, ref, reason=body.reason,
                       force=body.force, fields=_CLOSE_FIELDS)

"""Breaches: the register, one breach with its 72-hour clock, scope, risk assessment and the
Art. 33 / Art. 34 drafts rendered for review; assess the risk and record a notification.
Thin over :class:`veil.incidents.Breaches` (as ``veil breach`` and ``/v1/breaches``), with
the person's identity as actor."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veil.ui import queries as q
from veil.ui.auth import need
from veil.ui.calls import call
from veil.ui.csrf import CheckedForm
from veil.ui.host import host_of
from veil.ui.problems import PageProblem
from veil.ui.render import page, zone_name
from veil.ui.sessions import UISession

router = APIRouter()

Read = Annotated[UISession, Depends(need("breach.read"))]
Write = Annotated[UISession, Depends(need("breach.write"))]

_REF = re.compile(r"^(BR-?)?[0-9]{1,12}$")
RECIPIENTS = ("authority", "subjects", "public")
PHASES = ("single", "initial", "follow_up", "final")
_FIELDS = ("reference", "channel", "delay_reason")


def _register(request: Request, actor: str = "ui") -> Any:
    from veil.incidents import Breaches

    host = host_of(request)
    return Breaches(host.workspace, policy=host.policy, actor=actor)


def _ref(ref: str) -> str:
    if not _REF.match(ref):
        raise PageProblem(404, "Not found", "No such breach (references look like BR-0001).")
    return ref


def _clock(aware_at: datetime, notified_at: datetime | None, decision: str | None,
           now: datetime) -> Any:
    from veil.incidents.clock import clock

    def utc(t: datetime) -> datetime:
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    return clock(utc(aware_at), now, notified_at=utc(notified_at) if notified_at else None,
                 required=decision != "none")


@router.get("/breaches")
async def breach_list(request: Request, session: Read,
                      status: Annotated[str | None, Query(max_length=8)] = None,
                      page_no: Annotated[int, Query(alias="page", ge=0, le=100_000)] = 0,
                      ) -> Response:
    if status not in (None, "", "open", "closed"):
        raise PageProblem(422, "Check the filter", "Status is open or closed.")
    host = host_of(request)

    def read() -> dict[str, Any]:
        with host.workspace.engine.connect() as conn:
            return q.breach_list(conn, status=status or None, page=page_no)

    data = await run_in_threadpool(read)
    now = datetime.now(UTC)
    for row in data["rows"]:
        c = _clock(row["aware_at"], row["notified_at"], row["decision"], now)
        row.update(ref=f"BR-{row['id']:04d}", clock=c, hours_left=c.left.total_seconds() / 3600)
    return page(request, "breaches.html", title="Breaches", data=data, chosen=status or "",
                page_no=page_no, page_size=q.PAGE_SIZE)


def _drafts(b: Any, tz: str) -> dict[str, Any]:
    """The Art. 33(3) notification and, when the people affected are to be told (or the
    decision is not made yet), the Art. 34(2) notice: as blocks to render, with what each
    lacks."""
    from veil.incidents.drafts import (
        notification,
        notification_blocks,
        subject_notice,
        subjects_concerned,
    )

    n = notification(b, tz=tz)
    out: dict[str, Any] = {"authority": notification_blocks(n), "authority_missing": n["missing"],
                           "phase": n["phase"]}
    if b.decision is None or subjects_concerned(b):
        blocks, missing = subject_notice(b, tz=tz)
        out.update(subjects=blocks, subjects_missing=missing)
    return out


@router.get("/breaches/{ref}")
async def breach_show(request: Request, ref: str, session: Read,
                      done: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    reg = _register(request, session.actor)
    b = await call(request, reg.get, _ref(ref))
    tz = b.timezone or zone_name(request)
    drafts = await call(request, _drafts, b, tz)
    c = b.clock()
    return page(request, "breach.html", title=f"Breach {b.ref}", b=b, clock=c,
                hours_left=c.left.total_seconds() / 3600, clock_text=c.text(tz),
                drafts=drafts, recipients=RECIPIENTS, phases=PHASES, breach_zone=tz,
                done=done if done in ("assess", "notify") else None)


@router.get("/breaches/{ref}/clock")
async def breach_clock(request: Request, ref: str, session: Read) -> Response:
    """The clock part of the breach page alone (htmx refreshes it in place)."""
    b = await call(request, _register(request, session.actor).get, _ref(ref))
    c = b.clock()
    return page(request, "_breach_clock.html", b=b, clock=c,
                hours_left=c.left.total_seconds() / 3600,
                clock_text=c.text(b.timezone or zone_name(request)))


@router.post("/breaches/{ref}/assess")
async def breach_assess(request: Request, ref: str, form: CheckedForm,
                        session: Write) -> Response:
    b = await call(request, _register(request, session.actor).assess, _ref(ref))
    return RedirectResponse(f"/ui/breaches/{b.ref}?done=assess", status_code=303)


def _notify_args(form: Any, zone: str) -> dict[str, Any]:
    recipient = str(form.get("recipient") or "authority")
    phase = str(form.get("phase") or "single")
    if recipient not in RECIPIENTS or phase not in PHASES:
        raise PageProblem(422, "Check the form", "Choose a recipient and a phase from the "
                          "lists. Nothing was changed.")
    args: dict[str, Any] = {"recipient": recipient, "phase": phase, "tz": zone}
    sent = str(form.get("sent_at") or "").strip()
    if sent:
        args["sent_at"] = sent
    for name in _FIELDS:
        value = str(form.get(name) or "").strip()
        if len(value) > 2000:
            raise PageProblem(422, "Check the form", f"{name.replace('_', ' ')} is longer "
                              "than 2000 characters. Nothing was changed.")
        if value:
            args[name] = value
    return args


@router.post("/breaches/{ref}/notify")
async def breach_notify(request: Request, ref: str, form: CheckedForm,
                        session: Write) -> Response:
    """Record a notification sent (the form's time is in the breach's time zone)."""
    reg = _register(request, session.actor)
    b = await call(request, reg.get, _ref(ref))
    args = _notify_args(form, b.timezone or zone_name(request))
    b = await call(request, reg.notify, b.ref, **args)
    return RedirectResponse(f"/ui/breaches/{b.ref}?done=notify", status_code=303)


__all__ = ["router"]

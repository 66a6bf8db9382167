"""Requests: the list with due dates, one request with its steps, and run / close / export,
each behind a confirmation page. Thin over ``veil.lifecycle.requests`` (``veil.rights``): the
same calls as ``veil dsr`` and ``/v1/dsr``, with the person's identity as actor."""

from __future__ import annotations

import io
import json
import re
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from veil.ui import queries as q
from veil.ui.auth import need
from veil.ui.calls import call
from veil.ui.csrf import CheckedForm
from veil.ui.host import host_of
from veil.ui.pages.today import due_soon_days
from veil.ui.problems import PageProblem
from veil.ui.render import page
from veil.ui.sessions import UISession

router = APIRouter()

_ID = re.compile(r"^[A-Za-z0-9]{4,32}$")
STATUSES = ("open", "running", "failed", "completed", "refused", "closed")
ACTIONS = {"run": "Run the request", "close": "Close the request",
           "export": "Open the package"}
List = Annotated[UISession, Depends(need("dsr.list"))]
Read = Annotated[UISession, Depends(need("dsr.read"))]
Write = Annotated[UISession, Depends(need("dsr.write"))]


def _requests(request: Request) -> Any:
    from veil.lifecycle import requests  # runs also propagate and notify (Art. 19)

    host = host_of(request)
    return requests(host.workspace, host.policy)


def _rid(request_id: str) -> str:
    if not _ID.match(request_id):
        raise PageProblem(404, "Not found", "No such request.")
    return request_id


@router.get("/requests")
async def request_list(request: Request, session: List,
                       status: Annotated[str | None, Query(max_length=16)] = None,
                       page_no: Annotated[int, Query(alias="page", ge=0, le=100_000)] = 0,
                       ) -> Response:
    if status not in (None, "", *STATUSES):
        raise PageProblem(422, "Check the filter", f"Unknown status '{status[:16]}'.")
    host = host_of(request)
    w = q.Window(datetime.now(UTC), due_soon_days(host.policy))

    def read() -> dict[str, Any]:
        with host.workspace.engine.connect() as conn:
            return q.request_list(conn, w, status=status or None, page=page_no)

    data = await run_in_threadpool(read)
    return page(request, "requests.html", title="Requests", data=data, chosen=status or "",
                statuses=STATUSES, page_no=page_no, page_size=q.PAGE_SIZE,
                soon_days=w.due_soon_days)


def _certificate(reqs: Any, rec: Any) -> dict[str, Any] | None:
    """The erasure certificate the run wrote (no personal data: written in clear)."""
    path = reqs.folder(rec.id) / "erasure-certificate.json"
    if rec.kind != "erasure" or not path.is_file():
        return None
    try:
        doc: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return doc


@router.get("/requests/{request_id}")
async def request_show(request: Request, request_id: str,
                       session: Read,
                       done: Annotated[str | None, Query(max_length=16)] = None) -> Response:
    reqs = _requests(request)
    rec = await call(request, reqs.get, _rid(request_id))
    cert = await run_in_threadpool(_certificate, reqs, rec)
    return page(request, "request.html", title=f"Request {rec.id}", r=rec,
                d=rec.to_dict(), certificate=cert, done=done if done in ACTIONS else None,
                has_package=_has_package(rec))


def _has_package(rec: Any) -> bool:
    """Whether the request has a package whose files are all there (not erased)."""
    from veil.rights.package_state import READY

    return bool(rec.package == READY)


@router.get("/requests/{request_id}/confirm")
async def request_confirm(request: Request, request_id: str,
                          session: Write,
                          action: Annotated[str, Query(max_length=16)] = "run") -> Response:
    if action not in ACTIONS:
        raise PageProblem(404, "Not found", "No such action.")
    rec = await call(request, _requests(request).get, _rid(request_id))
    return page(request, "request_confirm.html", title=ACTIONS[action], r=rec, action=action,
                heading=ACTIONS[action])


@router.post("/requests/{request_id}/run")
async def request_run(request: Request, request_id: str, form: CheckedForm,
                      session: Write) -> Response:
    rec = await call(request, _requests(request).run, _rid(request_id), actor=session.actor)
    return RedirectResponse(f"/ui/requests/{rec.id}?done=run", status_code=303)


@router.post("/requests/{request_id}/close")
async def request_close(request: Request, request_id: str, form: CheckedForm,
                        session: Write) -> Response:
    note = str(form.get("note") or "").strip()
    if not note or len(note) > 2000:
        raise PageProblem(422, "Check the form", "Closing needs a note of 1 to 2000 "
                          "characters (what the subject was told). Nothing was changed.")
    rec = await call(request, _requests(request).close, _rid(request_id), note,
                     actor=session.actor)
    return RedirectResponse(f"/ui/requests/{rec.id}?done=close", status_code=303)


def _export(reqs: Any, rid: str, actor: str, reason: str) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="veil-ui-package-") as tmp:
        paths = reqs.export(rid, Path(tmp) / "package", actor=actor, reason=reason)
        return {p.name: p.read_bytes() for p in paths}


@router.post("/requests/{request_id}/export")
async def request_export(request: Request, request_id: str, form: CheckedForm,
                         session: Write) -> Response:
    """Decrypt the access or portability package (recorded as ``dsr.export`` with the reason):
    shown on the page for review, or downloaded as a ZIP for the secure channel."""
    reason = str(form.get("reason") or "").strip()
    mode = str(form.get("mode") or "view")
    if not reason or len(reason) > 200:
        raise PageProblem(422, "Check the form", "Opening the package needs a reason of 1 to "
                          "200 characters (e.g. 'sent via secure portal, ticket 42'). "
                          "Nothing was changed.")
    reqs = _requests(request)
    rec = await call(request, reqs.get, _rid(request_id))
    files = await call(request, _export, reqs, rec.id, session.actor, reason)
    if mode == "download":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in files.items():
                zf.writestr(name, data)
        return Response(buf.getvalue(), media_type="application/zip", headers={
            "content-disposition": f'attachment; filename="{rec.id}-package.zip"'})
    doc = json.loads(files.get("package.json", b"{}"))
    return page(request, "request_package.html", title=f"Package of request {rec.id}", r=rec,
                doc=doc)


__all__ = ["router"]

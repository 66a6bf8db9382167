"""Runs: the runs recorded in the store, newest first, and each run's receipt made readable
(:mod:`veil.ui.pages.runs_view`). Reading them needs ``ropa.read``: a receipt is the evidence
behind the records of processing (the engineer, the auditor and the DPO hold it)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from veil.errors import NotFoundError, VeilError
from veil.ui.auth import need
from veil.ui.host import host_of
from veil.ui.pages.runs_view import recent_runs, run_view
from veil.ui.problems import PageProblem
from veil.ui.render import page
from veil.ui.sessions import UISession

router = APIRouter()

READ = "ropa.read"
_RUN_ID = re.compile(r"^[0-9a-f]{4,32}$")
MAX_PAGE = 100_000


@router.get("/runs")
async def runs_page(request: Request, session: Annotated[UISession, Depends(need(READ))],
                    p: str = "1") -> Response:
    page_no = int(p) if p.isdigit() and len(p) <= 6 else 0
    if not 1 <= page_no <= MAX_PAGE:
        raise PageProblem(422, "No such page", f"Pages are numbered 1 to {MAX_PAGE:,}.")
    listing = await run_in_threadpool(recent_runs, host_of(request).workspace.engine,
                                      page=page_no)
    return page(request, "runs.html", title="Runs", listing=listing)


@router.get("/runs/{run_id}")
async def run_page(request: Request, run_id: str,
                   session: Annotated[UISession, Depends(need(READ))]) -> Response:
    if not _RUN_ID.match(run_id):
        raise PageProblem(404, "Not found", "A run id is 4 to 32 hexadecimal characters.")
    try:
        view = await run_in_threadpool(run_view, host_of(request).workspace, run_id)
    except VeilError as exc:  # no such run, or an ambiguous prefix
        status = 404 if isinstance(exc, NotFoundError) else 422
        raise PageProblem(status, "Not found" if status == 404 else "Check the id",
                          exc.message) from None
    return page(request, "runs_show.html", title=f"Run {view.run['id'][:12]}", view=view)


__all__ = ["READ", "router"]

"""Records: the Art. 30 records of processing of every purpose, and each purpose's DPIA draft
(Art. 35), printable (the print stylesheet leaves out navigation and forms). Both are built
from the policy in force and the workspace's runs, as ``veil ropa`` and ``veil dpia`` build
them (:mod:`veil.ui.pages.records_view`)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from veil.ui.auth import need
from veil.ui.host import host_of
from veil.ui.pages import records_view
from veil.ui.problems import PageProblem
from veil.ui.render import page
from veil.ui.sessions import UISession

router = APIRouter()

READ = "ropa.read"
_PURPOSE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")


def _policy(request: Request) -> object:
    policy = host_of(request).policy
    if policy is None:
        raise PageProblem(409, "No policy", "The service runs without a policy, so there are "
                          "no records of processing to show (start it with --policy).")
    return policy


@router.get("/records")
async def records_page(request: Request,
                       session: Annotated[UISession, Depends(need(READ))]) -> Response:
    host = host_of(request)
    found = await run_in_threadpool(records_view.records, _policy(request), host.workspace)
    return page(request, "records.html", title="Records of processing", records=found)


@router.get("/records/dpia/{purpose}")
async def dpia_page(request: Request, purpose: str,
                    session: Annotated[UISession, Depends(need(READ))]) -> Response:
    policy = _policy(request)
    if not _PURPOSE.match(purpose) or purpose not in getattr(policy, "purposes", {}):
        raise PageProblem(404, "Not found", "The policy has no purpose by that name.")
    draft = await run_in_threadpool(records_view.dpia, policy, purpose, host_of(request).workspace)
    return page(request, "records_dpia.html", title=f"DPIA draft: {purpose}", dpia=draft)


__all__ = ["READ", "router"]

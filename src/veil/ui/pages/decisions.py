"""Decisions: the review queue (soonest due first), the last 30 days' automated decisions, the
models' fairness at registration and the bias checks recorded since, and one decision with the
explanation its subject is owed (Art. 15(1)(h), 22 GDPR; Art. 86 AI Act). Data from
:mod:`veil.ui.pages.decisions_view`; reading the queue or a decision is an audit event with the
person as actor, as over the REST API."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from veil.errors import VeilError
from veil.ui.auth import need
from veil.ui.host import host_of
from veil.ui.pages import decisions_view
from veil.ui.pages.consent_cache import FiguresCache
from veil.ui.problems import PageProblem
from veil.ui.render import page
from veil.ui.sessions import UISession

router = APIRouter()

READ = "decisions.read"
_ID = re.compile(r"^[0-9a-f]{32}$")


def ledger_of(request: Request) -> Any:
    """One decision ledger per app (the REST routes keep theirs on the same attribute)."""
    led = getattr(request.app.state, "decision_ledger", None)
    if led is None:
        from veil.decisions import DecisionLedger

        host = host_of(request)
        led = request.app.state.decision_ledger = DecisionLedger(host.workspace, host.policy)
    return led


#: The 30-day counts are recomputed on every view only when they take less than this (a
#: small ledger); above it (87 ms at 100,000 decisions, most of the page's time) the last
#: counts are shown "as of" and refreshed in the background (``consent_cache``).
COUNTS_FRESH_BELOW = 0.02


def counts_cache(request: Request) -> FiguresCache[decisions_view.RecentCounts]:
    """The workspace's 30-day counts (one cache per served workspace, on the app's state)."""
    state = request.app.state
    caches: dict[int, FiguresCache[decisions_view.RecentCounts]] = getattr(
        state, "decision_counts", None) or {}
    state.decision_counts = caches
    engine = host_of(request).workspace.engine
    if id(engine) not in caches:
        caches[id(engine)] = FiguresCache(
            lambda: decisions_view.recent_counts(engine),
            lambda: decisions_view.recent_size(engine), fresh_below=COUNTS_FRESH_BELOW)
    return caches[id(engine)]


@router.get("/decisions")
async def decisions_page(request: Request,
                         session: Annotated[UISession, Depends(need(READ))]) -> Response:
    view = await run_in_threadpool(decisions_view.overview, ledger_of(request),
                                   actor=session.actor)
    counts = await run_in_threadpool(counts_cache(request).get)
    return page(request, "decisions.html", title="Decisions", view=view, counts=counts)


@router.get("/decisions/{decision_id}")
async def decision_page(request: Request, decision_id: str,
                        session: Annotated[UISession, Depends(need(READ))]) -> Response:
    from veil.decisions.explanation import explanation_for

    if not _ID.match(decision_id):
        raise PageProblem(404, "Not found", "A decision id is 32 hexadecimal characters.")
    try:
        explanation = await run_in_threadpool(explanation_for, ledger_of(request), decision_id,
                                              actor=session.actor)
    except VeilError as exc:
        raise PageProblem(404, "Not found", exc.message) from None
    return page(request, "decisions_show.html", title=f"Decision {decision_id[:12]}",
                e=explanation, factors=decisions_view.factors_chart(explanation))


__all__ = ["READ", "router"]

"""Consent: coverage per purpose now and week by week, grants and withdrawals per week, the
notices and their versions, and (for a role that may read consent history) one subject looked
up by an id typed in a form.

The figures come from :mod:`veil.ui.pages.consent_figures` (aggregated in the store), kept by
:mod:`veil.ui.pages.consent_cache` when the ledger is large; the lookup from
:mod:`veil.ui.pages.consent_lookup` (the consent ledger's own check and history).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from veil.errors import VeilError
from veil.ui.auth import need
from veil.ui.charts import Chart, Series
from veil.ui.csrf import CheckedForm
from veil.ui.host import host_of
from veil.ui.pages.consent_cache import FiguresCache, Snapshot
from veil.ui.pages.consent_figures import KINDS, ConsentFigures, consent_figures
from veil.ui.pages.consent_lookup import lookup_subject
from veil.ui.render import local_time, page, zone_name
from veil.ui.sessions import UISession

router = APIRouter()

READ = "consent.check"  # the page: aggregate figures and notices, no one's data
LOOKUP = "consent.history"  # the subject lookup: one person's consents and events


def ledger_of(request: Request) -> Any:
    host = host_of(request)
    ledger = getattr(host, "ledger", None)
    if ledger is None:
        from veil.consent.ledger import Ledger

        ledger = Ledger(host.workspace, host.policy)
    return ledger


def consent_purposes(policy: Any) -> list[str]:
    """The policy's purposes that rely on consent (none without a policy)."""
    purposes = getattr(policy, "purposes", None) or {}
    return [pid for pid, p in purposes.items() if getattr(p, "needs_consent", False)]


def figures_cache(request: Request) -> FiguresCache[ConsentFigures]:
    """The workspace's cache of figures (one per served workspace, on the app's state)."""
    import sqlalchemy as sa

    from veil.store.schema import consent_events

    state = request.app.state
    caches: dict[int, FiguresCache[ConsentFigures]] = getattr(state, "consent_figures",
                                                              None) or {}
    state.consent_figures = caches
    engine = host_of(request).workspace.engine
    cache = caches.get(id(engine))
    if cache is None:
        def size() -> int:
            with engine.connect() as conn:
                return int(conn.execute(sa.select(sa.func.max(consent_events.c.seq))).scalar()
                           or 0)

        cache = caches[id(engine)] = FiguresCache(lambda: consent_figures(engine), size)
    return cache


def charts(figures: ConsentFigures, zone: str) -> list[Chart]:
    """The coverage chart (all purposes) and one activity chart per purpose."""
    labels = [local_time(w, zone, "%Y-%m-%d") for w in figures.weeks]
    out = [Chart(
        id="consent-in-force", kind="line", caption="Consents in force at the end of each week",
        label_header="Week ending", labels=labels,
        series=[Series(p, list(v)) for p, v in sorted(figures.in_force.items())],
        note="A grant or renewal counts until the subject's next event or its expiry date. "
             "Notices that required re-consent are applied to the figures of today only.")]
    for purpose, per in sorted(figures.activity.items()):
        out.append(Chart(
            id=f"consent-activity-{len(out)}", kind="bar",
            caption=f"Consent events per week: {purpose}", label_header="Week ending",
            labels=labels, series=[Series(k, list(per[k])) for k in KINDS]))
    return out


async def _snapshot(request: Request) -> Snapshot[ConsentFigures]:
    return await run_in_threadpool(figures_cache(request).get)


def _figures_values(request: Request, snap: Snapshot[ConsentFigures]) -> dict[str, Any]:
    zone = zone_name(request)
    figures = snap.figures
    return {"snap": snap, "figures": figures,
            "charts": charts(figures, zone) if figures is not None else []}


async def _page(request: Request, session: UISession, *, lookup: Any = None,
                problem: str | None = None, status: int = 200) -> Response:
    host = host_of(request)
    ledger = ledger_of(request)
    snap = await _snapshot(request)
    values = _figures_values(request, snap)
    shown = [p.purpose for p in values["figures"].purposes] if values["figures"] else []
    purposes = list(dict.fromkeys([*consent_purposes(host.policy), *shown]))
    notices = await run_in_threadpool(
        lambda: [(p, ledger.notices(p)) for p in purposes])
    return page(request, "consent.html", status=status, title="Consent", notices=notices,
                lookup=lookup, problem=problem, **values)


@router.get("/consent")
async def consent_page(request: Request,
                       session: Annotated[UISession, Depends(need(READ))]) -> Response:
    return await _page(request, session)


@router.get("/consent/figures")
async def consent_figures_part(request: Request,
                               session: Annotated[UISession, Depends(need(READ))]) -> Response:
    """The figures alone (the page's section; htmx polls it while a computation runs)."""
    snap = await _snapshot(request)
    return page(request, "consent_figures.html", **_figures_values(request, snap))


@router.post("/consent/lookup")
async def consent_lookup(request: Request,
                         session: Annotated[UISession, Depends(need(LOOKUP))],
                         form: CheckedForm) -> Response:
    subject = form.get("subject")
    if not isinstance(subject, str) or not subject.strip():
        return await _page(request, session, status=422,
                           problem="Type the subject's id (the customer number) to look it up.")
    host = host_of(request)
    try:
        found = await run_in_threadpool(lookup_subject, ledger_of(request), subject.strip(),
                                        consent_purposes(host.policy), actor=session.actor)
    except VeilError as exc:  # the ledger's message names no id
        return await _page(request, session, status=422, problem=exc.message)
    return await _page(request, session, lookup=found)


__all__ = ["LOOKUP", "READ", "charts", "consent_purposes", "router"]

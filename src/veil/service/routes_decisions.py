"""Decisions over the API (Art. 22 GDPR; EU AI Act Annex III 5(b)): record a decision (the bank's
scoring service), list and show them, the review queue, a contest (the person's view, through
the bank's app or the DPO) and a review (the DPO or a ``reviewer`` key) through
:class:`veil.decisions.DecisionLedger`.

Subject ids travel only in the request body of ``POST /v1/decisions``; every answer names the
subject by keyed pseudonym. Every call is an audit event (the library writes it); the actor of
reads and queue listings is the calling key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from veil.errors import InputError
from veil.service.auth import perm
from veil.service.deps import ERRORS, Caller, need_policy, service_of
from veil.service.models import DecisionPurpose, Subject, Time, WholeNumber, _In

router = APIRouter(prefix="/v1/decisions", tags=["decisions"], responses=ERRORS)

DecisionId = Annotated[str, PathParam(pattern=r"^[0-9a-f]{32}$",
                                      description="Decision id (32 hex digits)")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")]
Feature = Annotated[str, Field(min_length=1, max_length=64)]
Value = float | int | str | bool | None
Long = Annotated[str, Field(min_length=1, max_length=10_000)]


class DecisionIn(_In):
    """One decision of a registered model about one person (online scoring)."""

    model: Name
    subject: Subject
    features: Annotated[dict[Feature, Value], Field(max_length=200)]
    score: float
    version: Annotated[int, Field(ge=1, le=2**31 - 1), WholeNumber] | None = None
    reasons: Annotated[dict[Feature, float], Field(max_length=200, description=(
        "Reason codes: feature -> contribution in score units (negative lowered the "
        "score)"))] | None = None
    outcome: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    threshold: float | None = None


class ContestIn(_In):
    statement: Long = Field(description="The person's point of view (Art. 22(3))")
    by: Annotated[str, Field(min_length=1, max_length=128)] = Field(
        "subject", description="Who contests: 'subject' or the DPO on their behalf")


class ReviewIn(_In):
    outcome: Annotated[str, Field(min_length=1, max_length=64)]
    rationale: Long
    reviewer: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        None, description="The reviewer's name (default: the calling key's name)")


def _ledger(request: Request) -> Any:
    """One ledger per app (its key cache and audit log stay warm between requests)."""
    led = getattr(request.app.state, "decision_ledger", None)
    if led is None:
        from veil.decisions import DecisionLedger

        svc = service_of(request)
        led = request.app.state.decision_ledger = DecisionLedger(svc.workspace, svc.policy)
    return led


def _policy(request: Request) -> None:
    need_policy(service_of(request))


def _time(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("not an ISO 8601 time", where=f"query.{field}") from None
    if t.tzinfo is None:
        raise InputError("give the time with a UTC offset (e.g. Z)", where=f"query.{field}")
    return t


@router.post("", status_code=201, response_model=dict[str, Any], **perm("decisions.write"))
async def decision_record(request: Request, body: DecisionIn) -> dict[str, Any]:
    """Record one decision (each is an audit event); a subject who objected to the purpose is
    refused (422). Recorded in the ledger's shared scoring session of the model version (one
    transaction per decision, no per-request setup; written to disk within a second, see
    docs/decisions.md)."""
    # No ``Caller`` parameter: the permission's dependency has authenticated the key, and the
    # decision's actor is the model; ``caller`` is a plain function, which FastAPI would run
    # in the thread pool: a second thread hop on the online path, for nothing.
    _policy(request)
    led = _ledger(request)
    service_of(request).decision_ledger = led  # its shared sessions end with the service

    def record() -> Any:
        session = led.shared_session(body.model, body.version)
        return session.decide(body.subject, body.features, body.score, reasons=body.reasons,
                              outcome=body.outcome, threshold=body.threshold)

    rec = await run_in_threadpool(record)
    out: dict[str, Any] = rec.to_dict()
    return out


class ActualIn(_In):
    decision_id: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]
    actual: Annotated[int, Field(ge=0, le=1), WholeNumber] = Field(
        description="1 when the favourable outcome was deserved (e.g. the loan was repaid)")


class ActualsIn(_In):
    """Observed outcomes of decisions (for error rates in the fairness report)."""

    actuals: Annotated[list[ActualIn], Field(min_length=1, max_length=100_000)]


@router.post("/actuals", response_model=dict[str, int], **perm("decisions.write"))
async def decision_actuals(request: Request, body: ActualsIn, who: Caller) -> dict[str, int]:
    """Record many observed outcomes in one transaction and one audit event (counts only);
    an unknown or repeated decision id is a 422 naming its row, nothing recorded."""
    ids = [a.decision_id for a in body.actuals]
    values = [a.actual for a in body.actuals]
    res = await run_in_threadpool(_ledger(request).record_actuals, ids, values,
                                  by=who.actor, source="body.actuals")
    out: dict[str, int] = res.to_dict()
    return out


@router.get("", response_model=list[dict[str, Any]], **perm("decisions.read"))
async def decision_list(
    request: Request, who: Caller,
    purpose: Annotated[str | None, Query(max_length=128)] = None,
    model: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(pattern="^(final|review|contested|reviewed)$")] = None,
    since: Annotated[Time | None, Query()] = None,
    until: Annotated[Time | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    """Decisions, oldest first (the listing is an audit event)."""
    recs = await run_in_threadpool(
        _ledger(request).list, purpose=purpose, model=model, status=status,
        since=_time(since, "since"), until=_time(until, "until"), limit=limit,
        actor=who.actor)
    return [r.to_dict() for r in recs]


@router.get("/queue", response_model=list[dict[str, Any]], **perm("decisions.read"))
async def decision_queue(
    request: Request, response: Response, who: Caller,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> list[dict[str, Any]]:
    """The review queue: decisions waiting for a human, soonest due first (the first
    ``limit``; the ``X-Total-Count`` header says how many wait in all)."""
    items, waiting, _ = await run_in_threadpool(
        _ledger(request).review_queue_counted, actor=who.actor, limit=limit)
    response.headers["X-Total-Count"] = str(waiting)
    return [i.to_dict() for i in items]


def _show(led: Any, decision_id: str, actor: str) -> dict[str, Any]:
    rec = led.get(decision_id, actor=actor)
    out: dict[str, Any] = rec.to_dict()
    out["history"] = [h.to_dict() for h in led.history(rec.id)]
    return out


@router.get("/{decision_id}", response_model=dict[str, Any], **perm("decisions.read"))
async def decision_show(request: Request, decision_id: DecisionId,
                        who: Caller) -> dict[str, Any]:
    """One decision with its contests and reviews."""
    return await run_in_threadpool(_show, _ledger(request), decision_id, who.actor)


@router.post("/{decision_id}/contest", response_model=dict[str, Any],
             **perm("decisions.contest"))
async def decision_contest(request: Request, decision_id: DecisionId, body: ContestIn,
                           who: Caller) -> dict[str, Any]:
    """The person contests the decision and states their view: it enters the review queue
    (409 when already contested or reviewed)."""
    from veil.decisions.review import contest

    _policy(request)
    rec = await run_in_threadpool(contest, _ledger(request), decision_id, body.statement,
                                  by=body.by, actor=who.actor)
    out: dict[str, Any] = rec.to_dict()
    return out


@router.post("/{decision_id}/review", response_model=dict[str, Any],
             **perm("decisions.review"))
async def decision_review(request: Request, decision_id: DecisionId, body: ReviewIn,
                          who: Caller) -> dict[str, Any]:
    """A named reviewer (a ``dpo`` or ``reviewer`` key) records the final decision, linked to
    the automated one (409 when it is not waiting for review)."""
    # the audit event names the calling key; the reviewer's name is a (screened) detail
    from veil.decisions.review import review

    _policy(request)
    rec = await run_in_threadpool(review, _ledger(request), decision_id,
                                  reviewer=body.reviewer or who.name, outcome=body.outcome,
                                  rationale=body.rationale, actor=who.actor)
    out: dict[str, Any] = rec.to_dict()
    return out


@router.get("/{decision_id}/explanation", response_model=None, **perm("decisions.read"))
async def decision_explanation(
    request: Request, decision_id: DecisionId, who: Caller,
    format: Annotated[str, Query(pattern="^(json|md|html)$")] = "json",  # noqa: A002
) -> Any:
    """The explanation for the person (Art. 15(1)(h) GDPR, Art. 86 AI Act): outcome, model,
    main factors in plain language, score and threshold, rights, review history; ``format``
    json (default), md or html. Works after erasure, from the stored reason codes."""
    from fastapi.responses import HTMLResponse, PlainTextResponse

    from veil.decisions.explanation import explanation_for

    _policy(request)
    ex = await run_in_threadpool(explanation_for, _ledger(request), decision_id,
                                 actor=who.actor)
    if format == "md":
        return PlainTextResponse(ex.to_markdown(), media_type="text/markdown; charset=utf-8")
    if format == "html":
        return HTMLResponse(ex.to_html())
    return ex.to_dict()


class FairnessIn(_In):
    """A bias check (Art. 10(2)(f) AI Act) over the decisions of a period. The protected
    attributes are used for this check only, in memory, and discarded (Art. 10(5))."""

    protected: Annotated[list[dict[str, Annotated[str, Field(max_length=200)]]], Field(
        min_length=1, max_length=1_000_000, json_schema_extra={"x-protected": True},
        description=("One row per person: subject_id and each protected attribute the policy "
                     "lists (the served document names them)"))]
    purpose: DecisionPurpose | None = None
    since: Time | None = None
    until: Time | None = None
    positive: Annotated[str, Field(min_length=1, max_length=64)] = "approve"
    resamples: Annotated[int, Field(ge=0, le=10_000), WholeNumber] = 1000
    seed: Annotated[int, Field(ge=0, le=2**32 - 1), WholeNumber] = 0


@router.post("/fairness", response_model=dict[str, Any], **perm("decisions.fairness"))
async def decision_fairness(request: Request, body: FairnessIn, who: Caller) -> dict[str, Any]:
    """Selection rates, error rates where actual outcomes are recorded, demographic-parity and
    equalized-odds differences by protected attribute (as Fairlearn defines them), bootstrap
    intervals; the report (figures only) is an audit event. No plots over the API (the CLI
    writes them)."""
    import pandas as pd

    from veil.decisions.fairness import fairness_report

    _policy(request)
    led = _ledger(request)
    table = pd.DataFrame(body.protected)
    report = await run_in_threadpool(
        fairness_report, led, table, policy=led.policy, purpose=body.purpose,
        since=_time(body.since, "since"), until=_time(body.until, "until"),
        positive=body.positive, resamples=body.resamples, seed=body.seed, plots=False,
        actor=who.actor)
    del table
    out: dict[str, Any] = report.to_dict()
    return out

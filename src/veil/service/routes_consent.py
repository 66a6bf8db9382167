"""Consent over the API: grant, renew and withdraw (the calling key is the collector), the
check (the hot path: inline on SQLite, see :mod:`veil.service.state`), the bulk check, a
subject's history and receipt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from veil.errors import InputError
from veil.service import models as m
from veil.service.apikeys import Principal
from veil.service.auth import perm
from veil.service.deps import ERRORS, Caller, service_of
from veil.service.state import Service
from veil.service.times import format_datetime, format_us, parse_iso

router = APIRouter(prefix="/v1", responses=ERRORS)

_CLOCK_SKEW = timedelta(minutes=5)  # a consent check "at" may be this far ahead of our clock


def _event_out(svc: Service, e: Any) -> m.ConsentEventOut:
    return m.ConsentEventOut(
        event_id=e.event_id, subject_ref=svc.ledger.ref(e.subject), purpose=e.purpose,
        event=e.kind, time=format_us(e.time_us) or "", recorded=format_us(e.recorded_us or None),
        channel=e.channel, collector=e.collector, notice_version=e.notice_version,
        action=e.action, evidence=e.evidence, expires=format_us(e.expires_us), minor=e.minor)


def _check_out(st: Any) -> m.CheckOut:
    d = st.to_json()
    d["subject_ref"] = d.pop("subject")
    return m.CheckOut(**d)


async def _known(svc: Service, subject: str) -> None:
    from veil.consent.models import check_subject

    check_subject(subject)
    if not await run_in_threadpool(svc.ledger.knows, subject):
        raise HTTPException(404, f"unknown subject: the ledger has no consent events for "
                            f"{svc.ledger.ref(subject)}")


def _not_future(at: str | None) -> None:
    """A check "as of" a time answers for the past or now: a future ``at`` (beyond a few
    minutes of clock skew) is refused, not answered with today's state."""
    if at is None:
        return
    try:
        when = parse_iso(at)
    except ValueError:
        return  # the ledger's parser gives the one clear error
    if when > datetime.now(UTC) + _CLOCK_SKEW:
        raise InputError(f"at {format_datetime(when)} is in the future: consent is checked now "
                         f"or at a past time (up to {int(_CLOCK_SKEW.total_seconds() // 60)} "
                         "minutes of clock skew allowed)", where="body.at")


async def _append(svc: Service, who: Principal, kind: str, body: Any) -> m.ConsentEventOut:
    from veil.consent.models import ConsentEvent

    ev = ConsentEvent(
        subject=body.subject, purpose=body.purpose, kind=kind, channel=body.channel,
        collector=who.actor, time=body.time,
        notice_version=getattr(body, "notice_version", None), action=body.action,
        evidence=body.evidence, expires=getattr(body, "expires", None),
        age=getattr(body, "age", None), guardian=getattr(body, "guardian", None),
        event_id=body.event_id)
    stored = await run_in_threadpool(svc.ledger.append, [ev])
    return _event_out(svc, stored[0])


@router.post("/consent/grant", response_model=m.ConsentEventOut, status_code=201,
             tags=["consent"], **perm("consent.write"))
async def consent_grant(request: Request, who: Caller, body: m.GrantIn) -> m.ConsentEventOut:
    """Record that the subject consented to one purpose by an explicit action (GDPR Art. 7).
    The collector recorded (and the audit event's actor) is the calling key."""
    return await _append(service_of(request), who, "granted", body)


@router.post("/consent/renew", response_model=m.ConsentEventOut, status_code=201,
             tags=["consent"], **perm("consent.write"))
async def consent_renew(request: Request, who: Caller, body: m.GrantIn) -> m.ConsentEventOut:
    """Record that the subject confirmed a consent in force or lapsed (not one withdrawn)."""
    return await _append(service_of(request), who, "renewed", body)


@router.post("/consent/withdraw", response_model=m.ConsentEventOut, status_code=201,
             tags=["consent"], **perm("consent.write"))
async def consent_withdraw(request: Request, who: Caller,
                           body: m.WithdrawIn) -> m.ConsentEventOut:
    """Record a withdrawal (Art. 7(3)): effective from its time, as easy as granting. Then
    outputs of the purpose holding the subject are flagged, purged or rebuilt (on_erasure)
    and models trained on them flagged for retraining."""
    from veil.lifecycle import propagate_withdrawal

    svc = service_of(request)
    out = await _append(svc, who, "withdrawn", body)
    await run_in_threadpool(propagate_withdrawal, svc.workspace, svc.policy, body.subject,
                            [body.purpose], actor=who.actor)
    return out


@router.post("/consent/check", response_model=m.CheckOut, tags=["consent"],
             **perm("consent.check"))
async def consent_check(request: Request, body: m.CheckIn) -> m.CheckOut:
    """Does the subject hold valid consent to the purpose now (or at a past time)? A subject the
    ledger does not know has "no consent"."""
    svc = service_of(request)
    _not_future(body.at)
    if svc.inline:
        st = svc.check_inline(body.subject, body.purpose, body.at, body.notice_version)
    else:
        st = await svc.ledger.acheck(body.subject, body.purpose, body.at,
                                     notice_version=body.notice_version)
    return _check_out(st)


@router.post("/consent/check-bulk", response_model=m.BulkCheckOut, tags=["consent"],
             **perm("consent.check"))
async def consent_check_bulk(request: Request, body: m.BulkCheckIn) -> m.BulkCheckOut:
    """Check up to 10,000 subjects against one purpose at once: a mask and a reason per subject,
    in the order given (null subjects get "no subject id")."""
    from veil.consent.models import REASONS

    svc = service_of(request)
    _not_future(body.at)

    def run() -> m.BulkCheckOut:
        snap = svc.ledger.snapshot(body.purpose, body.at, notice_version=body.notice_version)
        res = snap.check(body.subjects)
        return m.BulkCheckOut(purpose=body.purpose, at=format_us(snap.at_us) or "",
                              count=len(res), valid=res.valid,
                              mask=[bool(c == 0) for c in res.codes.tolist()],
                              reasons=[REASONS[c] for c in res.codes.tolist()],
                              counts=dict(res.counts()))

    return await run_in_threadpool(run)


@router.post("/consent/history", response_model=m.HistoryOut, tags=["consent"],
             **perm("consent.history"))
async def consent_history(request: Request, body: m.SubjectIn) -> m.HistoryOut:
    """The subject's consent events (all purposes, or one), in time order."""
    svc = service_of(request)
    await _known(svc, body.subject)
    events = await run_in_threadpool(svc.ledger.history, body.subject, body.purpose)
    return m.HistoryOut(subject_ref=svc.ledger.ref(body.subject),
                        events=[_event_out(svc, e) for e in events])


@router.post("/consent/receipt", response_model=dict[str, Any], tags=["consent"],
             **perm("consent.receipt"))
async def consent_receipt(request: Request, body: m.ReceiptIn) -> dict[str, Any]:
    """The subject's consent receipt: one record per purpose after ISO/IEC TS 27560 (for the
    subject's own copy; it names the subject, so it is returned, never logged)."""
    from veil.consent.interchange import subject_record

    svc = service_of(request)
    await _known(svc, body.subject)
    return await run_in_threadpool(subject_record, svc.ledger, body.subject)


__all__ = ["router"]

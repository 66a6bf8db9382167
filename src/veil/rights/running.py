"""Running a request: take the lease, run the planned steps (skipping those an earlier run
finished), then record the failure or the completion.

Steps are re-planned after each one (what ``locate`` finds decides the rest). Completion writes
the audit event first, then the status, result and the seal's removal in one transaction (a
rerun after a crash in between adds the event only if it is missing). An erasure completed under
a legal hold is run again once the hold has ended: the held data is then erased and the seal
dropped. That release also runs on such an erasure closed before the hold ended (closing one is
refused now, but older workspaces may hold some); it stays closed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from veil._actor import default_actor
from veil.errors import InputError, RunRefused, VeilError
from veil.rights.audit_trail import audit_request, audited
from veil.rights.context import StepContext
from veil.rights.lease import LeaseLost, new_owner, release_lease, take_lease
from veil.rights.records import RequestRecord
from veil.rights.steps import Step, plan_steps
from veil.store.schema import dsr_requests

if TYPE_CHECKING:
    from veil.rights.requests import Requests

__all__ = ["run_request"]

RUNNABLE = ("open", "failed", "running", "completed")
HELD = ("completed", "closed")  # an erasure holding data under a legal hold (see closing.py)


def run_request(reqs: Requests, request_id: str, *, actor: str | None, force: bool,
                lease_minutes: int) -> RequestRecord:
    """See :meth:`Requests.run`."""
    actor = actor or default_actor()
    rec = reqs.get(request_id)
    now = datetime.now(UTC)
    releasing = (rec.status in HELD and rec.hold_until is not None
                 and rec.hold_until <= now)
    if not releasing and (rec.status == "completed"
                          or (rec.status in HELD and rec.hold_until is not None)):
        return rec  # idempotent: nothing left to do (or not yet: the hold still runs)
    if rec.status not in RUNNABLE and not releasing:
        raise InputError(f"request {rec.id} is {rec.status}: only open or failed requests run")
    owner = new_owner()
    take_lease(reqs, rec, owner, now, force=force, lease_minutes=lease_minutes,
               releasing=releasing)
    ctx = _context(reqs, reqs.get(rec.id), actor, owner, releasing)
    try:
        ran, result = _run_steps(ctx)
    except BaseException as exc:
        _record_failure(ctx, exc)
        raise
    return _complete(ctx, ran, result)


def _context(reqs: Requests, rec: RequestRecord, actor: str, owner: str,
             releasing: bool) -> StepContext:
    """The run's shared state: the subject unsealed, what earlier runs finished or found."""
    pol = reqs.policy(rec.policy_path)
    try:
        payload = reqs.seals.unseal(rec.id, reqs.seals.stored(rec.id))
    except BaseException:
        release_lease(reqs.engine, rec.id, owner,
                      status=_settled(rec) if releasing else "failed")
        raise
    done = {s["step"]: s for s in rec.steps if s["status"] == "done"}
    state: dict[str, Any] = {name: s["detail"] for name, s in done.items()}
    prior = {s["step"]: (s["detail"] or {}).get("first_attempt") for s in rec.steps
             if s["status"] != "done" and (s["detail"] or {}).get("first_attempt")}
    return StepContext(reqs, pol, rec, payload["subject"], payload.get("details") or {},
                       actor, state, owner=owner, prior=prior, releasing=releasing,
                       hooks=reqs.hooks)


def _run_steps(ctx: StepContext) -> tuple[int, dict[str, Any]]:
    """Run the pending steps one by one; returns how many ran and the request's result."""
    ran = 0
    while True:  # re-planned after each step: what `locate` finds decides the rest
        pending = [(n, f) for n, f in plan_steps(ctx) if n not in ctx.state]
        if not pending:
            return ran, ctx.result()
        name, fn = pending[0]
        detail = _run_step(ctx, name, fn)
        ctx.state[name] = detail
        ran += 1
        if name not in ctx.recorded:
            ctx.requests._step(ctx.request.id, name, "done", detail, ctx.owner)


def _run_step(ctx: StepContext, name: str, fn: Step) -> dict[str, Any]:
    """One step; an unexpected error names the step and its type only (never its text,
    which may quote personal data)."""
    try:
        return fn(ctx)
    except VeilError:
        raise
    except Exception as exc:
        raise RunRefused(f"request {ctx.request.id}: step '{name}' failed: "
                         f"{type(exc).__name__}") from exc


def _record_failure(ctx: StepContext, exc: BaseException) -> None:
    """Mark the step and the request failed, release the lease, log it; a run that lost its
    lease records nothing (another run holds the request)."""
    rec, owner = ctx.request, ctx.owner
    assert owner is not None
    msg = exc.message if isinstance(exc, VeilError) else type(exc).__name__
    failed = next((n for n, _ in plan_steps(ctx) if n not in ctx.state), "run")
    if isinstance(exc, LeaseLost):
        return
    try:
        ctx.requests._step(rec.id, failed, "failed", {"error": msg[:500]}, owner)
        release_lease(ctx.requests.engine, rec.id, owner,
                      status=_settled(rec) if ctx.releasing else "failed", error=msg[:2000])
        audit_request(ctx.workspace, "dsr.run", rec, ctx.actor, outcome="failure",
                      details={"step": failed, "error": getattr(exc, "kind", "error")})
    except VeilError:
        pass  # the original error matters more


def _complete(ctx: StepContext, ran: int, result: dict[str, Any]) -> RequestRecord:
    """The audit event first, then status, result and seal in one transaction; a run that
    only finishes an interrupted completion adds the event only if it is missing."""
    rec, reqs = ctx.request, ctx.requests
    hold_until = ctx.hold_until()
    if ran or not audited(ctx.workspace, rec.id, "dsr.run"):
        audit_request(ctx.workspace, "dsr.run", rec, ctx.actor, counts=dict(ctx.counts),
                      details={"outcome": result.get("outcome"),
                               "hold_released": ctx.releasing or None},
                      categories=sorted(ctx.categories))
    values: dict[str, Any] = {"status": _settled(rec), "result": result, "error": None,
                              "lease_owner": None, "running_since": None,
                              "hold_until": hold_until}
    if rec.kind == "erasure" and hold_until is None:
        values["sealed"] = None  # the subject id is no longer needed: drop the seal
    with reqs.engine.begin() as conn:
        n = conn.execute(dsr_requests.update().where(
            dsr_requests.c.id == rec.id, dsr_requests.c.lease_owner == ctx.owner)
            .values(updated_at=datetime.now(UTC), **values)).rowcount
    if n != 1:
        raise LeaseLost(f"request {rec.id}: another run took it over before it completed")
    return reqs.get(rec.id)


def _settled(rec: RequestRecord) -> str:
    """The status a run leaves a request in once done: closed when it was closed before (the
    release of a closed held erasure), else completed."""
    return "closed" if rec.closed_at is not None else "completed"

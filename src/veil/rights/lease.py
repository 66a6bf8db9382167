"""The lease by which one run holds a request, and the step records that check it.

The status changes from open/failed to running in one compare-and-swap UPDATE, so two runs at
once cannot both act; a run killed mid-way leaves a lease another run takes over once it is
older than ``lease_minutes`` (or at once when forced); every step record checks the lease in
its own transaction, so a run that lost it stops.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import ConflictError, InProgressError
from veil.rights.records import RequestRecord, iso
from veil.store.schema import dsr_requests, dsr_steps

if TYPE_CHECKING:
    from veil.rights.requests import Requests

__all__ = ["LeaseLost", "new_owner", "record_step", "release_lease", "take_lease"]


class LeaseLost(ConflictError):
    """Another run took the request over (this one was presumed dead): stop, record nothing."""


def new_owner() -> str:
    """A lease owner naming this run: who, on which host, which process, and a nonce."""
    return (f"{default_actor()[:24]}@{os.uname().nodename[:20]}:{os.getpid()}:"
            f"{uuid.uuid4().hex[:8]}")


def take_lease(reqs: Requests, rec: RequestRecord, owner: str, now: datetime, *, force: bool,
               lease_minutes: int, releasing: bool) -> None:
    """Compare-and-swap to running; refuses a request another live run holds."""
    t = dsr_requests.c
    if releasing:
        cond = sa.and_(t.status.in_(["completed", "closed"]), t.hold_until.isnot(None),
                       t.hold_until <= now)
    else:
        stale = sa.and_(t.status == "running",
                        t.running_since < now - timedelta(minutes=lease_minutes))
        if force:
            stale = t.status == "running"
        cond = sa.or_(t.status.in_(["open", "failed"]), stale)
    with reqs.engine.begin() as conn:
        n = conn.execute(dsr_requests.update().where(t.id == rec.id, cond).values(
            status="running", lease_owner=owner, running_since=now, updated_at=now,
            error=None)).rowcount
    if n == 1:
        return
    cur = reqs.get(rec.id)
    if cur.status == "running":
        raise InProgressError(
            f"request {rec.id} is being run (since {iso(cur.running_since)}); if that run "
            f"was killed, rerun after {lease_minutes} minutes or with --force")
    if cur.status == "completed" and not releasing:
        raise ConflictError(f"request {rec.id} was completed by another run meanwhile")
    raise ConflictError(f"request {rec.id} is {cur.status}: only open or failed requests run")


def release_lease(engine: sa.Engine, request_id: str, owner: str, *, status: str,
                  error: str | None = None) -> None:
    """Give the request up (if this run still holds it) with the status it is left in."""
    with engine.begin() as conn:
        conn.execute(dsr_requests.update().where(
            dsr_requests.c.id == request_id, dsr_requests.c.lease_owner == owner).values(
            status=status, error=error, lease_owner=None, running_since=None,
            updated_at=datetime.now(UTC)))


def record_step(conn: sa.Connection, request_id: str, step: str, status: str,
                detail: dict[str, Any], owner: str | None) -> None:
    """Record a step in ``conn``'s transaction. The facts a "started" record holds are kept
    through failures; with ``owner`` the lease is checked first (LeaseLost: stop)."""
    s = dsr_steps
    now = datetime.now(UTC)
    if owner is not None:
        n = conn.execute(dsr_requests.update().where(
            dsr_requests.c.id == request_id, dsr_requests.c.lease_owner == owner)
            .values(updated_at=now)).rowcount
        if n != 1:
            raise LeaseLost(f"request {request_id}: another run took it over (lease lost);"
                            " this run stops")
    row = conn.execute(sa.select(s.c.attempts, s.c.detail, s.c.status).where(
        s.c.request_id == request_id, s.c.step == step)).first()
    if row is None:
        conn.execute(s.insert().values(request_id=request_id, step=step, status=status,
                                       attempts=1, at=now, detail=detail))
        return
    first = (row.detail or {}).get("first_attempt")
    if status != "done" and first is not None and "first_attempt" not in detail:
        detail = {**detail, "first_attempt": first}
    # a new attempt: anything after a failure, or starting again after a kill
    again = row.status == "failed" or (status == "started" and row.status == "started")
    conn.execute(s.update().where(s.c.request_id == request_id, s.c.step == step)
                 .values(status=status, attempts=row.attempts + (1 if again else 0), at=now,
                         detail=detail))

"""The Consent page's figures, aggregated in the store: coverage per purpose now, consents in
force at the end of each recent week, and grants, renewals, withdrawals and expiries per week.

Three statements, each one pass over a ledger table with ``GROUP BY`` (no rows come back to
Python): the state table for "now", the events for the weekly counts, and the events with a
window function (``LEAD`` over each subject's events of a purpose, in time order) for the
series. A grant or renewal opens a consent that lasts until the subject's next event or its
own expiry date, whichever comes first; a week's figure counts the consents open at its end.
The series does not apply notices that required re-consent (the "now" figures do); the page
says so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from veil.consent.models import from_us, to_us
from veil.store.schema import consent_events, consent_notices, consent_state
from veil.store.transactions import read_connection

WEEK_US = 7 * 86_400 * 1_000_000
KINDS = ("granted", "renewed", "withdrawn", "expired")
_FAR = 2**62  # "no end" for a consent without a next event or expiry


@dataclass(frozen=True)
class PurposeCoverage:
    """One purpose's consents now: of the subjects the ledger holds for it, how many hold a
    valid consent, and why the others do not."""

    purpose: str
    subjects: int
    valid: int
    withdrawn: int
    expired: int  # an expiry event, or an expiry date passed
    outdated: int  # given under a notice older than a re-consent notice in force

    @property
    def share(self) -> float | None:
        return self.valid / self.subjects if self.subjects else None


@dataclass(frozen=True)
class ConsentFigures:
    """What the page draws. ``weeks`` are the week ends (oldest first); ``in_force[p][i]`` the
    consents to purpose ``p`` open at ``weeks[i]``; ``activity[p][kind][i]`` the events of a
    kind in the week ending at ``weeks[i]``."""

    at: datetime
    purposes: list[PurposeCoverage]
    weeks: list[datetime]
    in_force: dict[str, list[int]]
    activity: dict[str, dict[str, list[int]]]
    events: int  # events in the ledger (the size the figures were computed over)
    seconds: float = field(default=0.0, compare=False)  # how long the computation took


def week_ends(at: datetime, weeks: int) -> list[datetime]:
    """``weeks`` week ends, oldest first, the last one ``at`` (weeks of 7 days back from now)."""
    return [at - timedelta(days=7 * (weeks - 1 - i)) for i in range(weeks)]


def _coverage(conn: sa.Connection, at_us: int) -> list[PurposeCoverage]:
    s, n = consent_state.c, consent_notices.c
    req = (sa.select(n.purpose, sa.func.max(n.seq).label("req"))
           .where(n.reconsent.is_(True), n.effective_us <= at_us)
           .group_by(n.purpose).subquery())
    open_ = sa.and_(s.status == "granted",
                    sa.or_(s.expires_us.is_(None), s.expires_us > at_us))
    lapsed = sa.or_(s.status == "expired",
                    sa.and_(s.status == "granted", s.expires_us <= at_us))
    outdated = sa.and_(open_, sa.func.coalesce(s.notice_seq, 0) < sa.func.coalesce(req.c.req, 0))
    q = (sa.select(s.purpose, sa.func.count().label("subjects"),
                   _sum(s.status == "withdrawn").label("withdrawn"),
                   _sum(lapsed).label("expired"), _sum(outdated).label("outdated"))
         .select_from(consent_state.outerjoin(req, req.c.purpose == s.purpose))
         .group_by(s.purpose).order_by(s.purpose))
    out = []
    for r in conn.execute(q):
        valid = r.subjects - r.withdrawn - r.expired - r.outdated
        out.append(PurposeCoverage(r.purpose, r.subjects, valid, r.withdrawn, r.expired,
                                   r.outdated))
    return out


def _sum(cond: Any) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, 1), else_=0)), 0)


def _activity(conn: sa.Connection, ends: list[int]) -> dict[str, dict[str, list[int]]]:
    e = consent_events.c
    start = ends[0] - WEEK_US
    bucket = ((e.time_us - start - 1) // WEEK_US).label("b")  # (end - 7 days, end] -> index
    q = (sa.select(e.purpose, e.kind, bucket, sa.func.count().label("n"))
         .where(e.time_us > start, e.time_us <= ends[-1])
         .group_by(e.purpose, e.kind, bucket))
    out: dict[str, dict[str, list[int]]] = {}
    for r in conn.execute(q):
        per = out.setdefault(r.purpose, {k: [0] * len(ends) for k in KINDS})
        if r.kind in per and 0 <= int(r.b) < len(ends):
            per[r.kind][int(r.b)] += int(r.n)
    return out


def _in_force(conn: sa.Connection, ends: list[int]) -> dict[str, list[int]]:
    e = consent_events.c
    nxt = sa.func.lead(e.time_us).over(partition_by=(e.purpose, e.subject),
                                       order_by=(e.time_us, e.seq))
    spans = sa.select(e.purpose, e.kind, e.time_us.label("opened"), nxt.label("nxt"),
                      e.expires_us.label("expires")).subquery()
    c = spans.c
    nxt_or_far = sa.func.coalesce(c.nxt, _FAR)
    exp_or_far = sa.func.coalesce(c.expires, _FAR)
    closes = sa.case((nxt_or_far < exp_or_far, nxt_or_far), else_=exp_or_far)
    cols = [_sum(sa.and_(c.opened <= t, closes > t)).label(f"w{i}") for i, t in enumerate(ends)]
    q = (sa.select(c.purpose, *cols).where(c.kind.in_(("granted", "renewed")))
         .group_by(c.purpose))
    return {r.purpose: [int(r[i + 1]) for i in range(len(ends))] for r in conn.execute(q)}


def consent_figures(engine: sa.Engine, *, at: datetime | None = None,
                    weeks: int = 12) -> ConsentFigures:
    """The Consent page's figures at ``at`` (default now) over the last ``weeks`` weeks."""
    t0 = time.perf_counter()
    at = (at or datetime.now(UTC)).astimezone(UTC)
    at_us = to_us(at)
    ends = [to_us(w) for w in week_ends(at, weeks)]
    with read_connection(engine, "reading the consent figures") as conn:
        events = conn.execute(sa.select(sa.func.max(consent_events.c.seq))).scalar()
        purposes = _coverage(conn, at_us)
        activity = _activity(conn, ends)
        in_force = _in_force(conn, ends)
    for p in purposes:
        in_force.setdefault(p.purpose, [0] * weeks)
        activity.setdefault(p.purpose, {k: [0] * weeks for k in KINDS})
    return ConsentFigures(at=at, purposes=purposes, weeks=[from_us(t) for t in ends],
                          in_force=in_force, activity=activity, events=int(events or 0),
                          seconds=time.perf_counter() - t0)


__all__ = ["KINDS", "WEEK_US", "ConsentFigures", "PurposeCoverage", "consent_figures",
           "week_ends"]

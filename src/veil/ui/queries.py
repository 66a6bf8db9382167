"""The store queries behind the pages' lists and counts: aggregated in SQL (COUNT, GROUP BY,
ORDER BY ... LIMIT on indexed columns), so a page costs the same with a million rows as with ten.

Why here and not the library's list functions: those return every matching record (the CLI
prints them all, the REST API answers them all); a page shows counts and the first rows. The
writes, and a single record's full view, go through the library (``veil.rights``,
``veil.incidents``, ...), so its rules and audit events apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from veil.store.schema import (
    audit_heads,
    audit_state,
    breach_notifications,
    breaches,
    consent_state,
    decision_events,
    decisions,
    dsr_requests,
    retention_outputs,
)

OPEN_REQUESTS = ("open", "running", "failed")
SHOWN = 10  # rows of each list on Today


@dataclass(frozen=True)
class Window:
    now: datetime
    due_soon_days: int = 7
    horizon_days: int = 30  # consents and retention coming up

    @property
    def soon(self) -> datetime:
        return self.now + timedelta(days=self.due_soon_days)

    @property
    def horizon(self) -> datetime:
        return self.now + timedelta(days=self.horizon_days)

    def us(self, t: datetime) -> int:
        return int(t.timestamp() * 1_000_000)


def requests_due(conn: sa.Connection, w: Window) -> dict[str, Any]:
    """Open requests overdue or due within ``due_soon_days``: counts and the soonest."""
    t = dsr_requests.c
    is_open = t.status.in_(OPEN_REQUESTS)
    counts = conn.execute(sa.select(
        sa.func.count().filter(t.due_at < w.now),
        sa.func.count().filter(t.due_at >= w.now, t.due_at <= w.soon),
        sa.func.count()).where(is_open)).one()
    rows = conn.execute(sa.select(t.id, t.kind, t.status, t.received_at, t.due_at)
                        .where(is_open, t.due_at <= w.soon)
                        .order_by(t.due_at, t.id).limit(SHOWN)).all()
    return {"overdue": counts[0], "due_soon": counts[1], "open": counts[2],
            "rows": [dict(r._mapping) for r in rows]}


def breach_clocks(conn: sa.Connection) -> dict[str, Any]:
    """Open breaches whose authority notification is still to be sent (decision not 'none'),
    earliest awareness (so earliest deadline) first, and the count of open breaches."""
    b, n = breaches.c, breach_notifications.c
    notified = sa.select(n.breach_id).where(n.recipient == "authority")
    waiting = sa.and_(b.status == "open", sa.or_(b.decision.is_(None), b.decision != "none"),
                      b.id.not_in(notified))
    total, unsent = conn.execute(sa.select(sa.func.count(), sa.func.count().filter(waiting))
                                 .where(b.status == "open")).one()
    rows = conn.execute(sa.select(b.id, b.title, b.aware_at, b.decision).where(waiting)
                        .order_by(b.aware_at, b.id).limit(SHOWN)).all()
    return {"open": total, "unnotified": unsent, "rows": [dict(r._mapping) for r in rows]}


def contested_decisions(conn: sa.Connection, w: Window) -> dict[str, Any]:
    """Decisions contested and not yet reviewed (Art. 22(3)), with the review due dates."""
    d, e = decisions.c, decision_events.c
    reviewed = sa.select(e.decision_id).where(e.kind == "review")
    q = (sa.select(e.decision_id, sa.func.min(e.due).label("due"))
         .where(e.kind == "contest", e.decision_id.not_in(reviewed))
         .group_by(e.decision_id).subquery())
    joined = sa.select(q.c.decision_id, q.c.due, d.purpose, d.outcome).join(
        decisions, d.id == q.c.decision_id).where(d.final_of.is_(None))
    sub = joined.subquery()
    count, overdue = conn.execute(sa.select(sa.func.count(),
                                            sa.func.count().filter(sub.c.due < w.now))).one()
    rows = conn.execute(sa.select(sub).order_by(sub.c.due, sub.c.decision_id)
                        .limit(SHOWN)).all()
    return {"waiting": count, "overdue": overdue, "rows": [dict(r._mapping) for r in rows]}


def retention_due(conn: sa.Connection, w: Window) -> dict[str, Any]:
    """Outputs past their retention (not yet disposed of) and those expiring within the
    horizon."""
    t = retention_outputs.c
    live = t.state != "done"
    due, coming = conn.execute(sa.select(
        sa.func.count().filter(t.expires_at <= w.now),
        sa.func.count().filter(t.expires_at > w.now, t.expires_at <= w.horizon))
        .where(live)).one()
    rows = conn.execute(sa.select(t.run_id, t.purpose, t.expires_at, t.state, t.hold_reason)
                        .where(live, t.expires_at <= w.horizon)
                        .order_by(t.expires_at, t.run_id).limit(SHOWN)).all()
    return {"due": due, "coming": coming, "rows": [dict(r._mapping) for r in rows]}


def consents_expiring(conn: sa.Connection, w: Window) -> dict[str, Any]:
    """Granted consents that lapse within the horizon, per purpose."""
    t = consent_state.c
    rows = conn.execute(sa.select(t.purpose, sa.func.count().label("n"),
                                  sa.func.min(t.expires_us).label("first"))
                        .where(t.status == "granted", t.expires_us > w.us(w.now),
                               t.expires_us <= w.us(w.horizon))
                        .group_by(t.purpose).order_by(t.purpose)).all()
    return {"total": sum(r.n for r in rows), "rows": [dict(r._mapping) for r in rows]}


def audit_heads_now(conn: sa.Connection) -> dict[str, Any]:
    """The log's size and its latest signed head (size and time)."""
    size = conn.execute(sa.select(audit_state.c.size).where(audit_state.c.id == 1)).scalar()
    head = conn.execute(sa.select(audit_heads.c.size, audit_heads.c.timestamp)
                        .order_by(audit_heads.c.size.desc()).limit(1)).first()
    return {"size": int(size or 0), "signed_size": head.size if head else None,
            "signed_at": head.timestamp if head else None}


def now_utc() -> datetime:
    return datetime.now(UTC)




# -- lists ---------------------------------------------------------------------------------

PAGE_SIZE = 50


def request_list(conn: sa.Connection, w: Window, *, status: str | None, page: int
                 ) -> dict[str, Any]:
    """One page of requests, overdue first, then by due date; counts per status."""
    t = dsr_requests.c
    counts = dict(conn.execute(sa.select(t.status, sa.func.count()).group_by(t.status)).all())
    where = [t.status == status] if status else [t.status.in_([*OPEN_REQUESTS, "completed"])]
    total = conn.execute(sa.select(sa.func.count()).where(*where)).scalar() or 0
    overdue_first = sa.case((sa.and_(t.status.in_(OPEN_REQUESTS), t.due_at < w.now), 0),
                            else_=1)
    rows = conn.execute(sa.select(t.id, t.kind, t.status, t.received_at, t.due_at,
                                  t.extended_months, t.closed_at)
                        .where(*where).order_by(overdue_first, t.due_at, t.id)
                        .limit(PAGE_SIZE).offset(page * PAGE_SIZE)).all()
    return {"counts": counts, "total": total, "rows": [dict(r._mapping) for r in rows]}


def breach_list(conn: sa.Connection, *, status: str | None, page: int) -> dict[str, Any]:
    """One page of the breach register, newest first; counts per status, and the first
    authority notification of each breach shown."""
    b, n = breaches.c, breach_notifications.c
    counts = dict(conn.execute(sa.select(b.status, sa.func.count()).group_by(b.status)).all())
    where = [b.status == status] if status else []
    total = conn.execute(sa.select(sa.func.count()).select_from(breaches).where(*where)
                         ).scalar() or 0
    rows = conn.execute(sa.select(b.id, b.title, b.status, b.aware_at, b.decision,
                                  b.occurred_at).where(*where).order_by(b.id.desc())
                        .limit(PAGE_SIZE).offset(page * PAGE_SIZE)).all()
    ids = [r.id for r in rows]
    first = dict(conn.execute(sa.select(n.breach_id, sa.func.min(n.sent_at))
                              .where(n.breach_id.in_(ids), n.recipient == "authority")
                              .group_by(n.breach_id)).all()) if ids else {}
    return {"counts": counts, "total": total,
            "rows": [{**dict(r._mapping), "notified_at": first.get(r.id)} for r in rows]}


__all__ = ["OPEN_REQUESTS", "PAGE_SIZE", "SHOWN", "Window", "audit_heads_now", "breach_clocks",
           "breach_list", "consents_expiring", "contested_decisions", "now_utc", "request_list",
           "requests_due", "retention_due"]

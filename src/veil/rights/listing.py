"""Finding requests: one by id (or a unique prefix), or the list a DPO works through,
overdue and due-soon requests first."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from veil.errors import InputError, NotFoundError
from veil.rights.package_state import package_state
from veil.rights.records import OPEN_STATES, STATUSES, RequestRecord, iso, record_from_row
from veil.store.schema import dsr_requests, dsr_steps

__all__ = ["URGENCY_RANK", "get_request", "list_requests"]

# Order of the list: what needs acting now (0), soon (1), the rest (2).
URGENCY_RANK = {"overdue": 0, "hold ended: run again": 0, "due soon": 1, "legal hold": 2,
                "": 2}


def get_request(engine: sa.Engine, request_id: str) -> RequestRecord:
    """One request with its recorded steps (id or a unique prefix of 4+ characters)."""
    rid = str(request_id).strip().lower()
    t, s = dsr_requests, dsr_steps
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.id == rid)).all()
        if not rows and len(rid) >= 4 and rid.isalnum():
            rows = conn.execute(sa.select(t).where(t.c.id.like(rid + "%"))).all()
        if not rows:
            raise NotFoundError(f"no request '{request_id}' (see `veil dsr list`)")
        if len(rows) > 1:
            raise InputError(f"request id prefix '{request_id}' is ambiguous")
        steps = [{"step": r.step, "status": r.status, "attempts": r.attempts,
                  "at": iso(r.at), "detail": r.detail}
                 for r in conn.execute(sa.select(s).where(s.c.request_id == rows[0].id)
                                       .order_by(s.c.at, s.c.step))]
    rec = record_from_row(rows[0], steps)
    detail = next((s["detail"] for s in steps if s["step"] == "package"), None)
    rec.package = package_state(rec.kind, rec.result, detail)
    return rec


def list_requests(engine: sa.Engine, *, status: str | None, include_closed: bool,
                  subject_token: str | None, due_soon_days: int) -> list[RequestRecord]:
    """Requests, overdue first, then due soon, then by due date; closed ones only with
    ``include_closed`` (or ``status``)."""
    t = dsr_requests
    q = sa.select(t)
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status '{status}' (known: {', '.join(STATUSES)})")
    if status is not None:
        q = q.where(t.c.status == status)
    elif not include_closed:  # and those still holding data under a legal hold
        q = q.where(sa.or_(t.c.status.in_([*OPEN_STATES, "completed"]),
                           t.c.hold_until.isnot(None)))
    if subject_token is not None:
        q = q.where(t.c.subject == subject_token)
    with engine.connect() as conn:
        recs = [record_from_row(r) for r in conn.execute(q)]
        packaged = [r.id for r in recs if r.kind in ("access", "portability") and r.result]
        details = dict(conn.execute(sa.select(dsr_steps.c.request_id, dsr_steps.c.detail).where(
            dsr_steps.c.step == "package", dsr_steps.c.request_id.in_(packaged))).all()
            ) if packaged else {}
    for r in recs:
        r.package = package_state(r.kind, r.result, details.get(r.id))
    now = datetime.now(UTC)

    def key(r: RequestRecord) -> tuple[bool, int, datetime, str]:
        rank = URGENCY_RANK[r.urgency(now, due_soon_days)]
        return (r.status not in OPEN_STATES and rank != 0, rank, r.due_at, r.id)

    return sorted(recs, key=key)

"""Subjects left out of runs: erased (all purposes), restricted (Art. 18: the purposes concerned)
and objecting (Art. 21: purposes based on legitimate interests or public task).

Exclusions are stored by the subject's keyed pseudonym only (``rights_exclusions``), so an
erased subject's id is never kept in clear, and per request: each restriction or objection
lifts only its own. The run applies them in its ``rights`` stage
(:mod:`veil.pipeline.stages.rights`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.store.schema import rights_exclusions

ALL = "*"
REASONS = {
    "erased": "excluded: subject erased (Art. 17)",
    "restricted": "excluded: processing restricted (Art. 18)",
    "objected": "excluded: subject objected (Art. 21)",
}
_ORDER = ("erased", "restricted", "objected")


def active_exclusions(conn: sa.Connection, purpose: str) -> dict[str, str]:
    """pseudonym -> reason of every active exclusion that applies to ``purpose``."""
    t = rights_exclusions.c
    rows = conn.execute(sa.select(t.subject, t.reason).where(
        t.lifted_at.is_(None), t.purpose.in_([purpose, ALL]))).all()
    out: dict[str, str] = {}
    for s, r in rows:
        cur = out.get(s)
        if cur is None or _ORDER.index(r) < _ORDER.index(cur):
            out[s] = r
    return out


def add_exclusions(conn: sa.Connection, subject: str, reason: str, purposes: list[str],
                   request_id: str | None, note: str | None = None) -> list[str]:
    """Add (or re-activate) one request's exclusions; returns the purposes newly excluded.
    Idempotent. Exclusions are kept per request, so lifting one request never lifts another's
    (a subject restricted twice stays restricted until both are lifted); ``None`` (an
    exclusion made outside a request) is kept under the empty request id."""
    t = rights_exclusions
    now = datetime.now(UTC)
    request_id = request_id or ""
    added = []
    for p in purposes:
        key = (t.c.subject == subject, t.c.reason == reason, t.c.purpose == p,
               t.c.request_id == request_id)
        row = conn.execute(sa.select(t.c.lifted_at).where(*key)).first()
        if row is None:
            conn.execute(t.insert().values(subject=subject, reason=reason, purpose=p,
                                           request_id=request_id, since=now, note=note))
            added.append(p)
        elif row.lifted_at is not None:
            conn.execute(t.update().where(*key).values(lifted_at=None, since=now, note=note))
            added.append(p)
    return added


def lift_exclusions(conn: sa.Connection, request_id: str) -> list[str]:
    """Lift the active exclusions one request made; returns their purposes. Exclusions of
    other requests (the same subject restricted or objecting again) stay."""
    t = rights_exclusions
    q = sa.select(t.c.purpose).where(t.c.request_id == request_id, t.c.lifted_at.is_(None))
    lifted = sorted(set(conn.execute(q).scalars()))
    if lifted:
        conn.execute(t.update().where(t.c.request_id == request_id, t.c.lifted_at.is_(None))
                     .values(lifted_at=datetime.now(UTC)))
    return lifted


def request_exclusions(conn: sa.Connection, request_id: str) -> list[str]:
    """The purposes one request still excludes (active)."""
    t = rights_exclusions
    return sorted(set(conn.execute(sa.select(t.c.purpose).where(
        t.c.request_id == request_id, t.c.lifted_at.is_(None))).scalars()))


def subject_exclusions(conn: sa.Connection, subject: str) -> list[dict[str, Any]]:
    t = rights_exclusions
    rows = conn.execute(sa.select(t).where(t.c.subject == subject)
                        .order_by(t.c.since, t.c.purpose)).all()
    return [{"reason": r.reason, "purpose": r.purpose, "request": r.request_id or None,
             "since": _iso(r.since), "lifted_at": _iso(r.lifted_at) if r.lifted_at else None,
             "note": r.note} for r in rows]


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")

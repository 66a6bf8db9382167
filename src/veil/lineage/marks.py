"""Marks: an output or a model holds a subject who was erased, withdrew consent, objected or
was restricted, and what was done about it.

One row per (output or model, subject pseudonym, reason), written idempotently, so running the
same propagation twice marks nothing twice. An output mark is resolved when the output was
purged or rebuilt without the subject; a model mark (action ``retrain``) stays until the model
is retired: `flagged_models` counts each model's distinct affected subjects for
``veil lineage models``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["REASONS", "flagged_models", "mark", "marks_of", "pending", "resolve"]

REASONS = ("erased", "withdrawn", "objected", "restricted")


def _table() -> sa.Table:
    from veil.store.schema import lineage_marks

    return lineage_marks


def mark(conn: sa.Connection, kind: str, target: str, subjects: Iterable[str], reason: str, *,
         source: str, action: str, at: datetime | None = None) -> int:
    """Mark ``target`` (an output's run id or a model name) as holding ``subjects``
    (pseudonyms); returns how many marks were new. Idempotent."""
    t = _table()
    at = at or datetime.now(UTC)
    new = 0
    for s in subjects:
        key = (t.c.kind == kind, t.c.target == target, t.c.subject == s, t.c.reason == reason)
        if conn.execute(sa.select(t.c.action).where(*key)).first() is None:
            conn.execute(t.insert().values(kind=kind, target=target, subject=s, reason=reason,
                                           source=source[:160], action=action, marked_at=at))
            new += 1
        else:
            conn.execute(t.update().where(*key).values(action=action))
    return new


def resolve(conn: sa.Connection, kind: str, target: str, note: str,
            at: datetime | None = None) -> int:
    """The target no longer holds its marked subjects (purged, or rebuilt without them)."""
    t = _table()
    return int(conn.execute(t.update().where(
        t.c.kind == kind, t.c.target == target, t.c.resolved_at.is_(None))
        .values(resolved_at=at or datetime.now(UTC), note=note[:500])).rowcount)


def flagged_models(conn: sa.Connection) -> dict[str, int]:
    """model name -> distinct subjects it was trained on that must no longer be in it."""
    t = _table()
    q = (sa.select(t.c.target, sa.func.count(sa.distinct(t.c.subject)))
         .where(t.c.kind == "model", t.c.resolved_at.is_(None)).group_by(t.c.target))
    return {m: int(n) for m, n in conn.execute(q)}


def marks_of(conn: sa.Connection, kind: str, target: str) -> list[dict[str, Any]]:
    """A target's marks by pseudonym (no subject ids anywhere)."""
    t = _table()
    rows = conn.execute(sa.select(t).where(t.c.kind == kind, t.c.target == target)
                        .order_by(t.c.marked_at, t.c.subject)).all()
    return [{"subject": r.subject, "reason": r.reason, "source": r.source,
             "action": r.action, "marked_at": r.marked_at.isoformat(),
             "resolved_at": r.resolved_at.isoformat() if r.resolved_at else None,
             "note": r.note} for r in rows]


def pending(conn: sa.Connection, subject: str, source: str) -> list[tuple[str, str, datetime]]:
    """(run id, action, marked at) of the subject's output marks from ``source`` that asked
    for a purge or a rebuild and are not resolved yet (an interrupted propagation)."""
    t = _table()
    rows = conn.execute(sa.select(t.c.target, t.c.action, t.c.marked_at).where(
        t.c.kind == "output", t.c.subject == subject, t.c.source == source[:160],
        t.c.resolved_at.is_(None), t.c.action.in_(["purge", "rebuild"]))
        .order_by(t.c.marked_at, t.c.target)).all()
    return [(r.target, r.action, r.marked_at) for r in rows]

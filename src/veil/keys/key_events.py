"""Reading the key store's own event table (what `veil keys events` and `veil keys show` list)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.store.schema import key_events
from veil.store.transactions import read_connection

__all__ = ["read_key_events"]


def read_key_events(engine: sa.Engine, keyset: str | None = None,
                    limit: int | None = 100) -> list[dict[str, Any]]:
    """Recorded key operations, newest first (one keyset's when ``keyset`` is given)."""
    q = sa.select(key_events).order_by(key_events.c.id.desc())
    if keyset is not None:
        q = q.where(key_events.c.keyset == keyset)
    if limit is not None:
        q = q.limit(limit)
    with read_connection(engine, "reading key events") as conn:
        rows = conn.execute(q).all()
    return [
        {"id": r.id, "time": _iso(r.time), "actor": r.actor, "op": r.op, "keyset": r.keyset,
         "key_id": r.key_id, "kek_id": r.kek_id,
         "detail": json.loads(r.detail) if r.detail else None}
        for r in rows
    ]


def _iso(t: datetime | None) -> str | None:
    if t is None:
        return None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return t.isoformat().replace("+00:00", "Z")

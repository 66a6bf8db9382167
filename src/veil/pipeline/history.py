"""Past runs, as recorded in the store."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from veil.errors import InputError, NotFoundError
from veil.store.schema import runs
from veil.store.workspace import Workspace


def _row(r: sa.Row) -> dict[str, Any]:
    d = dict(r._mapping)
    for k in ("started_at", "finished_at"):
        if d[k] is not None:
            d[k] = d[k].isoformat()
    return d


def list_runs(ws: Workspace, limit: int = 20) -> list[dict[str, Any]]:
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(runs).order_by(runs.c.started_at.desc()).limit(limit))
        return [_row(r) for r in rows]


def get_run(ws: Workspace, run_id: str) -> dict[str, Any]:
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(runs).where(
            runs.c.id.startswith(run_id, autoescape=True)).limit(2)).all()
    if not rows:
        raise NotFoundError(f"no run with id '{run_id[:40]}' (see `veil runs list`)")
    if len(rows) > 1 or not run_id:
        raise InputError(f"run id prefix '{run_id[:40]}' is ambiguous: give more characters")
    return _row(rows[0])

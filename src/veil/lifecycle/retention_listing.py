"""What is kept and until when: every output's expiry, whether it is due, held or disposed of."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa

from veil.lifecycle.retention_records import OutputRetention, parse_now, retention_of
from veil.store.schema import retention_outputs
from veil.store.transactions import read_connection

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["retention_status"]


def retention_status(ws: Workspace, now: datetime | str | None = None, *, due: bool = False,
                     include_disposed: bool = False) -> list[OutputRetention]:
    """Outputs by expiry, soonest first; ``due``: only those expired (held ones included,
    flagged) or part way through a disposal; disposed ones only with ``include_disposed``.
    ``now`` (default the clock) is what "expired" is judged against."""
    t = retention_outputs
    at = parse_now(now)
    q = sa.select(t).order_by(t.c.expires_at, t.c.run_id)
    if due:
        q = q.where(t.c.state != "done", sa.or_(t.c.expires_at <= at, t.c.state != "live"))
    elif not include_disposed:
        q = q.where(t.c.state != "done")
    with read_connection(ws.ready().engine, "reading retention records") as conn:
        return [retention_of(r) for r in conn.execute(q)]

"""Reading stored events by their filter columns, a page at a time (memory stays bounded)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from veil.audit.event import format_time
from veil.audit.storage import READING, LoggedEvent, leaf_select, logged
from veil.errors import AuditInputError
from veil.store.schema import audit_leaves
from veil.store.transactions import read_connection


@dataclass(frozen=True)
class EventFilter:
    """Which events to read: each given field must match (``action`` may end with ``*`` to match
    a prefix); ``since``/``until`` bound the event time (inclusive/exclusive)."""

    action: str | None = None
    actor: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    since: datetime | str | None = None
    until: datetime | str | None = None

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        c = audit_leaves.c
        conds: list[sa.ColumnElement[bool]] = []
        for col, value in (
            (c.action, self.action),
            (c.actor, self.actor),
            (c.purpose, self.purpose),
            (c.outcome, self.outcome),
        ):
            if value is None:
                continue
            if value.endswith("*"):
                prefix = value[:-1]
                conds.append(sa.func.substr(col, 1, len(prefix)) == prefix)
            else:
                conds.append(col == value)
        if self.since is not None:
            conds.append(c.time >= time_bound(self.since))
        if self.until is not None:
            conds.append(c.time < time_bound(self.until))
        return conds


def time_bound(value: datetime | str) -> str:
    """An ISO date or date-time (UTC unless it says otherwise) in the log's time format."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_time(value)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditInputError(f"time {value[:40]!r} is not an ISO date or date-time") from None
    return time_bound(dt)


def iter_events(
    engine: sa.Engine,
    where: EventFilter,
    *,
    start: int = 0,
    newest_first: bool = False,
    limit: int | None = None,
    page_size: int = 1000,
) -> Iterator[LoggedEvent]:
    """Stored events matching ``where``, by index from ``start`` (``newest_first`` reverses)."""
    c = audit_leaves.c
    conds = where.conditions()
    cursor: int | None = None
    left = limit
    while left is None or left > 0:
        page = page_size if left is None else min(page_size, left)
        q = leaf_select().where(*conds)
        if newest_first:
            if cursor is not None:
                q = q.where(c.idx < cursor)
            q = q.order_by(c.idx.desc())
        else:
            q = q.where(c.idx >= (start if cursor is None else cursor + 1))
            q = q.order_by(c.idx)
        with read_connection(engine, READING) as conn:
            rows = conn.execute(q.limit(page)).all()
        for row in rows:
            yield logged(row)
        if len(rows) < page:
            return
        cursor = rows[-1][0]
        if left is not None:
            left -= len(rows)

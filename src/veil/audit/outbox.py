"""Forwarding events to sinks through the outbox (``audit_outbox``), at least once.

The append queues one row per (sink, event) in its own transaction; :meth:`Outbox.deliver` claims
due rows under a lease (so a concurrent delivery skips them), sends them, and deletes them when
the sink has them, or reschedules them with exponential backoff. A crash between sending and
deleting resends them later: delivery is at least once, never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from veil.audit.event import format_time
from veil.audit.sinks import Sink, SinkRecord
from veil.store.schema import audit_leaves, audit_outbox
from veil.store.transactions import read_connection, write_transaction


@dataclass(frozen=True)
class DeliveryReport:
    """One :meth:`AuditLog.deliver` pass: per sink, events delivered and failures."""

    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # sink -> last error (no event data)
    pending: dict[str, int] = field(default_factory=dict)  # what is left in the outbox


@dataclass(frozen=True)
class Backoff:
    """Retry delays: ``base * 2**(attempts-1)`` seconds, at most ``max`` seconds."""

    base: float = 1.0
    max: float = 3600.0

    def delay(self, attempts: int) -> float:
        return min(self.max, self.base * 2 ** (attempts - 1))


def _record(origin: str, row: Any) -> SinkRecord:
    return SinkRecord(
        origin=origin,
        idx=int(row[1]),
        event=bytes(row[3]),
        leaf_hash=bytes(row[4]),
        time=row[5],
        action=row[6],
        actor=row[7],
        purpose=row[8],
        outcome=row[9],
    )


class Outbox:
    """The outbox of one log's store, delivered to its sinks with ``backoff`` between retries."""

    def __init__(self, engine: sa.Engine, backoff: Backoff) -> None:
        self.engine = engine
        self.backoff = backoff

    def deliver(
        self,
        sinks: Sequence[Sink],
        origin: str,
        *,
        now: datetime | None = None,
        batch_size: int = 500,
        max_batches: int | None = None,
        lease: float = 300.0,
    ) -> DeliveryReport:
        """Forward due items to ``sinks``; never raises for a sink that is down.

        Per sink: claim up to ``batch_size`` due items (their ``next_attempt`` is pushed
        ``lease`` seconds ahead), send them, delete them on success; on failure reschedule them
        with backoff and keep the error.
        """
        now = now or datetime.now(UTC)
        report = DeliveryReport()
        for sink in sinks:
            report.delivered[sink.name] = 0
            batches = 0
            while max_batches is None or batches < max_batches:
                batches += 1
                if not self._deliver_batch(sink, origin, now, batch_size, lease, report):
                    break
        report.pending.update(self.pending())
        return report

    def _deliver_batch(
        self,
        sink: Sink,
        origin: str,
        now: datetime,
        batch_size: int,
        lease: float,
        report: DeliveryReport,
    ) -> bool:
        """One claimed batch sent to ``sink``; True when a full batch went through (more may be
        due). A failure ends the sink's pass: it is not tried again until its items are due."""
        claimed = self._claim(sink.name, now, batch_size, lease)
        if not claimed:
            return False
        records = [_record(origin, r) for r in claimed]
        try:
            sink.send(records)
        except Exception as exc:  # a sink's failure must never lose or block events
            err = f"{type(exc).__name__}: {exc}"[:300]
            report.failed[sink.name] = err
            self._reschedule(claimed, now, err)
            return False
        self._done([r[0] for r in claimed])
        report.delivered[sink.name] += len(records)
        return len(claimed) >= batch_size

    def _claim(self, sink: str, now: datetime, limit: int, lease: float) -> list[Any]:
        o, lv = audit_outbox.c, audit_leaves.c
        due = format_time(now)
        with write_transaction(self.engine, "claiming outbox items", durable=True) as conn:
            q = (
                sa.select(
                    o.id,
                    o.idx,
                    o.attempts,
                    lv.event,
                    lv.leaf_hash,
                    lv.time,
                    lv.action,
                    lv.actor,
                    lv.purpose,
                    lv.outcome,
                )
                .join(audit_leaves, lv.idx == o.idx)
                .where(o.sink == sink, o.next_attempt <= due)
                .order_by(o.idx)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                q = q.with_for_update(of=audit_outbox, skip_locked=True)
            rows = list(conn.execute(q).all())
            if rows:
                conn.execute(
                    audit_outbox.update()
                    .where(o.id.in_([r[0] for r in rows]))
                    .values(next_attempt=format_time(now + timedelta(seconds=lease)))
                )
        return rows

    def _reschedule(self, rows: Sequence[Any], now: datetime, err: str) -> None:
        o = audit_outbox.c
        by_attempts: dict[int, list[int]] = {}
        for r in rows:
            by_attempts.setdefault(int(r[2]) + 1, []).append(r[0])
        with write_transaction(self.engine, "rescheduling outbox items", durable=True) as conn:
            for attempts, ids in by_attempts.items():
                delay = self.backoff.delay(attempts)
                conn.execute(
                    audit_outbox.update()
                    .where(o.id.in_(ids))
                    .values(
                        attempts=attempts,
                        last_error=err,
                        next_attempt=format_time(now + timedelta(seconds=delay)),
                    )
                )

    def _done(self, ids: Sequence[int]) -> None:
        doing = "clearing delivered outbox items"
        with write_transaction(self.engine, doing, durable=True) as conn:
            conn.execute(audit_outbox.delete().where(audit_outbox.c.id.in_(list(ids))))

    def pending(self) -> dict[str, int]:
        """How many events wait in the outbox, per sink name (configured or not)."""
        o = audit_outbox.c
        with read_connection(self.engine, "reading the outbox") as conn:
            rows = conn.execute(sa.select(o.sink, sa.func.count()).group_by(o.sink)).all()
        return {str(s): int(n) for s, n in rows}

    def status(self) -> list[dict[str, Any]]:
        """Per sink: pending count, most attempts, next attempt and last error."""
        o = audit_outbox.c
        with read_connection(self.engine, "reading the outbox") as conn:
            rows = conn.execute(
                sa.select(
                    o.sink,
                    sa.func.count(),
                    sa.func.max(o.attempts),
                    sa.func.min(o.next_attempt),
                    sa.func.max(o.last_error),
                ).group_by(o.sink)
            ).all()
        return [
            {
                "sink": s,
                "pending": int(n),
                "max_attempts": int(a or 0),
                "next_attempt": t,
                "last_error": e,
            }
            for s, n, a, t, e in rows
        ]

"""Retention of the store's own personal records, where the policy sets a period::

    retention:
      requests: 3 years          # closed data-subject requests, counted from their closing
      consent_evidence: 6 years  # ended consents' evidence, counted from the end of consent

A closed (or refused) request past its period is reduced to a tombstone: id, kind, dates,
status and the subject's pseudonym stay (what was asked and when, Art. 5(2)); the sealed subject
id and details, the identity-verification note, the answer, notes and step records go, and the
package files in ``dsr/<id>/`` are deleted (files first, then the row: a re-run after a crash
finds the row untouched and deletes nothing twice).

For consent, the events of a (purpose, subject) whose consent ended (withdrawn, expired, or a
grant past its expiry) more than the period ago keep their kind and times (the proof that no
consent held afterwards) and lose their evidence: the evidence digest, the action text, the
guardian and the source reference.

Due dates use `veil.policy.duration.Duration.after` (calendar months).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.store.schema import consent_events, consent_state, dsr_requests, dsr_steps
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.duration import Duration
    from veil.store.workspace import Workspace

__all__ = ["CLOSED", "sweep_consent_evidence", "sweep_requests"]

CLOSED = ("closed", "refused")
_MARGIN = timedelta(days=4)  # a calendar period is at most this much off its SQL cutoff
_CHUNK = 500


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def due_requests(ws: Workspace, period: Duration, now: datetime) -> list[str]:
    """Closed requests past ``period`` from their closing, not yet reduced to a tombstone."""
    t = dsr_requests.c
    cutoff = period.before(now) + _MARGIN
    with read_connection(ws.engine, "reading requests") as conn:
        rows = conn.execute(sa.select(t.id, t.closed_at, t.updated_at, t.result).where(
            t.status.in_(CLOSED), sa.func.coalesce(t.closed_at, t.updated_at) <= cutoff)).all()
    return [r.id for r in rows
            if not (isinstance(r.result, dict) and "tombstone" in r.result)
            and period.after(_utc(r.closed_at or r.updated_at)) <= now]


def sweep_requests(ws: Workspace, period: Duration, now: datetime, *, rule: str,
                   dry_run: bool = False) -> list[str]:
    """Reduce closed requests past ``period`` to tombstones; returns their ids."""
    ids = due_requests(ws, period, now)
    if dry_run or not ids:
        return ids
    for rid in ids:  # files first (idempotent), then the rows
        folder = Path(ws.root) / "dsr" / rid
        if folder.is_dir():
            shutil.rmtree(folder)
    at = datetime.now(UTC)
    tomb: dict[str, Any] = {"tombstone": {"at": at.isoformat(), "rule": f"requests: {rule}"},
                            "outcome": f"record reduced to a tombstone (retention: {rule})"}
    t = dsr_requests.c
    with write_transaction(ws.engine, "reducing requests to tombstones") as conn:
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            conn.execute(dsr_requests.update().where(t.id.in_(chunk)).values(
                sealed=None, verification=None, extension_reason=None, close_note=None,
                error=None, result=tomb, updated_at=at))
            conn.execute(dsr_steps.delete().where(dsr_steps.c.request_id.in_(chunk)))
    return ids


def _ended_us(row: Any) -> int | None:
    """When a consent ended (µs), or None while it holds."""
    if row.status in ("withdrawn", "expired"):
        return int(row.time_us)
    return int(row.expires_us) if row.expires_us is not None else None


def sweep_consent_evidence(ws: Workspace, period: Duration, now: datetime, *,
                           dry_run: bool = False) -> int:
    """Strip the evidence of consents that ended more than ``period`` ago; returns the
    number of events stripped (0 when all were stripped before)."""
    s, e = consent_state.c, consent_events.c
    now_us = int(now.timestamp() * 1_000_000)
    cutoff_us = int((period.before(now) + _MARGIN).timestamp() * 1_000_000)
    with read_connection(ws.engine, "reading consent state") as conn:
        rows = conn.execute(sa.select(s.purpose, s.subject, s.status, s.time_us, s.expires_us)
                            .where(sa.or_(s.status.in_(["withdrawn", "expired"]),
                                          s.expires_us <= now_us))).all()
    keys = []
    for r in rows:
        end = _ended_us(r)
        if end is None or end > cutoff_us or end > now_us:
            continue
        ended = datetime.fromtimestamp(end / 1_000_000, UTC)
        if period.after(ended) <= now:
            keys.append((r.purpose, r.subject, end))
    has_evidence = sa.or_(e.evidence.is_not(None), e.action.is_not(None),
                          e.guardian.is_not(None), e.source.is_not(None))
    n = 0
    with (read_connection(ws.engine, "reading consent events") if dry_run
          else write_transaction(ws.engine, "removing consent evidence")) as conn:
        for purpose, subject, end in keys:
            where = sa.and_(e.purpose == purpose, e.subject == subject, e.time_us <= end,
                            has_evidence)
            if dry_run:
                n += conn.execute(sa.select(sa.func.count()).where(where)).scalar() or 0
                continue
            n += conn.execute(consent_events.update().where(where).values(
                evidence=None, action=None, guardian=None, source=None)).rowcount or 0
    return n

"""Reading the ledger's events and states back: a subject's history, the streamed export, the
materialized states of a purpose, counts. Read-only; every call opens its own connection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from veil.consent.models import Event, State
from veil.errors import ConsentError
from veil.store.schema import consent_events, consent_state
from veil.store.transactions import read_connection

__all__ = ["count_events", "event_from_row", "every_event", "history", "knows", "states"]


def event_from_row(r: Any) -> Event:
    """An :class:`Event` from a ``consent_events`` row."""
    return Event(event_id=r.event_id, subject=r.subject, purpose=r.purpose, kind=r.kind,
                 time_us=r.time_us, channel=r.channel, collector=r.collector,
                 notice_version=r.notice_version, notice_seq=r.notice_seq, action=r.action,
                 evidence=r.evidence, expires_us=r.expires_us, age=r.age,
                 minor=None if r.minor is None else bool(r.minor), guardian=r.guardian,
                 source=r.source, recorded_us=r.recorded_us, seq=r.seq)


def history(engine: sa.Engine, subject: str, purpose: str | None,
            ref: Callable[[str], str]) -> list[Event]:
    """The subject's events (all purposes, or one), in time order; an unknown subject is an
    error naming it by pseudonym (``ref``)."""
    e = consent_events.c
    q = sa.select(consent_events).where(e.subject == subject)
    if purpose is not None:
        q = q.where(e.purpose == purpose)
    with read_connection(engine, "reading consent history") as conn:
        rows = conn.execute(q.order_by(e.time_us, e.seq)).all()
    if not rows:
        what = f" for purpose '{purpose}'" if purpose else ""
        raise ConsentError(f"unknown subject: the ledger has no consent events for "
                           f"{ref(subject)}{what}")
    return [event_from_row(r) for r in rows]


def knows(engine: sa.Engine, subject: str) -> bool:
    """Whether the ledger holds any event for the subject."""
    with read_connection(engine, "reading the consent ledger") as conn:
        return conn.execute(sa.select(consent_events.c.seq).where(
            consent_events.c.subject == subject).limit(1)).first() is not None


def every_event(engine: sa.Engine, *, batch: int = 10_000) -> Iterator[Event]:
    """Every event in append order, ``batch`` rows per read (a connection is never held
    between batches, so a slow consumer blocks no writer)."""
    e = consent_events.c
    last = 0
    while True:
        with read_connection(engine, "reading the consent ledger") as conn:
            rows = conn.execute(sa.select(consent_events).where(e.seq > last)
                                .order_by(e.seq).limit(batch)).all()
        if not rows:
            return
        for r in rows:
            yield event_from_row(r)
        last = rows[-1].seq


def states(engine: sa.Engine, purpose: str) -> dict[str, State]:
    """The materialized state of every subject of a purpose."""
    s = consent_state.c
    with read_connection(engine, "reading consent state") as conn:
        rows = conn.execute(sa.select(consent_state).where(s.purpose == purpose)).all()
    return {r.subject: State(r.status, r.time_us, r.event_id, r.expires_us,
                             r.notice_version, r.notice_seq, r.minor) for r in rows}


def count_events(engine: sa.Engine) -> int:
    """How many events the ledger holds."""
    with read_connection(engine, "reading the consent ledger") as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(consent_events))
                   .scalar() or 0)

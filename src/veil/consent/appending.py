"""Appending validated events to the ledger's tables, inside the caller's write transaction.

One batch: refuse event ids already stored, fill in the notices, lock the current states of
the (purpose, subject) keys it touches, check each key's events against the transition rules
(a backdated event re-checks the key's stored history from its time on), then write the events
and the new states. States are locked and written in one order (sorted keys) by every writer.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from veil.consent.models import (
    EVENT_COLUMNS,
    STATE_COLUMNS,
    STATUS_AFTER,
    Event,
    State,
    format_us,
    now_us,
    state_after,
    transition,
)
from veil.consent.notices import notices_in, resolve_notice
from veil.consent.reading import event_from_row
from veil.errors import ConsentError
from veil.store.schema import consent_events, consent_state

__all__ = ["append_in"]

CHUNK = 500  # ids per IN (...) list on SQLite (older builds take at most 999 parameters)
PG_CHUNK = 5000  # and on PostgreSQL (one round trip each)
BIG = 20_000  # a batch this big gets a large SQLite page cache while it is written
BIG_CACHE_KB = 256 * 1024  # at most; SQLite takes the memory only as pages are used
_FAR = 1 << 62  # seq placeholder for events not stored yet (they sort after stored ones)

Key = tuple[str, str]  # (purpose, subject)
Namer = Callable[[str], str]  # subject id -> its pseudonym, for messages


def append_in(conn: sa.Connection, events: list[Event], ref: Namer,
              stamp_now: Collection[str] = ()) -> list[Event]:
    """Store ``events`` (validated, ids unique in the batch) and the states they leave;
    returns them as stored (notices resolved). Raises ConsentError, storing nothing.

    Events named in ``stamp_now`` had no time of their own: they are stamped with the time
    taken once the keys are locked (never before the key's stored state), so a writer that
    took "now" before another's later-stamped event committed is not taken for backdating."""
    if len(events) >= BIG and conn.dialect.name == "sqlite":
        with _page_cache(conn):
            return _append(conn, events, ref, stamp_now)
    return _append(conn, events, ref, stamp_now)


@contextlib.contextmanager
def _page_cache(conn: sa.Connection) -> Iterator[None]:
    """A large SQLite page cache for a big batch, then the connection's own size again: the
    default 2 MB makes an import of a million events spill its index pages to the WAL file
    over and over (random event ids land all over the unique index) before it commits."""
    old = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size = -{BIG_CACHE_KB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(old)}")


def _append(conn: sa.Connection, events: list[Event], ref: Namer,
            stamp_now: Collection[str]) -> list[Event]:
    _refuse_stored_ids(conn, events)
    notices = notices_in(conn, {e.purpose for e in events})
    events = [resolve_notice(e, notices.get(e.purpose, [])) for e in events]
    keys: dict[Key, list[Event]] = defaultdict(list)
    for e in events:
        keys[(e.purpose, e.subject)].append(e)
    states = _lock_states(conn, keys)
    if stamp_now:
        events = _stamped(events, states, set(stamp_now))
        keys = defaultdict(list)
        for e in events:
            keys[(e.purpose, e.subject)].append(e)
    new_states = {}
    for key, evs in keys.items():
        evs.sort(key=lambda e: e.time_us)  # stable: same-time events keep batch order
        new = _state_after(conn, key, evs, states.get(key), ref)
        if new != states.get(key):
            new_states[key] = new
    _write(conn, events, new_states, states)
    return events


def _chunk(conn: sa.Connection) -> int:
    return PG_CHUNK if conn.dialect.name == "postgresql" else CHUNK


def _stamped(events: list[Event], states: dict[Key, State], ids: set[str]) -> list[Event]:
    """``events`` with those in ``ids`` stamped now (under the lock), after the stored state."""
    now = now_us()
    out = []
    for e in events:
        if e.event_id in ids:
            old = states.get((e.purpose, e.subject))
            t = max(now, e.time_us, old.time_us + 1 if old else 0)
            if e.expires_us is not None and e.expires_us <= t:
                raise ConsentError(f"expiry {format_us(e.expires_us)} is not after the event "
                                   f"time {format_us(t)}", where=e.source)
            e = replace(e, time_us=t)
        out.append(e)
    return out


def _refuse_stored_ids(conn: sa.Connection, events: list[Event]) -> None:
    """An event id the ledger already holds refuses the batch (the first such in batch order)."""
    ev_t = consent_events.c
    by_id = {e.event_id: e for e in events}
    ids = list(by_id)
    step = _chunk(conn)
    for i in range(0, len(ids), step):
        found = conn.execute(sa.select(ev_t.event_id).where(
            ev_t.event_id.in_(ids[i:i + step]))).scalars().all()
        if found:
            order = {e.event_id: i for i, e in enumerate(events)}
            dup = by_id[min(found, key=order.__getitem__)]
            raise ConsentError("duplicate event id: the ledger already has an event with this "
                               "id", where=dup.source)


def _state_after(conn: sa.Connection, key: Key, evs: list[Event], old: State | None,
                 ref: Namer) -> State:
    """The key's state after its new events (in time order), checked against the rules."""
    if old is not None and evs[0].time_us < old.time_us:
        return _refold(conn, key, evs, ref)
    status = old.status if old else None
    for e in evs:
        why = transition(status, e.kind)
        if why:
            raise ConsentError(f"{why} ({ref(e.subject)}, purpose '{e.purpose}', "
                               f"{format_us(e.time_us)})", where=e.source)
        status = STATUS_AFTER[e.kind]
    return state_after(evs[-1])


def _write(conn: sa.Connection, events: list[Event], new_states: dict[Key, State],
           old_states: dict[Key, State]) -> None:
    """Events, then states (new keys inserted, known keys updated), in one lock order."""
    st_t = consent_state.c
    _insert(conn, consent_events, EVENT_COLUMNS, [e.values() for e in events])
    ordered = sorted(new_states.items())  # one lock order for every writer
    inserts = [(k[0], k[1], *s.values()) for k, s in ordered if k not in old_states]
    updates = [{"k_purpose": k[0], "k_subject": k[1], **s.row()}
               for k, s in ordered if k in old_states]
    if inserts:
        _insert(conn, consent_state, ("purpose", "subject", *STATE_COLUMNS), inserts)
    if updates:
        conn.execute(
            consent_state.update()
            .where(st_t.purpose == sa.bindparam("k_purpose"),
                   st_t.subject == sa.bindparam("k_subject"))
            .values({c: sa.bindparam(c) for c in State.__dataclass_fields__}),
            updates,
        )


def _lock_states(conn: sa.Connection, keys: dict[Key, list[Event]]) -> dict[Key, State]:
    """The current states of the keys, locked (``FOR UPDATE``) where the database can."""
    st_t = consent_state.c
    by_purpose: dict[str, list[str]] = defaultdict(list)
    for purpose, subject in keys:
        by_purpose[purpose].append(subject)
    lock = conn.dialect.name != "sqlite"
    states: dict[Key, State] = {}
    for purpose in sorted(by_purpose):
        subjects = sorted(by_purpose[purpose])
        step = _chunk(conn)
        for i in range(0, len(subjects), step):
            q = (sa.select(st_t.subject, st_t.status, st_t.time_us, st_t.event_id,
                           st_t.expires_us, st_t.notice_version, st_t.notice_seq, st_t.minor)
                 .where(st_t.purpose == purpose, st_t.subject.in_(subjects[i:i + step]))
                 .order_by(st_t.subject))
            if lock:
                q = q.with_for_update()
            for r in conn.execute(q):
                states[(purpose, r.subject)] = State(
                    r.status, r.time_us, r.event_id, r.expires_us, r.notice_version,
                    r.notice_seq, r.minor)
    return states


def _refold(conn: sa.Connection, key: Key, new: list[Event], ref: Namer) -> State:
    """A backdated event: re-check the whole history of the key with it in place."""
    purpose, subject = key
    e_t = consent_events.c
    t0 = min(e.time_us for e in new)
    same_key = sa.and_(e_t.purpose == purpose, e_t.subject == subject)
    # Only the events from t0 on can change, plus the one before t0 that sets the scene.
    stored = [event_from_row(r) for r in conn.execute(
        sa.select(consent_events).where(same_key, e_t.time_us >= t0))]
    before = conn.execute(sa.select(consent_events).where(same_key, e_t.time_us < t0)
                          .order_by(e_t.time_us.desc(), e_t.seq.desc()).limit(1)).first()
    pending = [replace(e, seq=_FAR + i) for i, e in enumerate(new)]
    status: str | None = None
    last: Event | None = None
    if before is not None:
        last = event_from_row(before)
        status = state_after(last).status
    for e in sorted(stored + pending, key=lambda x: (x.time_us, x.seq)):
        why = transition(status, e.kind)
        if why:
            _refuse_refold(why, e, pending, key, ref)
        status = STATUS_AFTER[e.kind]
        last = e
    assert last is not None
    return state_after(last)


def _refuse_refold(why: str, e: Event, pending: list[Event], key: Key, ref: Namer) -> None:
    """Name the culprit: a new event breaking the rules, or the backdated one that would
    make a stored event break them."""
    purpose, subject = key
    if e.seq >= _FAR:
        raise ConsentError(f"{why} ({ref(subject)}, purpose '{purpose}', "
                           f"{format_us(e.time_us)})", where=e.source)
    culprit = next(p for p in pending if p.time_us <= e.time_us)
    raise ConsentError(
        f"this backdated event would make the stored event "
        f"({e.kind} at {format_us(e.time_us)}) a {why} ({ref(subject)}, "
        f"purpose '{purpose}')", where=culprit.source)


def _insert(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
            rows: list[tuple[Any, ...]]) -> None:
    """Rows by the database's bulk path: PostgreSQL ``COPY`` (psycopg adapts the values as it
    would bound parameters), else a plain DBAPI executemany: SQLAlchemy's per-row parameter
    work would cost more than the inserts themselves on this hot path (the values are plain
    ints, strings, bools, None)."""
    if conn.dialect.name == "postgresql":
        _copy(conn, f"COPY {table.name} ({', '.join(columns)}) FROM STDIN", rows)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]


def _copy(conn: sa.Connection, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY ``rows`` in the caller's transaction; a database error is raised as SQLAlchemy
    raises it for any other statement (so a conflict is retried, the rest is one line)."""
    dbapi = conn.dialect.loaded_dbapi
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        with cur.copy(sql) as cp:
            for row in rows:
                cp.write_row(row)
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error) from None
    finally:
        cur.close()

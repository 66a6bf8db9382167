"""The audit log's tables, as its collaborators read them: the state row, nodes and leaf rows.

The log (``veil.audit.log``), its heads, proofs, verification, export and outbox all read the same
few rows; the shapes and the textual SQL used on hot paths live here once. ``raw_write`` is the
append's bare DBAPI transaction: SQLAlchemy's per-statement work would cost more than the inserts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from veil.audit.event import AuditEvent, format_time
from veil.audit.merkle import AppendResult, CompactRange, NodeID, range_nodes
from veil.errors import AuditError
from veil.store.schema import audit_leaves, audit_state
from veil.store.transactions import db_error

STATE_ID = 1
"""The id of the one ``audit_state`` row."""

READING = "reading the audit log"
"""What a failed read says it was doing."""


@dataclass(frozen=True)
class TreeHead:
    """The log's current (unsigned) head: ``size`` leaves with RFC 6962 root ``root``."""

    origin: str
    size: int
    root: bytes


@dataclass(frozen=True)
class LoggedEvent:
    """One stored event: its index, canonical bytes and leaf hash, and its filter columns."""

    idx: int
    data: bytes
    leaf_hash: bytes
    time: str
    action: str
    actor: str
    purpose: str
    outcome: str

    @property
    def event(self) -> AuditEvent:
        """The event, parsed strictly from its canonical bytes."""
        return AuditEvent.from_canonical_bytes(self.data)


def read_state(conn: sa.Connection, *, lock: bool = False) -> Any:
    """The state row (origin, size, root, public_key, key_id); ``lock`` takes it FOR UPDATE."""
    q = sa.select(
        audit_state.c.origin,
        audit_state.c.size,
        audit_state.c.root,
        audit_state.c.public_key,
        audit_state.c.key_id,
    ).where(audit_state.c.id == STATE_ID)
    if lock:
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        raise AuditError("the audit log's state row is missing: the store is damaged")
    return row


def size_or_current(conn: sa.Connection, size: int | None) -> int:
    """``size`` checked against the log's current size (the current size when None)."""
    current = int(conn.exec_driver_sql("SELECT size FROM audit_state WHERE id = 1").scalar_one())
    if size is None:
        return current
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise AuditError(f"tree size must be a non-negative integer, got {size!r}")
    if size > current:
        raise AuditError(f"tree size {size} is beyond the log's size {current}")
    return size


def _missing_node(n: NodeID) -> AuditError:
    return AuditError(
        f"node (level {n.level}, index {n.index}) is missing from the store: "
        "the log is damaged; run `veil audit verify`"
    )


def read_nodes(conn: sa.Connection, ids: Sequence[NodeID]) -> list[bytes]:
    """The hashes of ``ids`` (same order) in one SELECT (textual SQL: building a SQLAlchemy
    expression of ~50 terms would cost more than the query)."""
    if not ids:
        return []
    ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    items = sorted({(n.level, n.index) for n in ids})
    found: dict[tuple[int, int], bytes] = {}
    for k in range(0, len(items), 200):  # one query per 200 nodes (a proof needs < 130)
        part = items[k : k + 200]
        where = " OR ".join([f"(level = {ph} AND idx = {ph})"] * len(part))
        rows = conn.exec_driver_sql(
            f"SELECT level, idx, hash FROM audit_nodes WHERE {where}",
            tuple(v for item in part for v in item),
        )
        found.update({(int(r[0]), int(r[1])): bytes(r[2]) for r in rows})
    missing = [n for n in ids if (n.level, n.index) not in found]
    if missing:
        raise _missing_node(missing[0])
    return [found[(n.level, n.index)] for n in ids]


def load_frontier(cur: Any, ph: str, size: int, root: bytes) -> CompactRange:
    """The compact range of the first ``size`` leaves, read with the DBAPI cursor ``cur`` and
    checked against the stored ``root``."""
    ids = range_nodes(0, size)
    found: dict[tuple[int, int], bytes] = {}
    if ids:
        where = " OR ".join([f"(level = {ph} AND idx = {ph})"] * len(ids))
        cur.execute(
            f"SELECT level, idx, hash FROM audit_nodes WHERE {where}",
            [v for n in ids for v in (n.level, n.index)],
        )
        found = {(int(lv), int(ix)): bytes(h) for lv, ix, h in cur.fetchall()}
    missing = [n for n in ids if (n.level, n.index) not in found]
    if missing:
        raise _missing_node(missing[0])
    frontier = CompactRange(size, [found[(n.level, n.index)] for n in ids])
    if frontier.root() != root:
        raise AuditError(
            f"the stored tree (size {size}) does not give the stored root: "
            "the log is damaged; run `veil audit verify`"
        )
    return frontier


def insert_appended(
    cur: Any,
    ph: str,
    start: int,
    events: Sequence[AuditEvent],
    datas: Sequence[bytes],
    hashes: Sequence[bytes],
    appended: AppendResult,
    sinks: Sequence[str],
) -> None:
    """Write appended events from index ``start`` (their canonical bytes ``datas`` and leaf
    ``hashes``), the nodes they completed, their outbox rows for ``sinks`` and the new state,
    with the DBAPI cursor ``cur`` of a :func:`raw_write` transaction."""
    cur.executemany(
        "INSERT INTO audit_leaves (idx, event, leaf_hash, time, action, actor, "
        f"purpose, outcome) VALUES ({', '.join([ph] * 8)})",
        [
            (start + i, d, h, d[-35:-8].decode(), e.action, e.actor, e.purpose, e.outcome)
            for i, (e, d, h) in enumerate(zip(events, datas, hashes, strict=True))
        ],
    )
    cur.executemany(
        f"INSERT INTO audit_nodes (level, idx, hash) VALUES ({ph}, {ph}, {ph})",
        [(lv, ix, h) for (lv, ix), h in appended.nodes.items()],
    )
    if sinks:
        now = format_time(datetime.now(UTC))
        cur.executemany(
            "INSERT INTO audit_outbox (sink, idx, attempts, next_attempt) "
            f"VALUES ({ph}, {ph}, 0, {ph})",
            [(s, start + i, now) for i in range(len(events)) for s in sinks],
        )
    cur.execute(
        f"UPDATE audit_state SET size = {ph}, root = {ph} WHERE id = 1",
        (appended.size, appended.root),
    )


@contextlib.contextmanager
def raw_write(engine: sa.Engine, doing: str) -> Iterator[tuple[Any, str, bool]]:
    """A durable write transaction on the bare DBAPI connection: yields (cursor, placeholder,
    sqlite).

    As ``veil.store.transactions.write_transaction(engine, doing, durable=True)`` (SQLite:
    synchronous=FULL and BEGIN IMMEDIATE) without SQLAlchemy's per-statement cost. The caller
    locks the state row itself on PostgreSQL (``SELECT ... FOR UPDATE``).
    """
    dbapi_error = engine.dialect.loaded_dbapi.Error
    try:
        raw = engine.raw_connection()
    except sa.exc.DBAPIError as exc:
        raise db_error(exc, doing) from None
    sqlite = engine.dialect.name == "sqlite"
    cur = raw.cursor()
    try:
        try:
            if sqlite:
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("BEGIN IMMEDIATE")
            yield cur, ("?" if sqlite else "%s"), sqlite
            raw.commit()
        except BaseException:
            raw.rollback()
            raise
    except dbapi_error as exc:
        raise db_error(exc, doing) from None
    finally:
        if sqlite:
            with contextlib.suppress(dbapi_error):
                cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        raw.close()


def leaf_select() -> sa.Select[Any]:
    """SELECT of a leaf row's columns, in :class:`LoggedEvent`'s order."""
    c = audit_leaves.c
    return sa.select(c.idx, c.event, c.leaf_hash, c.time, c.action, c.actor, c.purpose, c.outcome)


def logged(row: Any) -> LoggedEvent:
    """A :func:`leaf_select` row as a :class:`LoggedEvent`."""
    return LoggedEvent(
        int(row[0]), bytes(row[1]), bytes(row[2]), row[3], row[4], row[5], row[6], row[7]
    )

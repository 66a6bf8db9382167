"""The audit log in the workspace's store: append, sign, prove, verify, export, forward.

Tables (``veil.store.schema``, "audit log" section):

- ``audit_leaves``: one row per event, ``idx`` from 0: the event's canonical bytes (the leaf input),
  its leaf hash, and copies of ``time``, ``action``, ``actor``, ``purpose``, ``outcome`` for
  filtering (checked against the event by :meth:`AuditLog.verify`).
- ``audit_nodes``: the hash of every perfect subtree ``(level, idx)`` (level 0 = the leaf hashes),
  written once, never updated; any proof reads ``O(log n)`` of them in one query.
- ``audit_heads``: signed tree heads (C2SP signed notes), at most one per tree size.
- ``audit_state``: one row with the log's size and root, origin and public key. Every append
  locks it (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on PostgreSQL), so several
  processes can append at once and indexes and the tree stay consistent.
- ``audit_outbox``: one row per (sink, event) still to forward; written in the append's
  transaction, deleted when the sink has the event (at least once; see :meth:`AuditLog.deliver`).

The signing key is ``<workspace>/keys/audit_signing.pem`` (Ed25519, created mode 0600 on first
use); its public key is kept in ``audit_state`` so that anyone with the database can verify.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import threading
import time as _time
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from os import PathLike
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from veil.audit.event import AuditEvent, format_time
from veil.audit.heads import (
    SignedTreeHead,
    generate_signing_key,
    key_id,
    load_private_key_pem,
    load_public_key_pem,
    private_key_to_pem,
    public_key_to_pem,
    sign_tree_head,
    verify_tree_head,
)
from veil.audit.merkle import (
    CompactRange,
    NodeID,
    consistency_plan,
    empty_root,
    inclusion_plan,
    range_nodes,
)
from veil.audit.proofs import build_proof, write_proof_file
from veil.audit.sinks import Sink, SinkRecord, sinks_from_config
from veil.errors import AuditError, StoreError, VeilError
from veil.store.schema import (
    audit_heads,
    audit_leaves,
    audit_nodes,
    audit_outbox,
    audit_state,
)
from veil.store.workspace import CONFIG_NAME, Workspace

KEY_FILE = Path("keys") / "audit_signing.pem"
"""Where the signing key lives, relative to the workspace root."""

EXPORT_FORMAT = "veil-audit-export/v1"
DEFAULT_ORIGIN_PREFIX = "veil.local/audit-"
_EMPTY = empty_root()
_STATE_ID = 1


# --------------------------------------------------------------------------- results and errors


class AuditVerifyError(AuditError):
    """:meth:`AuditLog.verify` (or :func:`verify_export`) found the log altered.

    ``index`` is the first bad leaf index (for a head: its tree size), ``check`` names the check
    that failed: ``deleted leaf``, ``inserted leaf``, ``reordered leaf``, ``modified event``,
    ``filter columns``, ``missing node``, ``bad node``, ``inserted node``, ``head root mismatch``,
    ``bad signature``, ``head altered``, ``state`` or ``truncated export``.
    """

    def __init__(self, index: int, check: str, detail: str, *, where: str | None = None) -> None:
        self.index = index
        self.check = check
        self.detail = detail
        super().__init__(f"verification failed at index {index}: {check}: {detail}", where=where)


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


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`AuditLog.verify` checked (it raises on the first failure instead)."""

    origin: str
    size: int
    root: bytes
    heads_checked: int
    latest_signed_size: int | None
    nodes_checked: int
    key_id: str | None
    seconds: float


@dataclass(frozen=True)
class ExportReport:
    """What :func:`verify_export` established about an export file."""

    origin: str
    size: int
    root: bytes
    heads_checked: int
    latest_signed_size: int | None
    key_id: str | None
    key_trusted: bool


@dataclass(frozen=True)
class DeliveryReport:
    """One :meth:`AuditLog.deliver` pass: per sink, events delivered and failures."""

    delivered: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # sink -> last error (no event data)
    pending: dict[str, int] = field(default_factory=dict)  # what is left in the outbox


# --------------------------------------------------------------------------- the signing key


def load_signing_key(root: str | PathLike[str], *, create: bool) -> Ed25519PrivateKey | None:
    """The workspace's Ed25519 signing key (``<root>/keys/audit_signing.pem``).

    With ``create=True`` a missing key is generated and written with mode 0600 (atomically: a
    concurrent creator's key wins and is loaded). Returns None when the key is missing and
    ``create`` is False. This is the one place that reads the key file.
    """
    path = Path(root) / KEY_FILE
    try:
        return load_private_key_pem(path.read_bytes())
    except FileNotFoundError:
        if not create:
            return None
    except OSError as exc:
        raise AuditError(
            f"cannot read the audit signing key: {exc.strerror}", where=str(path)
        ) from None
    key = generate_signing_key()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(private_key_to_pem(key))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)  # fails if another process created the key meanwhile
            except FileExistsError:
                return load_private_key_pem(path.read_bytes())
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise AuditError(
            f"cannot create the audit signing key: {exc.strerror}", where=str(path)
        ) from None
    return key


def _read_config(root: Path) -> dict[str, Any]:
    path = root / CONFIG_NAME
    try:
        cfg = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditError(f"invalid workspace config: {exc}", where=str(path)) from None
    audit = cfg.get("audit", {})
    if not isinstance(audit, dict):
        raise AuditError("[audit] must be a table", where=str(path))
    return audit


def _db_error(exc: BaseException, doing: str) -> StoreError:
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps DBAPI errors in .orig
    text = (str(orig).splitlines() or [type(orig).__name__])[0]
    if "locked" in text:
        return StoreError(f"{doing}: the audit log stayed locked by another writer ({text})")
    return StoreError(f"{doing}: database error ({text[:200]})")


# --------------------------------------------------------------------------- the log


class AuditLog:
    """The workspace's audit log. Cheap to create; safe to use from several threads and processes.

    ``sinks`` default to the ``[audit.sinks]`` of the workspace's ``veil.toml``; ``origin``
    (the log's name in signed heads) defaults to ``[audit] origin`` there, else a random
    ``veil.local/audit-<hex>`` fixed when the log is first used.
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        sinks: Sequence[Sink] | None = None,
        origin: str | None = None,
        retry_base: float = 1.0,
        retry_max: float = 3600.0,
    ) -> None:
        self.workspace = workspace.ready()
        self.engine = workspace.engine
        cfg = _read_config(workspace.root)
        self._origin_wanted = origin if origin is not None else cfg.get("origin")
        if sinks is None:
            sinks = sinks_from_config(cfg.get("sinks", {}), workspace.root)
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise AuditError(f"sink names must be unique, got {names}")
        self.sinks: list[Sink] = list(sinks)
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._lock = threading.RLock()
        self._frontier: CompactRange | None = None
        self._origin: str | None = None
        self._key: Ed25519PrivateKey | None = None

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[sa.Connection]:
        """A durable write transaction (SQLite: BEGIN IMMEDIATE, which serializes writers, and
        synchronous=FULL; PostgreSQL: row locks and unique keys do the serializing)."""
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise _db_error(exc, doing) from None
        sqlite = conn.dialect.name == "sqlite"
        try:
            if sqlite:
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
        except sa.exc.DBAPIError as exc:
            conn.rollback()
            raise _db_error(exc, doing) from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            if sqlite:
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.close()

    @contextlib.contextmanager
    def _raw_write(self, doing: str) -> Iterator[tuple[Any, str, bool]]:
        """Like :meth:`_write` on the bare DBAPI connection: yields (cursor, placeholder, sqlite).

        The caller locks the state row itself on PostgreSQL (``SELECT ... FOR UPDATE``).
        """
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        try:
            raw = self.engine.raw_connection()
        except sa.exc.DBAPIError as exc:
            raise _db_error(exc, doing) from None
        sqlite = self.engine.dialect.name == "sqlite"
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
            raise _db_error(exc, doing) from None
        finally:
            if sqlite:
                with contextlib.suppress(dbapi_error):
                    cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            raw.close()

    @contextlib.contextmanager
    def _read(self, doing: str) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise _db_error(exc, doing) from None

    def _state(self, conn: sa.Connection, *, lock: bool = False) -> Any:
        q = sa.select(
            audit_state.c.origin,
            audit_state.c.size,
            audit_state.c.root,
            audit_state.c.public_key,
            audit_state.c.key_id,
        ).where(audit_state.c.id == _STATE_ID)
        if lock:
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise AuditError("the audit log's state row is missing: the store is damaged")
        return row

    # ------------------------------------------------------------------ origin and key

    @property
    def origin(self) -> str:
        """The log's origin (its name in signed heads), fixed when the log is first used."""
        if self._origin is None:
            with self._lock:
                self._origin = self._ensure_origin()
        return self._origin

    def _ensure_origin(self) -> str:
        with self._read("reading the audit log") as conn:
            stored = self._state(conn).origin
        if stored is None:
            wanted = self._origin_wanted or DEFAULT_ORIGIN_PREFIX + secrets.token_hex(8)
            key_id(generate_signing_key().public_key(), wanted)  # validates the origin
            with self._write("naming the audit log") as conn:
                conn.execute(
                    audit_state.update()
                    .where(audit_state.c.id == _STATE_ID, audit_state.c.origin.is_(None))
                    .values(origin=wanted)
                )
                stored = self._state(conn).origin
        if self._origin_wanted is not None and stored != self._origin_wanted:
            raise AuditError(
                f"this log's origin is {stored!r} (fixed when it was created), "
                f"not {self._origin_wanted!r}: change [audit] origin in {CONFIG_NAME} back"
            )
        return str(stored)

    def public_key(self) -> Ed25519PublicKey | None:
        """The log's public key as stored in the database (None before the first signed head)."""
        with self._read("reading the audit log") as conn:
            pem = self._state(conn).public_key
        return load_public_key_pem(pem.encode()) if pem else None

    def _signing_key(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is not None:
                return self._key
            origin = self.origin
            with self._read("reading the audit log") as conn:
                st = self._state(conn)
            key = load_signing_key(self.workspace.root, create=st.public_key is None)
            if key is None:
                raise AuditError(
                    f"the audit signing key is missing (the log's key id is {st.key_id}); "
                    "restore it from backup",
                    where=str(self.workspace.root / KEY_FILE),
                )
            pem = public_key_to_pem(key.public_key()).decode()
            if st.public_key is None:
                with self._write("registering the audit key") as conn:
                    conn.execute(
                        audit_state.update()
                        .where(audit_state.c.id == _STATE_ID, audit_state.c.public_key.is_(None))
                        .values(public_key=pem, key_id=key_id(key.public_key(), origin))
                    )
                    st = self._state(conn)
            if st.public_key != pem:
                raise AuditError(
                    f"the workspace signing key is not this log's key (key id {st.key_id})",
                    where=str(self.workspace.root / KEY_FILE),
                )
            self._key = key
            return key

    # ------------------------------------------------------------------ append

    def append(self, events: Iterable[AuditEvent]) -> list[int]:
        """Append events in one durable transaction; returns their indexes (consecutive).

        Serialized against other writers (threads and processes). Each event is also queued in
        the outbox for every configured sink, in the same transaction.
        """
        evs = list(events)
        for i, e in enumerate(evs):
            if not isinstance(e, AuditEvent):
                raise AuditError(f"events[{i}] is a {type(e).__name__}, not an AuditEvent")
        if not evs:
            return []
        datas = [e.canonical_bytes() for e in evs]
        hashes = [hashlib.sha256(b"\x00" + d).digest() for d in datas]
        sinks = [s.name for s in self.sinks]
        with self._lock:
            try:
                # Plain DBAPI calls: SQLAlchemy's per-statement and per-row work would cost more
                # than the inserts themselves (this is the hot path of every operation).
                with self._raw_write("appending to the audit log") as (cur, ph, sqlite):
                    lock = "" if sqlite else " FOR UPDATE"
                    cur.execute(f"SELECT size, root FROM audit_state WHERE id = 1{lock}")
                    start, root = cur.fetchone()
                    frontier = self._load_frontier_raw(cur, ph, start, bytes(root))
                    res = frontier.append(hashes)
                    cur.executemany(
                        "INSERT INTO audit_leaves (idx, event, leaf_hash, time, action, actor, "
                        f"purpose, outcome) VALUES ({', '.join([ph] * 8)})",
                        [
                            (
                                start + i,
                                d,
                                h,
                                d[-35:-8].decode(),
                                e.action,
                                e.actor,
                                e.purpose,
                                e.outcome,
                            )
                            for i, (e, d, h) in enumerate(zip(evs, datas, hashes, strict=True))
                        ],
                    )
                    cur.executemany(
                        f"INSERT INTO audit_nodes (level, idx, hash) VALUES ({ph}, {ph}, {ph})",
                        [(lv, ix, h) for (lv, ix), h in res.nodes.items()],
                    )
                    if sinks:
                        now = format_time(datetime.now(UTC))
                        cur.executemany(
                            "INSERT INTO audit_outbox (sink, idx, attempts, next_attempt) "
                            f"VALUES ({ph}, {ph}, 0, {ph})",
                            [(s, start + i, now) for i in range(len(evs)) for s in sinks],
                        )
                    cur.execute(
                        f"UPDATE audit_state SET size = {ph}, root = {ph} WHERE id = 1",
                        (res.size, res.root),
                    )
            except BaseException:
                self._frontier = None  # CompactRange.append mutated it; reload next time
                raise
            self._frontier = frontier
        return list(range(start, start + len(evs)))

    def record(
        self,
        actor: str,
        action: str,
        *,
        purpose: str,
        legal_basis: str,
        outcome: str,
        data_categories: Sequence[str] = (),
        counts: Mapping[str, int] | None = None,
        subjects: Sequence[str] = (),
        digests: Mapping[str, str] | None = None,
        details: Mapping[str, str | int | float | bool | None] | None = None,
        time: datetime | None = None,
    ) -> int:
        """Build one :class:`AuditEvent` (time defaults to now) and append it; returns its index."""
        event = AuditEvent(
            time=time if time is not None else datetime.now(UTC),
            actor=actor,
            action=action,
            purpose=purpose,
            legal_basis=legal_basis,
            outcome=outcome,
            data_categories=data_categories,
            counts=counts or {},
            subjects=subjects,
            digests=digests or {},
            details=details or {},
        )
        return self.append([event])[0]

    def _load_frontier_raw(self, cur: Any, ph: str, size: int, root: bytes) -> CompactRange:
        cached = self._frontier
        if cached is not None and cached.size == size and cached.root() == root:
            return cached
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
            raise AuditError(
                f"node (level {missing[0].level}, index {missing[0].index}) is missing from the "
                "store: the log is damaged; run `veil audit verify`"
            )
        frontier = CompactRange(size, [found[(n.level, n.index)] for n in ids])
        if frontier.root() != root:
            raise AuditError(
                f"the stored tree (size {size}) does not give the stored root: "
                "the log is damaged; run `veil audit verify`"
            )
        return frontier

    def _nodes(self, conn: sa.Connection, ids: Sequence[NodeID]) -> list[bytes]:
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
            n = missing[0]
            raise AuditError(
                f"node (level {n.level}, index {n.index}) is missing from the store: "
                "the log is damaged; run `veil audit verify`"
            )
        return [found[(n.level, n.index)] for n in ids]

    # ------------------------------------------------------------------ heads

    def head(self) -> TreeHead:
        """The current size and root (unsigned)."""
        origin = self.origin
        with self._read("reading the audit log") as conn:
            st = self._state(conn)
        return TreeHead(origin, st.size, bytes(st.root))

    def sign_head(self, timestamp: datetime | None = None) -> SignedTreeHead:
        """Sign the current head (or return the head already signed at this size) and store it."""
        key = self._signing_key()
        with self._read("reading the audit log") as conn:
            st = self._state(conn)
            existing = self._head_row(conn, st.size)
        if existing is not None:
            return existing
        head = sign_tree_head(key, self.origin, st.size, bytes(st.root), timestamp)
        try:
            with self._write("storing a signed tree head") as conn:
                if self._head_row(conn, head.size) is None:
                    conn.execute(
                        audit_heads.insert().values(
                            size=head.size,
                            root=head.root,
                            timestamp=format_time(head.timestamp),
                            key_id=head.key_id,
                            note=head.to_note(),
                        )
                    )
        except StoreError:
            with self._read("reading the audit log") as conn:
                existing = self._head_row(conn, head.size)
            if existing is None:
                raise
            return existing
        with self._read("reading the audit log") as conn:
            stored = self._head_row(conn, head.size)
        return stored if stored is not None else head

    @staticmethod
    def _head_row(conn: sa.Connection, size: int) -> SignedTreeHead | None:
        note = conn.execute(
            sa.select(audit_heads.c.note).where(audit_heads.c.size == size)
        ).scalar()
        return SignedTreeHead.from_note(note) if note is not None else None

    def signed_head(self, size: int | None = None) -> SignedTreeHead | None:
        """The signed head at ``size``, or the latest signed head; None if there is none."""
        with self._read("reading the audit log") as conn:
            if size is not None:
                return self._head_row(conn, size)
            note = conn.execute(
                sa.select(audit_heads.c.note).order_by(audit_heads.c.size.desc()).limit(1)
            ).scalar()
        return SignedTreeHead.from_note(note) if note is not None else None

    def heads(self) -> list[SignedTreeHead]:
        """Every signed head, smallest size first."""
        with self._read("reading the audit log") as conn:
            notes = conn.execute(
                sa.select(audit_heads.c.note).order_by(audit_heads.c.size)
            ).scalars()
            return [SignedTreeHead.from_note(n) for n in notes]

    # ------------------------------------------------------------------ proofs

    def _size_or_current(self, conn: sa.Connection, size: int | None) -> int:
        current = int(
            conn.exec_driver_sql("SELECT size FROM audit_state WHERE id = 1").scalar_one()
        )
        if size is None:
            return current
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise AuditError(f"tree size must be a non-negative integer, got {size!r}")
        if size > current:
            raise AuditError(f"tree size {size} is beyond the log's size {current}")
        return size

    def inclusion_proof(self, idx: int, size: int | None = None) -> list[bytes]:
        """The RFC 6962 audit path of leaf ``idx`` in the tree of ``size`` (default: current).

        Reads only the ``O(log n)`` nodes the path needs, in one query.
        """
        with self._read("reading the audit log") as conn:
            size = self._size_or_current(conn, size)
            plan = inclusion_plan(idx, size)
            return plan.rehash(self._nodes(conn, plan.ids))

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 6962 consistency proof from tree ``size1`` to ``size2`` (default: current)."""
        with self._read("reading the audit log") as conn:
            size2 = self._size_or_current(conn, size2)
            plan = consistency_plan(size1, size2)
            return plan.rehash(self._nodes(conn, plan.ids))

    def root_at(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` leaves (from ``popcount(size)`` nodes)."""
        with self._read("reading the audit log") as conn:
            size = self._size_or_current(conn, size)
            return CompactRange(size, self._nodes(conn, range_nodes(0, size))).root()

    def get(self, idx: int) -> LoggedEvent:
        """The stored event at ``idx`` (AuditError if there is none)."""
        with self._read("reading the audit log") as conn:
            row = conn.execute(_leaf_select().where(audit_leaves.c.idx == idx)).first()
        if row is None:
            raise AuditError(f"no event at index {idx} (the log has {self.head().size})")
        return _logged(row)

    def prove(
        self,
        idx: int,
        path: str | PathLike[str] | None = None,
        *,
        head: SignedTreeHead | None = None,
    ) -> dict[str, Any]:
        """Build the proof file for event ``idx`` (``veil-audit-proof/v1``), write it to ``path``.

        The proof is under ``head``, else the latest signed head that covers ``idx``, else a newly
        signed head. It is verified before it is returned or written.
        """
        if head is None:
            head = self.signed_head()
            if head is None or head.size <= idx:
                head = self.sign_head()
        if idx >= head.size or idx < 0:
            raise AuditError(f"no event at index {idx} under the head of size {head.size}")
        public_key = self.public_key()
        if public_key is None:
            raise AuditError("the log has no public key yet: sign a head first")
        with self._read("reading the audit log") as conn:
            current = int(self._state(conn).size)
            if head.size > current:
                raise AuditError(f"head size {head.size} is beyond the log's size {current}")
            data = conn.execute(
                sa.select(audit_leaves.c.event).where(audit_leaves.c.idx == idx)
            ).scalar()
            if data is None:
                raise AuditError(f"event {idx} is missing from the store: run `veil audit verify`")
            plan = inclusion_plan(idx, head.size)
            got = dict(zip(plan.ids, self._nodes(conn, plan.ids), strict=True))
        proof = build_proof(
            event_bytes=bytes(data),
            leaf_index=idx,
            head=head,
            get_node=lambda lv, ix: got[NodeID(lv, ix)],
            public_key=public_key,
        )
        if path is not None:
            write_proof_file(path, proof)
        return proof

    # ------------------------------------------------------------------ reading events

    def events(
        self,
        *,
        action: str | None = None,
        actor: str | None = None,
        purpose: str | None = None,
        outcome: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        start: int = 0,
        newest_first: bool = False,
        limit: int | None = None,
        page_size: int = 1000,
    ) -> Iterator[LoggedEvent]:
        """Stored events matching every given filter, by index (``newest_first`` reverses).

        ``action`` may end with ``*`` to match a prefix (``run.*``). ``since``/``until`` bound the
        event time (inclusive/exclusive). Pages through the log; memory stays bounded.
        """
        c = audit_leaves.c
        conds: list[sa.ColumnElement[bool]] = []
        for col, value in (
            (c.action, action),
            (c.actor, actor),
            (c.purpose, purpose),
            (c.outcome, outcome),
        ):
            if value is None:
                continue
            if value.endswith("*"):
                prefix = value[:-1]
                conds.append(sa.func.substr(col, 1, len(prefix)) == prefix)
            else:
                conds.append(col == value)
        if since is not None:
            conds.append(c.time >= _time_bound(since))
        if until is not None:
            conds.append(c.time < _time_bound(until))
        cursor: int | None = None
        left = limit
        while left is None or left > 0:
            page = page_size if left is None else min(page_size, left)
            q = _leaf_select().where(*conds)
            if newest_first:
                if cursor is not None:
                    q = q.where(c.idx < cursor)
                q = q.order_by(c.idx.desc())
            else:
                q = q.where(c.idx >= (start if cursor is None else cursor + 1))
                q = q.order_by(c.idx)
            with self._read("reading the audit log") as conn:
                rows = conn.execute(q.limit(page)).all()
            for row in rows:
                yield _logged(row)
            if len(rows) < page:
                return
            cursor = rows[-1][0]
            if left is not None:
                left -= len(rows)

    # ------------------------------------------------------------------ verify

    def verify(
        self,
        *,
        public_key: Ed25519PublicKey | None = None,
        chunk_size: int = 1 << 15,
    ) -> VerifyReport:
        """Recompute the whole tree from the stored events and check everything against it.

        Checks, leaf by leaf: no index missing or extra; each event's leaf hash equals its stored
        leaf hash and its level-0 node; its filter columns match it; every stored node equals the
        recomputed one; every signed head's signature (under ``public_key`` if given, else the
        log's stored key, which must match the workspace key file when present) and root; the
        log state. Streams the log in chunks of ``chunk_size`` leaves (a power of two; memory
        stays bounded). Raises :class:`AuditVerifyError` naming the first bad index and the check.
        """
        if chunk_size < 2 or chunk_size & (chunk_size - 1):
            raise AuditError(f"chunk_size must be a power of two >= 2, got {chunk_size}")
        t0 = _time.perf_counter()
        with self._read("reading the audit log") as conn:
            st = self._state(conn)
            head_rows = conn.execute(
                sa.select(
                    audit_heads.c.size,
                    audit_heads.c.root,
                    audit_heads.c.timestamp,
                    audit_heads.c.key_id,
                    audit_heads.c.note,
                ).order_by(audit_heads.c.size)
            ).all()
        size, root = int(st.size), bytes(st.root)
        origin = st.origin
        pk = public_key
        if pk is None and st.public_key:
            pk = load_public_key_pem(st.public_key.encode())
            on_disk = load_signing_key(self.workspace.root, create=False)
            if on_disk is not None and (
                on_disk.public_key().public_bytes_raw() != pk.public_bytes_raw()
            ):
                raise AuditVerifyError(
                    0,
                    "bad signature",
                    "the public key in the database is not the workspace's "
                    "signing key (replaced key?)",
                )
        heads = [_check_head_row(r, origin, pk) for r in head_rows]
        if heads and heads[-1].size > size:
            raise AuditVerifyError(
                size,
                "deleted leaf",
                f"a head is signed for size {heads[-1].size} but the log has {size} leaves "
                "(leaves at the end were deleted)",
            )
        checker = _TreeChecker(heads, chunk_size.bit_length() - 1)
        with self._read("reading the audit log") as conn:
            cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            ph = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            leaf_sql = (
                "SELECT idx, event, leaf_hash, time, action, actor, purpose, outcome "
                f"FROM audit_leaves WHERE idx >= {ph} AND idx < {ph} ORDER BY idx"
            )
            node_sql = (
                f"SELECT idx, hash FROM audit_nodes WHERE level = {ph} AND idx >= {ph} "
                f"AND idx < {ph} ORDER BY idx"
            )

            def stored_level(level: int, a: int, b: int) -> list[tuple[int, bytes]]:
                cur.execute(node_sql, (level, a, b))
                return list(cur.fetchall())

            def stored_nodes(ids: Sequence[NodeID]) -> dict[tuple[int, int], bytes]:
                out = {}
                for n in ids:
                    got = stored_level(n.level, n.index, n.index + 1)
                    if got:
                        out[(n.level, n.index)] = got[0][1]
                return out

            try:
                for lo in range(0, size, chunk_size):
                    hi = min(size, lo + chunk_size)
                    cur.execute(leaf_sql, (lo, hi))
                    rows = cur.fetchall()
                    checker.chunk(lo, hi, rows, stored_level, stored_nodes)
            except _LeafMismatch as m:
                raise self._classify(m.index, m.leaf_hash) from None
            finally:
                cur.close()
        checker.finish(size)
        if checker.root != root:
            raise AuditVerifyError(
                size, "state", "the stored log root is not the root of the stored events"
            )
        c, n = audit_leaves.c, audit_nodes.c
        with self._read("reading the audit log") as conn:
            extra = conn.execute(
                sa.select(sa.func.min(c.idx)).where(sa.or_(c.idx >= size, c.idx < 0))
            ).scalar()
            if extra is not None:
                raise AuditVerifyError(
                    int(extra),
                    "inserted leaf",
                    f"a leaf row at index {extra} is outside the log of size {size}",
                )
            count = conn.execute(sa.select(sa.func.count()).select_from(audit_nodes)).scalar()
            want = 2 * size - size.bit_count()
            if count != want:
                bad = conn.execute(
                    sa.select(n.level, n.idx)
                    .where(
                        sa.or_(
                            n.idx >= sa.literal(size, sa.BigInteger).op(">>")(n.level),
                            n.idx < 0,
                            n.level < 0,
                        )
                    )
                    .limit(1)
                ).first()
                where = f", e.g. node (level {bad[0]}, index {bad[1]})" if bad else ""
                raise AuditVerifyError(
                    size, "inserted node", f"the node table has {count} rows, want {want}{where}"
                )
        return VerifyReport(
            origin=origin or "",
            size=size,
            root=root,
            heads_checked=len(heads),
            latest_signed_size=heads[-1].size if heads else None,
            nodes_checked=checker.nodes_checked,
            key_id=st.key_id,
            seconds=_time.perf_counter() - t0,
        )

    def _classify(self, k: int, got: bytes) -> AuditVerifyError:
        """Name what happened at leaf ``k`` whose event hash ``got`` is not level-0 node ``k``."""
        n = audit_nodes.c
        with self._read("reading the audit log") as conn:
            want = conn.execute(sa.select(n.hash).where(n.level == 0, n.idx == k)).scalar()
            moved_from = conn.execute(
                sa.select(n.idx).where(n.level == 0, n.hash == got).limit(1)
            ).scalar()
            nxt = conn.execute(
                sa.select(audit_leaves.c.event).where(audit_leaves.c.idx == k + 1)
            ).scalar()
            here_elsewhere = None
            if want is not None:
                here_elsewhere = conn.execute(
                    sa.select(audit_leaves.c.idx)
                    .where(audit_leaves.c.leaf_hash == bytes(want), audit_leaves.c.idx != k)
                    .limit(1)
                ).scalar()
        nxt_hash = hashlib.sha256(b"\x00" + bytes(nxt)).digest() if nxt is not None else None
        if moved_from is not None and moved_from != k:
            if here_elsewhere is not None:
                return AuditVerifyError(
                    k,
                    "reordered leaf",
                    f"leaf {k} holds the event of leaf {moved_from}; its own event is at "
                    f"{here_elsewhere}",
                )
            if moved_from > k:
                return AuditVerifyError(
                    k,
                    "deleted leaf",
                    f"leaf {k} holds the event of leaf {moved_from}: "
                    f"{moved_from - k} leaf(s) deleted and the rest moved down",
                )
            return AuditVerifyError(
                k, "reordered leaf", f"leaf {k} holds the event of leaf {moved_from}"
            )
        if want is not None and nxt_hash == bytes(want):
            return AuditVerifyError(
                k, "inserted leaf", f"an event was inserted at {k} and the rest moved up"
            )
        return AuditVerifyError(
            k, "modified event", f"event {k} does not hash to the stored tree's leaf {k}"
        )

    # ------------------------------------------------------------------ export

    def export(self, path: str | PathLike[str], *, sign: bool = True) -> ExportReport:
        """Write the log as JSON lines (``veil-audit-export/v1``); returns what it holds.

        With ``sign`` (default) the current head is signed first, so the whole export is covered
        by a signed head. The file is written to a temporary name and renamed when complete.
        """
        if sign:
            self.sign_head()
        with self._read("reading the audit log") as conn:
            st = self._state(conn)
        size = int(st.size)
        heads = [h for h in self.heads() if h.size <= size]
        out = Path(path)
        tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
        header = {
            "format": EXPORT_FORMAT,
            "origin": st.origin,
            "size": size,
            "public_key": st.public_key,
            "key_id": st.key_id,
        }
        frontier = CompactRange()
        try:
            with open(tmp, "wb") as f:
                f.write(_jline(header))
                hi_heads = iter(heads)
                nxt = next(hi_heads, None)
                while nxt is not None and nxt.size == 0:
                    f.write(_jline({"checkpoint": nxt.to_note()}))
                    nxt = next(hi_heads, None)
                c = audit_leaves.c
                lo = 0
                while lo < size:
                    hi = min(size, lo + 10_000)
                    with self._read("reading the audit log") as conn:
                        datas = conn.execute(
                            sa.select(c.idx, c.event).where(c.idx >= lo, c.idx < hi).order_by(c.idx)
                        ).all()
                    if len(datas) != hi - lo:
                        raise AuditError(
                            "events are missing from the store: run `veil audit verify`"
                        )
                    page: list[bytes] = []
                    for i, d in datas:
                        data = bytes(d)
                        if b"\n" in data:
                            raise AuditError(f"event {i} is not canonical: run `veil audit verify`")
                        f.write(data + b"\n")
                        page.append(hashlib.sha256(b"\x00" + data).digest())
                        while nxt is not None and nxt.size == i + 1:
                            f.write(_jline({"checkpoint": nxt.to_note()}))
                            nxt = next(hi_heads, None)
                    frontier.append(page)
                    lo = hi
                if frontier.root() != bytes(st.root):
                    raise AuditError(
                        "the stored events do not give the log root: run `veil audit verify`"
                    )
                f.write(
                    _jline(
                        {
                            "end": EXPORT_FORMAT,
                            "size": size,
                            "root": bytes(st.root).hex(),
                            "heads": len(heads),
                        }
                    )
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, out)
        except OSError as exc:
            raise AuditError(f"cannot write the export: {exc.strerror}", where=str(out)) from None
        finally:
            tmp.unlink(missing_ok=True)
        return ExportReport(
            origin=st.origin or "",
            size=size,
            root=bytes(st.root),
            heads_checked=len(heads),
            latest_signed_size=heads[-1].size if heads else None,
            key_id=st.key_id,
            key_trusted=True,
        )

    # ------------------------------------------------------------------ sinks

    def deliver(
        self,
        *,
        now: datetime | None = None,
        batch_size: int = 500,
        max_batches: int | None = None,
        lease: float = 300.0,
    ) -> DeliveryReport:
        """Forward due outbox items to their sinks; never raises for a sink that is down.

        For each configured sink: claim up to ``batch_size`` due items (their ``next_attempt`` is
        pushed ``lease`` seconds ahead, so a concurrent ``deliver`` skips them), send them, and
        delete them on success; on failure they are rescheduled with exponential backoff
        (``retry_base * 2**(attempts-1)``, at most ``retry_max`` seconds) and the error is kept.
        A crash between sending and deleting resends them later: delivery is at least once.
        """
        now = now or datetime.now(UTC)
        origin = self.origin
        report = DeliveryReport()
        for sink in self.sinks:
            batches = 0
            report.delivered[sink.name] = 0
            while max_batches is None or batches < max_batches:
                batches += 1
                claimed = self._claim(sink.name, now, batch_size, lease)
                if not claimed:
                    break
                records = [
                    SinkRecord(
                        origin=origin,
                        idx=int(r[1]),
                        event=bytes(r[3]),
                        leaf_hash=bytes(r[4]),
                        time=r[5],
                        action=r[6],
                        actor=r[7],
                        purpose=r[8],
                        outcome=r[9],
                    )
                    for r in claimed
                ]
                try:
                    sink.send(records)
                except Exception as exc:  # a sink's failure must never lose or block events
                    err = f"{type(exc).__name__}: {exc}"[:300]
                    report.failed[sink.name] = err
                    self._reschedule(claimed, now, err)
                    break
                self._done([r[0] for r in claimed])
                report.delivered[sink.name] += len(records)
                if len(claimed) < batch_size:
                    break
        report.pending.update(self.outbox_pending())
        return report

    def _claim(self, sink: str, now: datetime, limit: int, lease: float) -> list[Any]:
        o, lv = audit_outbox.c, audit_leaves.c
        due = format_time(now)
        with self._write("claiming outbox items") as conn:
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
        with self._write("rescheduling outbox items") as conn:
            for attempts, ids in by_attempts.items():
                delay = min(self.retry_max, self.retry_base * 2 ** (attempts - 1))
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
        with self._write("clearing delivered outbox items") as conn:
            conn.execute(audit_outbox.delete().where(audit_outbox.c.id.in_(list(ids))))

    def outbox_pending(self) -> dict[str, int]:
        """How many events wait in the outbox, per sink name (configured or not)."""
        o = audit_outbox.c
        with self._read("reading the outbox") as conn:
            rows = conn.execute(sa.select(o.sink, sa.func.count()).group_by(o.sink)).all()
        return {str(s): int(n) for s, n in rows}

    def outbox_status(self) -> list[dict[str, Any]]:
        """Per sink: pending count, most attempts, next attempt and last error."""
        o = audit_outbox.c
        with self._read("reading the outbox") as conn:
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


# --------------------------------------------------------------------------- helpers


def _leaf_select() -> sa.Select[Any]:
    c = audit_leaves.c
    return sa.select(c.idx, c.event, c.leaf_hash, c.time, c.action, c.actor, c.purpose, c.outcome)


def _logged(row: Any) -> LoggedEvent:
    return LoggedEvent(
        int(row[0]), bytes(row[1]), bytes(row[2]), row[3], row[4], row[5], row[6], row[7]
    )


def _time_bound(value: datetime | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return format_time(value)
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise AuditError(f"time {value!r} is not an ISO date or date-time") from None
    return _time_bound(dt)


def _jline(obj: Mapping[str, Any]) -> bytes:
    return (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    )


class _LeafMismatch(Exception):
    def __init__(self, index: int, leaf_hash: bytes) -> None:
        self.index = index
        self.leaf_hash = leaf_hash


def _check_head_row(row: Any, origin: str | None, pk: Ed25519PublicKey | None) -> SignedTreeHead:
    size = int(row[0])

    def fail(check: str, detail: str) -> AuditVerifyError:
        return AuditVerifyError(size, check, f"head for size {size}: {detail}")

    try:
        head = SignedTreeHead.from_note(row[4])
    except VeilError as exc:
        raise fail("head altered", exc.message) from None
    if pk is None:
        raise fail("bad signature", "signed heads exist but the log has no public key")
    if head.origin != origin:
        raise fail("head altered", f"it names origin {head.origin!r}, the log is {origin!r}")
    try:
        verify_tree_head(head, pk)
    except AuditError as exc:
        raise fail("bad signature", exc.message) from None
    stored = (size, bytes(row[1]), row[2], row[3])
    if (head.size, head.root, format_time(head.timestamp), head.key_id) != stored:
        raise fail("head altered", "its stored columns disagree with its signed note")
    return head


def _fold(hashes: Sequence[bytes]) -> bytes:
    """The root over consecutive perfect subtrees (sizes non-increasing), as in RFC 6962."""
    if not hashes:
        return _EMPTY
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hashlib.sha256(b"\x01" + h + acc).digest()
    return acc


def _dumps(value: str) -> bytes:
    # RFC 8785 writes strings exactly as json.dumps(ensure_ascii=False) does.
    return json.dumps(value, ensure_ascii=False).encode()


class _TreeChecker:
    """Recomputes the tree chunk by chunk and compares it with the stored rows and heads.

    Chunks are aligned blocks of ``2**k`` leaves. Inside a chunk, nodes of levels ``0..k`` are
    recomputed level by level and compared, a level at a time, with the stored rows of that
    level; the root of each full chunk is appended to ``upper``, a compact range whose leaves are
    chunk roots, which yields the nodes above level ``k``.
    """

    def __init__(self, heads: Sequence[SignedTreeHead], k: int) -> None:
        self.k = k
        self.upper = CompactRange()
        self.heads = list(heads)
        self._next_head = 0
        self.nodes_checked = 0
        self.size = 0
        self.root = _EMPTY
        self._prefix: dict[tuple[str, str], bytes] = {}
        self._middle: dict[tuple[str, str], bytes] = {}
        self._heads_upto(0, [], 0)

    def _heads_upto(self, upto: int, levels: Sequence[Sequence[bytes]], lo: int) -> None:
        base = [h for _, h in self.upper.frontier]
        while self._next_head < len(self.heads) and self.heads[self._next_head].size <= upto:
            head = self.heads[self._next_head]
            root = self._root(base, levels, lo, head.size)
            if root != head.root:
                raise AuditVerifyError(
                    head.size,
                    "head root mismatch",
                    f"the head signed for size {head.size} has root {head.root.hex()[:16]}…, "
                    f"the stored events give {root.hex()[:16]}… (a leaf before {head.size} was "
                    "altered together with its tree)",
                )
            self._next_head += 1

    @staticmethod
    def _root(base: list[bytes], levels: Sequence[Sequence[bytes]], lo: int, s: int) -> bytes:
        local = [levels[n.level][n.index - (lo >> n.level)] for n in range_nodes(lo, s)]
        return _fold(base + local)

    def _columns_ok(self, data: bytes, row: Sequence[Any]) -> bool:
        # The canonical layout is fixed: {"action":..,"actor":..,"counts":.. ... "outcome":..,
        # "purpose":..,"subjects":[..],"time":"<27 chars>","v":1}. "subjects" holds an array only
        # at the top level (details hold scalars), so the middle needle can match only there.
        key = (row[4], row[5])
        prefix = self._prefix.get(key)
        if prefix is None:
            prefix = b'{"action":' + _dumps(row[4]) + b',"actor":' + _dumps(row[5]) + b',"counts":'
            self._prefix[key] = prefix
        key = (row[7], row[6])
        middle = self._middle.get(key)
        if middle is None:
            middle = (
                b',"outcome":' + _dumps(row[7]) + b',"purpose":' + _dumps(row[6]) + b',"subjects":['
            )
            self._middle[key] = middle
        data = bytes(data)
        return (
            data.startswith(prefix)
            and middle in data
            and data[-44:] == b',"time":"' + str(row[3]).encode() + b'","v":1}'
        )

    def chunk(
        self,
        lo: int,
        hi: int,
        rows: Sequence[Sequence[Any]],
        stored_level: Any,
        stored_nodes: Any,
    ) -> None:
        sha = hashlib.sha256
        level0 = stored_level(0, lo, hi)
        if len(level0) == hi - lo and (
            not level0 or (level0[0][0] == lo and level0[-1][0] == hi - 1)
        ):
            s0: Any = [h for _, h in level0]
            offset = lo
        else:
            s0 = {i: h for i, h in level0}
            offset = 0
        hashes: list[bytes] = []
        expect = lo
        prefixes, middles = self._prefix, self._middle
        for row in rows:
            idx, data = row[0], row[1]
            if idx != expect:
                raise AuditVerifyError(
                    expect, "deleted leaf", f"leaf {expect} is missing (its row was deleted)"
                )
            h = sha(b"\x00" + data).digest()
            if h != row[2]:
                raise AuditVerifyError(
                    idx, "modified event", f"event {idx} does not hash to its stored leaf hash"
                )
            # The filter columns against the event, without parsing it (see _columns_ok).
            prefix = prefixes.get((row[4], row[5]))
            middle = middles.get((row[7], row[6]))
            if (
                prefix is None
                or middle is None
                or not data.startswith(prefix)
                or middle not in data
                or data[-44:] != b',"time":"' + row[3].encode() + b'","v":1}'
            ) and not self._columns_ok(data, row):
                raise AuditVerifyError(
                    idx,
                    "filter columns",
                    f"the time/action/actor/purpose/outcome columns of leaf {idx} disagree with "
                    "its event",
                )
            try:
                node = s0[idx - offset]
            except (KeyError, IndexError):
                raise AuditVerifyError(
                    idx, "missing node", f"leaf node (0, {idx}) is missing"
                ) from None
            if node != h:
                raise _LeafMismatch(idx, h)
            hashes.append(h)
            expect += 1
        if expect != hi:
            raise AuditVerifyError(
                expect, "deleted leaf", f"leaf {expect} is missing (its row was deleted)"
            )
        self.nodes_checked += len(hashes)
        levels: list[list[bytes]] = [hashes]
        cur = hashes
        for level in range(1, self.k + 1):
            if len(cur) < 2:
                break
            cur = [sha(b"\x01" + cur[i] + cur[i + 1]).digest() for i in range(0, len(cur) - 1, 2)]
            levels.append(cur)
            first = lo >> level
            stored = stored_level(level, first, first + len(cur))
            if [h for _, h in stored] != cur:
                self._node_error(level, first, cur, stored)
            self.nodes_checked += len(cur)
        self._heads_upto(hi, levels, lo)
        if hi - lo == 1 << self.k:  # a full chunk: its root is a leaf of the upper tree
            res = self.upper.append([levels[self.k][0]])
            ids = [NodeID(lv + self.k, ix) for (lv, ix) in res.nodes if lv > 0]
            stored_up = stored_nodes(ids)
            for n in sorted(ids, key=lambda n: n.level):
                want = res.nodes[(n.level - self.k, n.index)]
                got = stored_up.get((n.level, n.index))
                if got != want:
                    self._raise_node(n.level, n.index, got is None)
            self.nodes_checked += len(ids)
            self.size, self.root = hi, self.upper.root()
        else:
            self.size, self.root = (
                hi,
                self._root([h for _, h in self.upper.frontier], levels, lo, hi),
            )

    def _node_error(
        self, level: int, first: int, want: Sequence[bytes], stored: Sequence[tuple[int, bytes]]
    ) -> None:
        got = dict(stored)
        for j, h in enumerate(want):
            if got.get(first + j) != h:
                self._raise_node(level, first + j, first + j not in got)
        extra = sorted(set(got) - set(range(first, first + len(want))))
        self._raise_node(level, extra[0], False)

    @staticmethod
    def _raise_node(level: int, index: int, missing: bool) -> None:
        begin = index << level
        if missing:
            raise AuditVerifyError(
                begin, "missing node", f"node (level {level}, index {index}) is missing"
            )
        raise AuditVerifyError(
            begin,
            "bad node",
            f"node (level {level}, index {index}) over leaves {begin}..{begin + (1 << level) - 1} "
            "differs from the hash of its leaves",
        )

    def finish(self, size: int) -> None:
        if self.size != size:
            raise AuditVerifyError(self.size, "deleted leaf", "the log ends early")
        if self._next_head != len(self.heads):
            head = self.heads[self._next_head]
            raise AuditVerifyError(
                size, "deleted leaf", f"a head is signed for size {head.size} > {size}"
            )


# --------------------------------------------------------------------------- export verification


def verify_export(
    path: str | PathLike[str], public_key: Ed25519PublicKey | None = None
) -> ExportReport:
    """Check an export file completely, streaming (bounded memory).

    Checks: header; every event line is an event object (its bytes, as written, are the leaf
    input); every checkpoint is signed (by
    ``public_key`` if given, which must equal the header's key; else by the header's key) for the
    header's origin and has the root of the events before it; the trailer's size and root match
    the events; nothing is missing at the end (a truncated export is an error naming the line).
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            return _verify_export_stream(f, str(p), public_key)
    except OSError as exc:
        raise AuditError(f"cannot read the export: {exc.strerror}", where=str(p)) from None


def _verify_export_stream(
    f: io.BufferedReader, where: str, public_key: Ed25519PublicKey | None
) -> ExportReport:
    def line_obj(raw: bytes, n: int) -> dict[str, Any]:
        if not raw.endswith(b"\n"):
            raise AuditVerifyError(
                size_seen,
                "truncated export",
                "the file ends in the middle of a line",
                where=f"{where}:{n}",
            )
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise AuditError("line is not JSON", where=f"{where}:{n}") from None
        if not isinstance(obj, dict):
            raise AuditError("line is not a JSON object", where=f"{where}:{n}")
        return obj

    size_seen = 0
    first = f.readline()
    if not first:
        raise AuditVerifyError(0, "truncated export", "the file is empty", where=where)
    header = line_obj(first, 1)
    if header.get("format") != EXPORT_FORMAT:
        raise AuditError(
            f"not a {EXPORT_FORMAT} file (header format {header.get('format')!r})",
            where=f"{where}:1",
        )
    origin = header.get("origin")
    size = header.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise AuditError("header size must be a non-negative integer", where=f"{where}:1")
    key: Ed25519PublicKey | None = None
    if isinstance(header.get("public_key"), str):
        key = load_public_key_pem(header["public_key"].encode())
    if public_key is not None:
        if key is not None and key.public_bytes_raw() != public_key.public_bytes_raw():
            raise AuditVerifyError(
                0,
                "bad signature",
                "the export's public key is not the key "
                "given to verify with (an export of another log?)",
                where=where,
            )
        key = public_key
    frontier = CompactRange()
    pending: list[bytes] = []
    heads = 0
    latest: int | None = None
    n = 1
    for raw in f:
        n += 1
        if raw.startswith(b'{"action":'):
            if not raw.endswith(b"\n"):
                raise AuditVerifyError(
                    size_seen,
                    "truncated export",
                    "the file ends in the middle of an event",
                    where=f"{where}:{n}",
                )
            data = raw[:-1]
            try:
                obj = json.loads(data)
            except (ValueError, UnicodeDecodeError):
                obj = None
            if not isinstance(obj, dict) or obj.get("v") != 1:
                raise AuditVerifyError(
                    size_seen, "modified event", "not an audit event", where=f"{where}:{n}"
                )
            pending.append(hashlib.sha256(b"\x00" + data).digest())
            size_seen += 1
            if len(pending) >= 10_000:
                frontier.append(pending)
                pending = []
            continue
        if pending:
            frontier.append(pending)
            pending = []
        obj = line_obj(raw, n)
        if "checkpoint" in obj:
            try:
                head = SignedTreeHead.from_note(obj["checkpoint"])
            except AuditError as exc:
                raise AuditVerifyError(
                    size_seen, "head altered", exc.message, where=f"{where}:{n}"
                ) from None
            if head.origin != origin:
                raise AuditVerifyError(
                    head.size,
                    "head altered",
                    f"checkpoint is for origin {head.origin!r}, the export is of {origin!r}",
                    where=f"{where}:{n}",
                )
            if key is None:
                raise AuditVerifyError(
                    head.size, "bad signature", "the export has no public key", where=where
                )
            try:
                verify_tree_head(head, key)
            except AuditError as exc:
                raise AuditVerifyError(
                    head.size, "bad signature", exc.message, where=f"{where}:{n}"
                ) from None
            if head.size != size_seen:
                raise AuditVerifyError(
                    head.size,
                    "head altered",
                    f"checkpoint for size {head.size} comes after {size_seen} events",
                    where=f"{where}:{n}",
                )
            if head.root != frontier.root():
                raise AuditVerifyError(
                    head.size,
                    "head root mismatch",
                    f"the events before the checkpoint for size {head.size} do not give its root",
                    where=f"{where}:{n}",
                )
            heads += 1
            latest = head.size
            continue
        if obj.get("end") == EXPORT_FORMAT:
            if obj.get("size") != size_seen or size_seen != size:
                raise AuditVerifyError(
                    size_seen,
                    "truncated export",
                    f"the trailer says {obj.get('size')} events, the header "
                    f"{size}, the file has {size_seen}",
                    where=f"{where}:{n}",
                )
            if obj.get("root") != frontier.root().hex():
                raise AuditVerifyError(
                    size_seen,
                    "state",
                    "the trailer root is not the root of the events",
                    where=f"{where}:{n}",
                )
            if obj.get("heads") != heads:
                raise AuditVerifyError(
                    size_seen,
                    "truncated export",
                    f"the trailer says {obj.get('heads')} checkpoints, the file has {heads}",
                    where=f"{where}:{n}",
                )
            if f.read(1):
                raise AuditError("data after the trailer", where=f"{where}:{n + 1}")
            return ExportReport(
                origin=str(origin),
                size=size_seen,
                root=frontier.root(),
                heads_checked=heads,
                latest_signed_size=latest,
                key_id=header.get("key_id"),
                key_trusted=public_key is not None,
            )
        raise AuditError(
            "unknown line (neither an event, a checkpoint nor the trailer)", where=f"{where}:{n}"
        )
    raise AuditVerifyError(
        size_seen,
        "truncated export",
        f"the file ends after {size_seen} of {size} events without its trailer line (truncated?)",
        where=where,
    )


__all__ = [
    "EXPORT_FORMAT",
    "KEY_FILE",
    "AuditLog",
    "AuditVerifyError",
    "DeliveryReport",
    "ExportReport",
    "LoggedEvent",
    "TreeHead",
    "VerifyReport",
    "load_signing_key",
    "verify_export",
]

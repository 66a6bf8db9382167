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

The signing key is ``<workspace>/keys/audit_signing.sealed`` (Ed25519, sealed under the
workspace's KEK, 0600); its public key is kept in ``audit_state`` so that anyone with the
database can verify, and checkpoints go to witnesses outside the workspace
(:mod:`~veil.audit.checkpoint`) so that a rewrite of the database shows.

:class:`AuditLog` is the facade; the append (the hot path of every operation) lives here, and the
rest in modules of their own: :mod:`~veil.audit.identity` (origin and key),
:mod:`~veil.audit.stored_heads`, :mod:`~veil.audit.stored_proofs`, :mod:`~veil.audit.query`,
:mod:`~veil.audit.verify`, :mod:`~veil.audit.export` and :mod:`~veil.audit.outbox`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from os import PathLike
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from veil.audit import stored_heads, stored_proofs
from veil.audit.checkpoint import CheckpointReport, WitnessCheck, checkpoint, verify_witnesses
from veil.audit.event import AuditEvent
from veil.audit.export import EXPORT_FORMAT, ExportReport, export_log, verify_export
from veil.audit.heads import SignedTreeHead, load_public_key_pem
from veil.audit.identity import (
    DEFAULT_ORIGIN_PREFIX,
    KEY_FILE,
    ensure_origin,
    load_signing_key,
    read_audit_config,
    registered_signing_key,
)
from veil.audit.merkle import CompactRange
from veil.audit.outbox import Backoff, DeliveryReport, Outbox
from veil.audit.proofs import TrustedHead, VerifiedProof, verify_proof_anchored, write_proof_file
from veil.audit.query import EventFilter, iter_events
from veil.audit.screen import screen_events
from veil.audit.sinks import Sink, sinks_from_config
from veil.audit.storage import (
    READING,
    LoggedEvent,
    TreeHead,
    insert_appended,
    leaf_select,
    load_frontier,
    logged,
    raw_write,
    read_state,
)
from veil.audit.trust import TrustReport, verify_from_trusted
from veil.audit.verify import VerifyReport, verify_log
from veil.audit.verify_error import AuditVerifyError
from veil.audit.witnesses import WitnessTarget, witnesses_from_config
from veil.errors import AuditError, AuditNotFoundError
from veil.store.schema import audit_leaves
from veil.store.transactions import read_connection
from veil.store.workspace import Workspace

__all__ = [
    "DEFAULT_ORIGIN_PREFIX",
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
        witnesses: Sequence[WitnessTarget] | None = None,
        retry_base: float = 1.0,
        retry_max: float = 3600.0,
    ) -> None:
        self.workspace = workspace.ready()
        self.engine = workspace.engine
        cfg = read_audit_config(workspace.root)
        self._origin_wanted = origin if origin is not None else cfg.get("origin")
        if sinks is None:
            sinks = sinks_from_config(cfg.get("sinks", {}), workspace.root)
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise AuditError(f"sink names must be unique, got {names}")
        self.sinks: list[Sink] = list(sinks)
        self._witnesses = list(witnesses) if witnesses is not None else None
        self._witness_cfg = cfg.get("witnesses", {})
        self.retry_base = retry_base
        self.retry_max = retry_max
        self._lock = threading.RLock()
        self._frontier: CompactRange | None = None
        self._origin: str | None = None
        self._key: Ed25519PrivateKey | None = None

    # ------------------------------------------------------------------ origin and key

    @property
    def origin(self) -> str:
        """The log's origin (its name in signed heads), fixed when the log is first used."""
        if self._origin is None:
            with self._lock:
                self._origin = ensure_origin(self.engine, self._origin_wanted)
        return self._origin

    def public_key(self) -> Ed25519PublicKey | None:
        """The log's public key as stored in the database (None before the first signed head)."""
        with read_connection(self.engine, READING) as conn:
            pem = read_state(conn).public_key
        return load_public_key_pem(pem.encode()) if pem else None

    def _signing_key(self) -> Ed25519PrivateKey:
        with self._lock:
            if self._key is None:
                self._key = registered_signing_key(self.engine, self.workspace.root, self.origin)
            return self._key

    # ------------------------------------------------------------------ append

    def append(self, events: Iterable[AuditEvent]) -> list[int]:
        """Append events in one durable transaction; returns their indexes (consecutive).

        Serialized against other writers (threads and processes). Each event is also queued in
        the outbox for every configured sink, in the same transaction.
        """
        evs = self._checked(events)
        if not evs:
            return []
        with self._lock:
            # Plain DBAPI calls: SQLAlchemy's per-statement and per-row work would cost more
            # than the inserts themselves (this is the hot path of every operation).
            try:
                with raw_write(self.engine, "appending to the audit log") as (cur, ph, sqlite):
                    start = self._write(cur, ph, sqlite, evs)
            except BaseException:
                self._frontier = None  # CompactRange.append mutated it; reload next time
                raise
        return list(range(start, start + len(evs)))

    def append_in(self, conn: sa.Connection, events: Iterable[AuditEvent]) -> list[int]:
        """Append events inside the caller's open write transaction ``conn``
        (`veil.store.transactions.write_transaction`): they commit or roll back with the
        caller's rows, so an operation and its events are stored together or not at all.

        The commit is the caller's: give ``write_transaction(..., durable=True)`` for the
        durability :meth:`append` gives. A commit without it (SQLite ``synchronous=NORMAL``,
        PostgreSQL ``synchronous_commit`` off) survives a process crash; a power loss may drop
        the last such commits, events and rows together, never events under a signed head or
        sent to a sink (signing a head and claiming outbox items commit durably first, and a
        database's commits reach the disk in order). On PostgreSQL
        the log's state row stays locked until the caller commits: keep the transaction short.
        """
        evs = self._checked(events)
        if not evs:
            return []
        if not conn.in_transaction():  # so that the caller's commit commits these statements
            conn.begin()
        sqlite = conn.dialect.name == "sqlite"
        cur = conn.connection.cursor()
        with self._lock:
            try:
                start = self._write(cur, "?" if sqlite else "%s", sqlite, evs)
            except BaseException:
                self._frontier = None
                raise
            finally:
                cur.close()
        # Until the caller commits, the cached tree is ahead of the stored one; a rollback
        # shows as a size or root mismatch and the next append reloads it (_frontier_at).
        return list(range(start, start + len(evs)))

    @staticmethod
    def _checked(events: Iterable[AuditEvent]) -> list[AuditEvent]:
        evs = list(events)
        for i, e in enumerate(evs):
            if not isinstance(e, AuditEvent):
                raise AuditError(f"events[{i}] is a {type(e).__name__}, not an AuditEvent")
        if evs:
            screen_events(evs)  # no personal data in free text (veil.audit.screen)
        return evs

    def _write(self, cur: Any, ph: str, sqlite: bool, evs: list[AuditEvent]) -> int:
        """Write ``evs`` as the next leaves with the DBAPI cursor of an open write transaction
        (the caller holds ``self._lock``); returns the first index."""
        datas = [e.canonical_bytes() for e in evs]
        hashes = [hashlib.sha256(b"\x00" + d).digest() for d in datas]
        lock = "" if sqlite else " FOR UPDATE"
        cur.execute(f"SELECT size, root FROM audit_state WHERE id = 1{lock}")
        start, root = cur.fetchone()
        frontier = self._frontier_at(cur, ph, start, bytes(root))
        res = frontier.append(hashes)
        insert_appended(cur, ph, start, evs, datas, hashes, res, [s.name for s in self.sinks])
        self._frontier = frontier
        return int(start)

    def _frontier_at(self, cur: Any, ph: str, size: int, root: bytes) -> CompactRange:
        """The cached compact range when it is still the stored tree's, else read from the store
        (another process appended meanwhile)."""
        cached = self._frontier
        if cached is not None and cached.size == size and cached.root() == root:
            return cached
        return load_frontier(cur, ph, size, root)

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

    # ------------------------------------------------------------------ heads

    def head(self) -> TreeHead:
        """The current size and root (unsigned)."""
        origin = self.origin
        with read_connection(self.engine, READING) as conn:
            st = read_state(conn)
        return TreeHead(origin, st.size, bytes(st.root))

    def sign_head(self, timestamp: datetime | None = None) -> SignedTreeHead:
        """Sign the current head (or return the head already signed at this size) and store it."""
        key = self._signing_key()
        return stored_heads.sign_current_head(self.engine, key, self.origin, timestamp)

    def signed_head(self, size: int | None = None) -> SignedTreeHead | None:
        """The signed head at ``size``, or the latest signed head; None if there is none."""
        return stored_heads.signed_head(self.engine, size)

    def heads(self) -> list[SignedTreeHead]:
        """Every signed head, smallest size first."""
        return stored_heads.all_heads(self.engine)

    # ------------------------------------------------------------------ proofs

    def inclusion_proof(self, idx: int, size: int | None = None) -> list[bytes]:
        """The RFC 6962 audit path of leaf ``idx`` in the tree of ``size`` (default: current).

        Reads only the ``O(log n)`` nodes the path needs, in one query.
        """
        return stored_proofs.inclusion_proof(self.engine, idx, size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """The RFC 6962 consistency proof from tree ``size1`` to ``size2`` (default: current)."""
        return stored_proofs.consistency_proof(self.engine, size1, size2)

    def root_at(self, size: int) -> bytes:
        """The root of the tree of the first ``size`` leaves (from ``popcount(size)`` nodes)."""
        return stored_proofs.root_at(self.engine, size)

    def prove(
        self,
        idx: int | None,
        path: str | PathLike[str] | None = None,
        *,
        head: SignedTreeHead | None = None,
        from_size: int | None = None,
    ) -> dict[str, Any]:
        """Build the proof file for event ``idx`` (``veil-audit-proof/v1``), write it to ``path``.

        The proof is under ``head``, else the latest signed head that covers ``idx``, else a newly
        signed head. With ``from_size`` it also holds the consistency proof from the tree of that
        size (``idx`` may then be None). It is verified before it is returned or written.
        """
        if idx is None and from_size is None:
            raise AuditError("nothing to prove: give an event index, a --from size, or both")
        if head is None:
            head = self.signed_head()
            if head is None or head.size <= (idx or 0) or head.size < (from_size or 0):
                head = self.sign_head()
        if idx is not None and (idx >= head.size or idx < 0):
            raise AuditNotFoundError(f"no event at index {idx} under the head of size "
                                     f"{head.size}")
        public_key = self.public_key()
        if public_key is None:
            raise AuditError("the log has no public key yet: sign a head first")
        proof = stored_proofs.event_proof(self.engine, idx, head, public_key, from_size)
        if path is not None:
            write_proof_file(path, proof)
        return proof

    def verify_proof(
        self,
        proof: str | PathLike[str] | Mapping[str, Any],
        *,
        trusted_head: TrustedHead | None = None,
    ) -> VerifiedProof:
        """Check a proof file against this log's public key (and ``trusted_head`` if given):
        :func:`veil.audit.proofs.verify_proof_anchored` with the log as the anchor."""
        key = self.public_key()
        if key is None:
            raise AuditError("this workspace's log has no key yet; pass --public-key")
        return verify_proof_anchored(proof, public_key=key, trusted_head=trusted_head)

    # ------------------------------------------------------------------ reading events

    def get(self, idx: int) -> LoggedEvent:
        """The stored event at ``idx`` (AuditError if there is none)."""
        with read_connection(self.engine, READING) as conn:
            row = conn.execute(leaf_select().where(audit_leaves.c.idx == idx)).first()
        if row is None:
            raise AuditNotFoundError(f"no event at index {idx} (the log has "
                                     f"{self.head().size})")
        return logged(row)

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
        where = EventFilter(action, actor, purpose, outcome, since, until)
        return iter_events(
            self.engine,
            where,
            start=start,
            newest_first=newest_first,
            limit=limit,
            page_size=page_size,
        )

    # ------------------------------------------------------------------ verify and export

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
        return verify_log(
            self.engine, self.workspace.root, public_key=public_key, chunk_size=chunk_size
        )

    def export(self, path: str | PathLike[str], *, sign: bool = True) -> ExportReport:
        """Write the log as JSON lines (``veil-audit-export/v1``); returns what it holds.

        With ``sign`` (default) the current head is signed first, so the whole export is covered
        by a signed head. The file is written to a temporary name and renamed when complete.
        """
        if sign:
            self.sign_head()
        with read_connection(self.engine, READING) as conn:
            st = read_state(conn)
        return export_log(self.engine, st, self.heads(), path)

    # ------------------------------------------------------------------ witnesses

    @property
    def witnesses(self) -> list[WitnessTarget]:
        """The witnesses checkpoints go to (default: ``[audit.witnesses]`` of ``veil.toml``)."""
        if self._witnesses is None:
            self._witnesses = witnesses_from_config(self._witness_cfg, self.workspace.root)
        return self._witnesses

    def checkpoint(self) -> CheckpointReport:
        """Sign the current head and publish it to every witness and sink (never raises for a
        witness that fails: the report says which, and the next checkpoint retries)."""
        return checkpoint(self, self.witnesses, self.sinks)

    def verify_from(
        self, head: SignedTreeHead, *, public_key: Ed25519PublicKey | None = None,
        source: str | None = None,
    ) -> TrustReport:
        """Verify the log from a head you trust (a saved checkpoint): the log still holds it and
        extends it (consistency proof), then the full :meth:`verify`."""
        return verify_from_trusted(self, head, public_key=public_key, source=source)

    def verify_witnesses(
        self, *, public_key: Ed25519PublicKey | None = None
    ) -> tuple[VerifyReport, list[WitnessCheck]]:
        """The full :meth:`verify`, then the log against the head each witness holds."""
        report = self.verify(public_key=public_key)
        return report, verify_witnesses(self, self.witnesses, public_key=public_key)

    # ------------------------------------------------------------------ sinks

    def _outbox(self) -> Outbox:
        return Outbox(self.engine, Backoff(self.retry_base, self.retry_max))

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
        return self._outbox().deliver(
            self.sinks,
            self.origin,
            now=now,
            batch_size=batch_size,
            max_batches=max_batches,
            lease=lease,
        )

    def outbox_pending(self) -> dict[str, int]:
        """How many events wait in the outbox, per sink name (configured or not)."""
        return self._outbox().pending()

    def outbox_status(self) -> list[dict[str, Any]]:
        """Per sink: pending count, most attempts, next attempt and last error."""
        return self._outbox().status()

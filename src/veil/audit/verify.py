"""Verifying the stored log: recompute the whole tree from the stored events, check it all.

:func:`verify_log` streams the log in chunks (memory stays bounded) through
:class:`veil.audit.tree_check.TreeChecker`, then checks what the chunks cannot see (rows outside
the tree, the state row). It raises :class:`AuditVerifyError` naming the first bad index and the
check that failed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.event import format_time
from veil.audit.heads import SignedTreeHead, key_id, load_public_key_pem, verify_tree_head
from veil.audit.identity import load_signing_key
from veil.audit.merkle import NodeID
from veil.audit.storage import READING, read_state
from veil.audit.tree_check import LeafMismatch, TreeChecker
from veil.audit.verify_error import AuditVerifyError
from veil.errors import AuditError, CryptoError, VeilError
from veil.store.schema import audit_heads, audit_leaves, audit_nodes
from veil.store.transactions import read_connection

__all__ = ["AuditVerifyError", "VerifyReport", "verify_log"]


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


def verify_log(
    engine: sa.Engine,
    workspace_root: Path,
    *,
    public_key: Ed25519PublicKey | None = None,
    chunk_size: int = 1 << 15,
) -> VerifyReport:
    """Recompute the whole tree from the stored events and check everything against it.

    See :meth:`veil.audit.log.AuditLog.verify` for the checks.
    """
    if chunk_size < 2 or chunk_size & (chunk_size - 1):
        raise AuditError(f"chunk_size must be a power of two >= 2, got {chunk_size}")
    t0 = time.perf_counter()
    with read_connection(engine, READING) as conn:
        st = read_state(conn)
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
    pk = public_key if public_key is not None else _stored_key(st, workspace_root)
    heads = [check_head_row(r, st.origin, pk) for r in head_rows]
    if heads and heads[-1].size > size:
        raise AuditVerifyError(
            size,
            "deleted leaf",
            f"a head is signed for size {heads[-1].size} but the log has {size} leaves "
            "(leaves at the end were deleted)",
        )
    checker = TreeChecker(heads, chunk_size.bit_length() - 1)
    _check_chunks(engine, checker, size, chunk_size)
    checker.finish(size)
    if checker.root != root:
        raise AuditVerifyError(
            size, "state", "the stored log root is not the root of the stored events"
        )
    _check_no_extra_rows(engine, size)
    return VerifyReport(
        origin=st.origin or "",
        size=size,
        root=root,
        heads_checked=len(heads),
        latest_signed_size=heads[-1].size if heads else None,
        nodes_checked=checker.nodes_checked,
        key_id=st.key_id,
        seconds=time.perf_counter() - t0,
    )


def _stored_key(st: Any, workspace_root: Path) -> Ed25519PublicKey | None:
    """The log's key as stored, checked against the state's key id and, when the workspace's
    KEK is at hand, against the sealed signing key (a verifier without the KEK skips that)."""
    if not st.public_key:
        if st.key_id is not None:
            raise AuditVerifyError(0, "state", "the state names a key id but holds no public key")
        return None
    try:
        pk = load_public_key_pem(str(st.public_key).encode())
    except CryptoError as exc:
        raise AuditVerifyError(0, "state", f"the stored public key: {exc.message}") from None
    try:
        want = key_id(pk, st.origin)
    except AuditError as exc:
        raise AuditVerifyError(0, "state", f"the stored origin: {exc.message}") from None
    if st.key_id != want:
        raise AuditVerifyError(
            0, "state", f"the stored key id {st.key_id!r} is not the stored key's ({want})"
        )
    try:
        on_disk = load_signing_key(workspace_root, create=False)
    except CryptoError:
        on_disk = None  # no KEK here: the heads are still checked under the stored key
    if on_disk is not None and on_disk.public_key().public_bytes_raw() != pk.public_bytes_raw():
        raise AuditVerifyError(
            0,
            "bad signature",
            "the public key in the database is not the workspace's signing key (replaced key?)",
        )
    return pk


def _check_chunks(engine: sa.Engine, checker: TreeChecker, size: int, chunk_size: int) -> None:
    """Feed the stored leaves and nodes to ``checker``, a chunk at a time (bare DBAPI cursor:
    this reads every row of the log)."""
    with read_connection(engine, READING) as conn:
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
        except LeafMismatch as m:
            raise classify_mismatch(engine, m.index, m.leaf_hash) from None
        finally:
            cur.close()


def _check_no_extra_rows(engine: sa.Engine, size: int) -> None:
    """No leaf row outside ``0..size-1``, and exactly the nodes a tree of ``size`` has."""
    c, n = audit_leaves.c, audit_nodes.c
    with read_connection(engine, READING) as conn:
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
        if count == want:
            return
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


def classify_mismatch(engine: sa.Engine, k: int, got: bytes) -> AuditVerifyError:
    """Name what happened at leaf ``k`` whose event hash ``got`` is not level-0 node ``k``."""
    n = audit_nodes.c
    with read_connection(engine, READING) as conn:
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
    if moved_from is not None and moved_from != k:
        return _moved(k, moved_from, here_elsewhere)
    nxt_hash = hashlib.sha256(b"\x00" + bytes(nxt)).digest() if nxt is not None else None
    if want is not None and nxt_hash == bytes(want):
        return AuditVerifyError(
            k, "inserted leaf", f"an event was inserted at {k} and the rest moved up"
        )
    return AuditVerifyError(
        k, "modified event", f"event {k} does not hash to the stored tree's leaf {k}"
    )


def _moved(k: int, moved_from: int, here_elsewhere: int | None) -> AuditVerifyError:
    """Leaf ``k`` holds the event of leaf ``moved_from``: reordered, or leaves deleted."""
    if here_elsewhere is not None:
        return AuditVerifyError(
            k,
            "reordered leaf",
            f"leaf {k} holds the event of leaf {moved_from}; its own event is at {here_elsewhere}",
        )
    if moved_from > k:
        return AuditVerifyError(
            k,
            "deleted leaf",
            f"leaf {k} holds the event of leaf {moved_from}: "
            f"{moved_from - k} leaf(s) deleted and the rest moved down",
        )
    return AuditVerifyError(k, "reordered leaf", f"leaf {k} holds the event of leaf {moved_from}")


def check_head_row(row: Any, origin: str | None, pk: Ed25519PublicKey | None) -> SignedTreeHead:
    """A stored head row, checked: its note parses, names the log's origin, is signed by ``pk``,
    and agrees with the row's columns."""
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

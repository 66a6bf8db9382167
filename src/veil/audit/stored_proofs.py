"""Proofs from the stored tree: each reads only the ``O(log n)`` nodes it needs, in one query.

:mod:`veil.audit.merkle` plans and checks proofs; :mod:`veil.audit.proofs` writes and reads
proof files; this module feeds them the stored nodes.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.heads import SignedTreeHead
from veil.audit.merkle import CompactRange, NodeID, consistency_plan, inclusion_plan, range_nodes
from veil.audit.proofs import build_proof
from veil.audit.storage import READING, read_nodes, read_state, size_or_current
from veil.errors import AuditError
from veil.store.schema import audit_leaves
from veil.store.transactions import read_connection


def inclusion_proof(engine: sa.Engine, idx: int, size: int | None = None) -> list[bytes]:
    """The RFC 6962 audit path of leaf ``idx`` in the tree of ``size`` (default: current)."""
    with read_connection(engine, READING) as conn:
        size = size_or_current(conn, size)
        plan = inclusion_plan(idx, size)
        return plan.rehash(read_nodes(conn, plan.ids))


def consistency_proof(engine: sa.Engine, size1: int, size2: int | None = None) -> list[bytes]:
    """The RFC 6962 consistency proof from tree ``size1`` to ``size2`` (default: current)."""
    with read_connection(engine, READING) as conn:
        size2 = size_or_current(conn, size2)
        plan = consistency_plan(size1, size2)
        return plan.rehash(read_nodes(conn, plan.ids))


def root_at(engine: sa.Engine, size: int) -> bytes:
    """The root of the tree of the first ``size`` leaves (from ``popcount(size)`` nodes)."""
    with read_connection(engine, READING) as conn:
        size = size_or_current(conn, size)
        return CompactRange(size, read_nodes(conn, range_nodes(0, size))).root()


def event_proof(
    engine: sa.Engine,
    idx: int | None,
    head: SignedTreeHead,
    public_key: Ed25519PublicKey,
    from_size: int | None = None,
) -> dict[str, Any]:
    """The (verified) ``veil-audit-proof/v1`` object of event ``idx`` (None: no event) under
    ``head``, with the consistency proof from the tree of ``from_size`` leaves when given."""
    with read_connection(engine, READING) as conn:
        current = int(read_state(conn).size)
        if head.size > current:
            raise AuditError(f"head size {head.size} is beyond the log's size {current}")
        got: dict[NodeID, bytes] = {}
        data = None
        if idx is not None:
            data = conn.execute(
                sa.select(audit_leaves.c.event).where(audit_leaves.c.idx == idx)
            ).scalar()
            if data is None:
                raise AuditError(f"event {idx} is missing from the store: run `veil audit verify`")
            plan = inclusion_plan(idx, head.size)
            got = dict(zip(plan.ids, read_nodes(conn, plan.ids), strict=True))
        consistency = None
        if from_size is not None:
            if not 1 <= from_size <= head.size:
                raise AuditError(
                    f"--from {from_size}: must be between 1 and the head's size {head.size}"
                )
            old_root = CompactRange(from_size, read_nodes(conn, range_nodes(0, from_size))).root()
            hashes: list[bytes] = []
            if 0 < from_size < head.size:
                cplan = consistency_plan(from_size, head.size)
                hashes = cplan.rehash(read_nodes(conn, cplan.ids))
            consistency = (from_size, old_root, hashes)
    return build_proof(
        event_bytes=bytes(data) if data is not None else None,
        leaf_index=idx,
        head=head,
        get_node=lambda lv, ix: got[NodeID(lv, ix)],
        public_key=public_key,
        consistency=consistency,
    )

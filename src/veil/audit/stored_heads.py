"""Signed tree heads in the store (``audit_heads``): at most one per tree size, never updated.

:mod:`veil.audit.heads` makes and checks the signed notes; this module keeps them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from veil.audit.event import format_time
from veil.audit.heads import SignedTreeHead, sign_tree_head
from veil.audit.storage import READING, read_state
from veil.errors import StoreError
from veil.store.schema import audit_heads
from veil.store.transactions import read_connection, write_transaction


def head_at(conn: sa.Connection, size: int) -> SignedTreeHead | None:
    """The stored signed head for tree ``size``, if any."""
    note = conn.execute(sa.select(audit_heads.c.note).where(audit_heads.c.size == size)).scalar()
    return SignedTreeHead.from_note(note) if note is not None else None


def sign_current_head(
    engine: sa.Engine, key: Ed25519PrivateKey, origin: str, timestamp: datetime | None = None
) -> SignedTreeHead:
    """Sign the current head and store it; the head already signed at this size wins (also
    when a concurrent signer stores it first)."""
    with read_connection(engine, READING) as conn:
        st = read_state(conn)
        existing = head_at(conn, st.size)
    if existing is not None:
        return existing
    head = sign_tree_head(key, origin, st.size, bytes(st.root), timestamp)
    try:
        with write_transaction(engine, "storing a signed tree head", durable=True) as conn:
            if head_at(conn, head.size) is None:
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
        with read_connection(engine, READING) as conn:
            existing = head_at(conn, head.size)
        if existing is None:
            raise
        return existing
    with read_connection(engine, READING) as conn:
        stored = head_at(conn, head.size)
    return stored if stored is not None else head


def signed_head(engine: sa.Engine, size: int | None = None) -> SignedTreeHead | None:
    """The signed head at ``size``, or the latest signed head; None if there is none."""
    with read_connection(engine, READING) as conn:
        if size is not None:
            return head_at(conn, size)
        note = conn.execute(
            sa.select(audit_heads.c.note).order_by(audit_heads.c.size.desc()).limit(1)
        ).scalar()
    return SignedTreeHead.from_note(note) if note is not None else None


def all_heads(engine: sa.Engine) -> list[SignedTreeHead]:
    """Every signed head, smallest size first."""
    with read_connection(engine, READING) as conn:
        notes = conn.execute(sa.select(audit_heads.c.note).order_by(audit_heads.c.size)).scalars()
        return [SignedTreeHead.from_note(n) for n in notes]

"""audit log: leaves, Merkle nodes, signed heads, log state and the sinks' outbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    state = op.create_table(
        "audit_state",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("origin", sa.String(255)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("public_key", sa.Text),
        sa.Column("key_id", sa.String(8)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_state")),
    )
    # The single state row: an empty log (root = SHA-256 of the empty string, RFC 6962).
    op.bulk_insert(state, [{"id": 1, "size": 0, "root": hashlib.sha256(b"").digest()}])

    op.create_table(
        "audit_leaves",
        sa.Column("idx", _INT, nullable=False, autoincrement=False),
        sa.Column("event", sa.LargeBinary, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
        sa.Column("time", sa.String(27), nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_audit_leaves")),
    )
    op.create_index("ix_audit_leaves_time", "audit_leaves", ["time"])
    op.create_index("ix_audit_leaves_action", "audit_leaves", ["action"])

    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger, nullable=False, autoincrement=False),
        sa.Column("idx", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_nodes")),
        sqlite_with_rowid=False,
    )

    op.create_table(
        "audit_heads",
        sa.Column("size", sa.BigInteger, nullable=False, autoincrement=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("timestamp", sa.String(27), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_heads")),
    )

    op.create_table(
        "audit_outbox",
        sa.Column("id", _INT, nullable=False, autoincrement=True),
        sa.Column("sink", sa.String(64), nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.String(27), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_outbox")),
        sa.UniqueConstraint("sink", "idx", name="uq_audit_outbox_sink_idx"),
    )
    op.create_index("ix_audit_outbox_due", "audit_outbox", ["sink", "next_attempt"])


def downgrade() -> None:
    op.drop_index("ix_audit_outbox_due", table_name="audit_outbox")
    op.drop_table("audit_outbox")
    op.drop_table("audit_heads")
    op.drop_table("audit_nodes")
    for name in ("action", "time"):
        op.drop_index(f"ix_audit_leaves_{name}", table_name="audit_leaves")
    op.drop_table("audit_leaves")
    op.drop_table("audit_state")

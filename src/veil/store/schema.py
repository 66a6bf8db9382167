"""The one SQLAlchemy metadata of Veil's store. Alembic migrations create it; a test checks
that the migrations and this metadata agree."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("purpose", sa.String(128), nullable=False),
    sa.Column("dataset", sa.String(128), nullable=False),
    sa.Column("policy_path", sa.Text, nullable=False),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("input_ref", sa.Text, nullable=False),
    sa.Column("input_digest", sa.String(64)),
    sa.Column("output_ref", sa.Text, nullable=False),
    sa.Column("output_digest", sa.String(64)),
    sa.Column("rows_in", sa.BigInteger),
    sa.Column("rows_out", sa.BigInteger),
    sa.Column("receipt", sa.JSON),
    sa.Column("error", sa.Text),
    sa.Index("ix_runs_started_at", "started_at"),
)


# -- audit log (issue 8: tamper-evident audit trail; see veil.audit.log) --------------------------
# Leaf and node indexes are INTEGER on SQLite so that audit_leaves.idx is the rowid (faster
# appends, no second index); BIGINT elsewhere. Times are the events' canonical RFC 3339 strings
# (fixed width, so they sort as they compare).
_AUDIT_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

audit_state = sa.Table(
    "audit_state",  # one row (id = 1): the log's size and root, origin and public key; the lock row
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("origin", sa.String(255)),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("public_key", sa.Text),
    sa.Column("key_id", sa.String(8)),
)

audit_leaves = sa.Table(
    "audit_leaves",  # one row per event: its canonical bytes, leaf hash and filter columns
    metadata,
    sa.Column("idx", _AUDIT_INT, primary_key=True, autoincrement=False),
    sa.Column("event", sa.LargeBinary, nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary, nullable=False),
    sa.Column("time", sa.String(27), nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("outcome", sa.Text, nullable=False),
    sa.Index("ix_audit_leaves_time", "time"),
    sa.Index("ix_audit_leaves_action", "action"),
    sa.Index("ix_audit_leaves_purpose", "purpose"),
    sa.Index("ix_audit_leaves_actor", "actor"),
)

audit_nodes = sa.Table(
    "audit_nodes",  # one row per perfect subtree (level 0 = leaf hashes); written once
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

audit_heads = sa.Table(
    "audit_heads",  # signed tree heads (C2SP signed notes), one per tree size
    metadata,
    sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary, nullable=False),
    sa.Column("timestamp", sa.String(27), nullable=False),
    sa.Column("key_id", sa.String(8), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
)

audit_outbox = sa.Table(
    "audit_outbox",  # events still to forward to a sink (deleted once delivered)
    metadata,
    sa.Column("id", _AUDIT_INT, primary_key=True, autoincrement=True),
    sa.Column("sink", sa.String(64), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt", sa.String(27), nullable=False),
    sa.Column("last_error", sa.Text),
    sa.UniqueConstraint("sink", "idx", name="uq_audit_outbox_sink_idx"),
    sa.Index("ix_audit_outbox_due", "sink", "next_attempt"),
)

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

"""consent ledger: append-only events, materialized state, versioned notices

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "consent_notices",
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("effective_us", sa.BigInteger, nullable=False),
        sa.Column("reconsent", sa.Boolean, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("purpose", "version", name=op.f("pk_consent_notices")),
        sa.UniqueConstraint("purpose", "seq", name="uq_consent_notices_purpose_seq"),
    )

    op.create_table(
        "consent_events",
        sa.Column("seq", _INT, nullable=False, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("recorded_us", sa.BigInteger, nullable=False),
        sa.Column("notice_version", sa.String(64)),
        sa.Column("notice_seq", sa.Integer),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("action", sa.Text),
        sa.Column("evidence", sa.String(71)),
        sa.Column("collector", sa.String(128), nullable=False),
        sa.Column("expires_us", sa.BigInteger),
        sa.Column("age", sa.SmallInteger),
        sa.Column("minor", sa.Boolean),
        sa.Column("guardian", sa.String(256)),
        sa.Column("source", sa.Text),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_consent_events")),
        sa.UniqueConstraint("event_id", name="uq_consent_events_event_id"),
    )
    op.create_index("ix_consent_events_key_time", "consent_events",
                    ["purpose", "subject", "time_us", "seq"])
    op.create_index("ix_consent_events_subject", "consent_events", ["subject", "time_us"])

    op.create_table(
        "consent_state",
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("expires_us", sa.BigInteger),
        sa.Column("notice_version", sa.String(64)),
        sa.Column("notice_seq", sa.Integer),
        sa.Column("minor", sa.Boolean),
        sa.PrimaryKeyConstraint("purpose", "subject", name=op.f("pk_consent_state")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("consent_state")
    op.drop_index("ix_consent_events_subject", table_name="consent_events")
    op.drop_index("ix_consent_events_key_time", table_name="consent_events")
    op.drop_table("consent_events")
    op.drop_table("consent_notices")

"""The decision ledger (issue 19): decisions, their encrypted inputs, contests and reviews

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=False),
        sa.Column("final_of", sa.String(32)),
        sa.Column("review", sa.String(16)),
        sa.Column("review_due", sa.DateTime(timezone=True)),
        sa.Column("session", sa.String(32)),
        sa.Column("retain_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inputs", sa.LargeBinary),
        sa.Column("subject8", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    op.create_index("ix_decisions_subject8", "decisions", ["subject8"])
    op.create_index("ix_decisions_decided_at", "decisions", ["decided_at"])
    op.create_table(
        "decision_events",
        sa.Column("id", _INT, autoincrement=True, nullable=False),
        sa.Column("decision_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("due", sa.DateTime(timezone=True)),
        sa.Column("outcome", sa.String(64)),
        sa.Column("final_id", sa.String(32)),
        sa.Column("text", sa.LargeBinary),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_events")),
    )
    op.create_index("ix_decision_events_decision_id", "decision_events", ["decision_id"])
    op.create_table(
        "decision_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("decisions", sa.BigInteger, nullable=False),
        sa.Column("skipped", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decision_sessions")),
    )


def downgrade() -> None:
    op.drop_table("decision_sessions")
    op.drop_index("ix_decision_events_decision_id", table_name="decision_events")
    op.drop_table("decision_events")
    op.drop_index("ix_decisions_decided_at", table_name="decisions")
    op.drop_index("ix_decisions_subject8", table_name="decisions")
    op.drop_table("decisions")

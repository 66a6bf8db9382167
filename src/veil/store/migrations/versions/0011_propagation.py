"""Propagation and recipients (issue 18): marks on outputs and models, the Art. 19 outbox

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_marks",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("source", sa.String(160), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("kind", "target", "subject", "reason",
                                name=op.f("pk_lineage_marks")),
    )
    op.create_index("ix_lineage_marks_target", "lineage_marks", ["kind", "target"])
    op.create_table(
        "lineage_stale_accepts",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("stale", sa.JSON, nullable=False),
        sa.Column("accepted_by", sa.String(128), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("model", name=op.f("pk_lineage_stale_accepts")),
    )
    op.create_table(
        "recipient_notices",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("purposes", sa.JSON, nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("sealed", sa.LargeBinary),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipient_notices")),
        sa.UniqueConstraint("request_id", "recipient", name="uq_recipient_notices_request_id"),
    )
    op.create_index("ix_recipient_notices_due", "recipient_notices", ["status", "next_attempt"])


def downgrade() -> None:
    op.drop_index("ix_recipient_notices_due", table_name="recipient_notices")
    op.drop_table("recipient_notices")
    op.drop_table("lineage_stale_accepts")
    op.drop_index("ix_lineage_marks_target", table_name="lineage_marks")
    op.drop_table("lineage_marks")

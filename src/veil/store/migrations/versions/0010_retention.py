"""Retention (issue 18): output expiry, per-output keys, legal holds on outputs, disposals

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_outputs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("output_ref", sa.Text, nullable=False),
        sa.Column("output_digest", sa.String(64)),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("retention", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("keyset", sa.String(128)),
        sa.Column("own_key", sa.Boolean, nullable=False),
        sa.Column("hold_reason", sa.Text),
        sa.Column("held_at", sa.DateTime(timezone=True)),
        sa.Column("held_by", sa.String(128)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("disposal_reason", sa.Text),
        sa.Column("disposal_actor", sa.String(128)),
        sa.Column("disposal_started_at", sa.DateTime(timezone=True)),
        sa.Column("disposed_at", sa.DateTime(timezone=True)),
        sa.Column("certificate", sa.Text),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_retention_outputs")),
    )
    op.create_index("ix_retention_outputs_expires_at", "retention_outputs",
                    ["state", "expires_at"])


def downgrade() -> None:
    op.drop_index("ix_retention_outputs_expires_at", table_name="retention_outputs")
    op.drop_table("retention_outputs")

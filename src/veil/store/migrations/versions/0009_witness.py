"""Audit witnesses (issue 17): checkpoints still to publish, and heads this workspace witnessed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("witness", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("since", sa.String(27), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("witness", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_witnessed",
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("updated", sa.String(27), nullable=False),
        sa.PrimaryKeyConstraint("origin", name=op.f("pk_audit_witnessed")),
    )


def downgrade() -> None:
    op.drop_table("audit_witnessed")
    op.drop_table("audit_checkpoints")

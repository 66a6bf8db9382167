"""The DPO's web pages (issue 20): browser sessions and one-time login links

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ui_sessions",
        sa.Column("sid_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(16)),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("seen_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("sid_hash", name=op.f("pk_ui_sessions")),
    )
    op.create_index("ix_ui_sessions_expires_us", "ui_sessions", ["expires_us"])
    op.create_table(
        "ui_links",
        sa.Column("link_hash", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.Column("used_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("link_hash", name=op.f("pk_ui_links")),
    )


def downgrade() -> None:
    op.drop_table("ui_links")
    op.drop_index("ix_ui_sessions_expires_us", table_name="ui_sessions")
    op.drop_table("ui_sessions")

"""API keys of the service (issue 11): hashed keys and short-lived bearer tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("expires_us", sa.BigInteger),
        sa.Column("revoked_us", sa.BigInteger),
        sa.Column("revoked_by", sa.String(128)),
        sa.Column("last_used_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.String(16), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("expires_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_api_tokens")),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.key_id"],
                                name=op.f("fk_api_tokens_key_id_api_keys")),
    )
    op.create_index("ix_api_tokens_key_id", "api_tokens", ["key_id"])
    op.create_index("ix_api_tokens_expires_us", "api_tokens", ["expires_us"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_expires_us", table_name="api_tokens")
    op.drop_index("ix_api_tokens_key_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("api_keys")

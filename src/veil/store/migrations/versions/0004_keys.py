"""keys: wrapped keysets, key events and per-subject keys (crypto-shredding)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "keysets",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("encrypted_keyset", sa.LargeBinary),
        sa.Column("kek_id", sa.String(128)),
        sa.Column("primary_key_id", sa.BigInteger),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_keysets")),
    )
    op.create_table(
        "key_events",
        sa.Column("id", _INT, nullable=False, autoincrement=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("keyset", sa.String(128)),
        sa.Column("key_id", sa.BigInteger),
        sa.Column("kek_id", sa.String(128)),
        sa.Column("detail", sa.Text),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_events")),
    )
    op.create_index("ix_key_events_time", "key_events", ["time"])
    op.create_index("ix_key_events_keyset", "key_events", ["keyset"])
    op.create_table(
        "subject_keys",
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary),
        sa.Column("kek_id", sa.String(128)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_subject_keys")),
    )
    op.create_index("ix_subject_keys_erased_at", "subject_keys", ["erased_at"])


def downgrade() -> None:
    op.drop_index("ix_subject_keys_erased_at", table_name="subject_keys")
    op.drop_table("subject_keys")
    op.drop_index("ix_key_events_keyset", table_name="key_events")
    op.drop_index("ix_key_events_time", table_name="key_events")
    op.drop_table("key_events")
    op.drop_table("keysets")

"""Key epochs (issue 17): subject keys wrapped under a rotating epoch key

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04

``key_epochs`` holds each epoch's dates and a check value of its key; the epoch keys live
outside the database (``keys/epochs/``). ``subject_keys.epoch`` names the epoch wrapping a
subject key; existing keys (NULL: wrapped directly under the KEK) are rewrapped under the first
epoch by the key manager the first time it runs, not here (a migration has no KEK).
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "key_epochs",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True)),
        sa.Column("destroyed_at", sa.DateTime(timezone=True)),
        sa.Column("key_check", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_epochs")),
    )
    with op.batch_alter_table("subject_keys") as batch:
        batch.add_column(sa.Column("epoch", sa.Integer))
    op.create_index("ix_subject_keys_epoch", "subject_keys", ["epoch"])


def downgrade() -> None:
    op.drop_index("ix_subject_keys_epoch", table_name="subject_keys")
    with op.batch_alter_table("subject_keys") as batch:
        batch.drop_column("epoch")
    op.drop_table("key_epochs")

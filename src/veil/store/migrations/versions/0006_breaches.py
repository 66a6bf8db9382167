"""breach register (issue 10)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "breaches",
        sa.Column("id", _INT, nullable=False, autoincrement=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("nature", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_until", sa.DateTime(timezone=True)),
        sa.Column("aware_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("circumstances", sa.JSON, nullable=False),
        sa.Column("consequences", sa.JSON, nullable=False),
        sa.Column("measures", sa.JSON, nullable=False),
        sa.Column("controller", sa.JSON),
        sa.Column("timezone", sa.String(64)),
        sa.Column("scope", sa.JSON),
        sa.Column("assessment", sa.JSON),
        sa.Column("decision", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("close_reason", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
    )
    op.create_index("ix_breaches_status", "breaches", ["status"])
    op.create_table(
        "breach_items",
        sa.Column("breach_id", _INT, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("encrypted", sa.Boolean),
        sa.Column("keyset", sa.String(128)),
        sa.Column("key_exposed", sa.Boolean),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.id"],
                                name=op.f("fk_breach_items_breach_id_breaches")),
        sa.PrimaryKeyConstraint("breach_id", "seq", name=op.f("pk_breach_items")),
    )
    op.create_table(
        "breach_subjects",
        sa.Column("breach_id", _INT, nullable=False, autoincrement=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.id"],
                                name=op.f("fk_breach_subjects_breach_id_breaches")),
        sa.PrimaryKeyConstraint("breach_id", "subject", name=op.f("pk_breach_subjects")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "breach_notifications",
        sa.Column("id", _INT, nullable=False, autoincrement=True),
        sa.Column("breach_id", _INT, nullable=False),
        sa.Column("recipient", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("delay_reason", sa.Text),
        sa.Column("reference", sa.Text),
        sa.Column("channel", sa.Text),
        sa.Column("content_sha256", sa.String(64)),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.id"],
                                name=op.f("fk_breach_notifications_breach_id_breaches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_notifications")),
    )
    op.create_index("ix_breach_notifications_breach_id", "breach_notifications", ["breach_id"])
    op.create_table(
        "breach_steps",
        sa.Column("id", _INT, nullable=False, autoincrement=True),
        sa.Column("breach_id", _INT, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.ForeignKeyConstraint(["breach_id"], ["breaches.id"],
                                name=op.f("fk_breach_steps_breach_id_breaches")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breach_steps")),
    )
    op.create_index("ix_breach_steps_breach_id", "breach_steps", ["breach_id"])


def downgrade() -> None:
    op.drop_index("ix_breach_steps_breach_id", table_name="breach_steps")
    op.drop_table("breach_steps")
    op.drop_index("ix_breach_notifications_breach_id", table_name="breach_notifications")
    op.drop_table("breach_notifications")
    op.drop_table("breach_subjects")
    op.drop_table("breach_items")
    op.drop_index("ix_breaches_status", table_name="breaches")
    op.drop_table("breaches")

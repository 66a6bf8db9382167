"""Crash recovery (issue 25): run leases, and "replaced by" on overwritten outputs

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_leases",
        sa.Column("output_key", sa.String(64), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("output_ref", sa.Text, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("proc_start", sa.BigInteger),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("files", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("output_key", name=op.f("pk_run_leases")),
        sa.UniqueConstraint("run_id", name=op.f("uq_run_leases_run_id")),
    )
    with op.batch_alter_table("lineage_outputs") as batch:
        batch.add_column(sa.Column("replaced_by", sa.String(32)))
    with op.batch_alter_table("retention_outputs") as batch:
        batch.add_column(sa.Column("replaced_by", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("retention_outputs") as batch:
        batch.drop_column("replaced_by")
    with op.batch_alter_table("lineage_outputs") as batch:
        batch.drop_column("replaced_by")
    op.drop_table("run_leases")

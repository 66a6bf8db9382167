"""lineage and data-subject requests (issue 9)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lineage_outputs",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("output_ref", sa.Text, nullable=False),
        sa.Column("output_digest", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("dataset", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger, nullable=False),
        sa.Column("subject_count", sa.BigInteger, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_lineage_outputs")),
    )
    op.create_index("ix_lineage_outputs_created_at", "lineage_outputs", ["created_at"])
    op.create_table(
        "lineage_subjects",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("subjects", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "bucket", name=op.f("pk_lineage_subjects")),
    )
    op.create_index("ix_lineage_subjects_bucket", "lineage_subjects", ["bucket"])
    op.create_table(
        "lineage_models",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_lineage_models")),
    )
    op.create_table(
        "lineage_model_runs",
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("model", "run_id", name=op.f("pk_lineage_model_runs")),
    )
    op.create_index("ix_lineage_model_runs_run_id", "lineage_model_runs", ["run_id"])
    op.create_table(
        "dsr_requests",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("sealed", sa.LargeBinary),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("extended_months", sa.Integer, nullable=False),
        sa.Column("extension_reason", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verification", sa.Text),
        sa.Column("purposes", sa.Text),
        sa.Column("policy_path", sa.Text, nullable=False),
        sa.Column("opened_by", sa.String(128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("close_note", sa.Text),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("running_since", sa.DateTime(timezone=True)),
        sa.Column("hold_until", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dsr_requests")),
    )
    op.create_index("ix_dsr_requests_due_at", "dsr_requests", ["status", "due_at"])
    op.create_index("ix_dsr_requests_subject", "dsr_requests", ["subject"])
    op.create_table(
        "dsr_steps",
        sa.Column("request_id", sa.String(16), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON),
        sa.PrimaryKeyConstraint("request_id", "step", name=op.f("pk_dsr_steps")),
    )
    op.create_table(
        "rights_exclusions",
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(16), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True)),
        sa.Column("note", sa.Text),
        sa.PrimaryKeyConstraint("subject", "reason", "purpose", "request_id",
                                name=op.f("pk_rights_exclusions")),
    )
    op.create_index("ix_rights_exclusions_active", "rights_exclusions", ["lifted_at", "purpose"])


def downgrade() -> None:
    op.drop_index("ix_rights_exclusions_active", table_name="rights_exclusions")
    op.drop_table("rights_exclusions")
    op.drop_table("dsr_steps")
    op.drop_index("ix_dsr_requests_subject", table_name="dsr_requests")
    op.drop_index("ix_dsr_requests_due_at", table_name="dsr_requests")
    op.drop_table("dsr_requests")
    op.drop_index("ix_lineage_model_runs_run_id", table_name="lineage_model_runs")
    op.drop_table("lineage_model_runs")
    op.drop_table("lineage_models")
    op.drop_index("ix_lineage_subjects_bucket", table_name="lineage_subjects")
    op.drop_table("lineage_subjects")
    op.drop_index("ix_lineage_outputs_created_at", table_name="lineage_outputs")
    op.drop_table("lineage_outputs")

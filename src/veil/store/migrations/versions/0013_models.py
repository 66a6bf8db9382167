"""Model registry (issue 19): model cards, training-data checks, fairness reports

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_models",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("purpose", sa.String(128), nullable=False),
        sa.Column("features", sa.JSON, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("artifact", sa.Text),
        sa.Column("artifact_sha256", sa.String(64)),
        sa.Column("trained_on", sa.JSON, nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(128), nullable=False),
        sa.Column("gate", sa.JSON, nullable=False),
        sa.Column("card", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_decision_models")),
    )
    op.create_index("ix_decision_models_purpose", "decision_models", ["purpose"])


def downgrade() -> None:
    op.drop_index("ix_decision_models_purpose", table_name="decision_models")
    op.drop_table("decision_models")

"""Consents lapsing soon, read by range (issue 20: the DPO's Today page)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_consent_state_expiry", "consent_state", ["status", "expires_us"])


def downgrade() -> None:
    op.drop_index("ix_consent_state_expiry", table_name="consent_state")

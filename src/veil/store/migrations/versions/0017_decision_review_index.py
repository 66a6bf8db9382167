"""The review queue read from an index (issues 19, 20: the Decisions page, ``decisions queue``)

Two indexes: the automated decisions the policy routed to a person, by due date (partial: only
those rows, a tenth of the ledger in the demo, so the queue and its counts no longer read every
decision), and the decision events by kind (contests and reviews found without reading the
observed outcomes, one per decision once they are recorded in batches).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_ROUTED = "review IS NOT NULL AND final_of IS NULL"


def upgrade() -> None:
    op.create_index("ix_decisions_review_due", "decisions",
                    ["review_due", "id", "review", "final_of"],
                    sqlite_where=sa.text(_ROUTED), postgresql_where=sa.text(_ROUTED))
    op.create_index("ix_decision_events_kind", "decision_events", ["kind", "decision_id"])


def downgrade() -> None:
    op.drop_index("ix_decision_events_kind", table_name="decision_events")
    op.drop_index("ix_decisions_review_due", table_name="decisions")

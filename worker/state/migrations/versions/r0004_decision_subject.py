"""Who and what each decision was about, for ``history`` filters and the report.

Revision ID: 0004_decision_subject
Revises: 0003_lease_meta

- ``decisions.subject``: JSON ``{"assignee": {"id", "name"}, "customer", "account_executive":
  {"id", "name"}, "deal_page_id", "deal_page_url"}`` (null for rows recorded before it);
- an index on ``decisions.at``: history and the report read by time window.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_decision_subject"
down_revision = "0003_lease_meta"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("decisions", sa.Column("subject", sa.JSON))
    op.create_index("ix_decisions_at", "decisions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_at", "decisions")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("subject")

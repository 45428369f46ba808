"""Outcomes looked up by ticket.

Revision ID: 0007_outcomes_by_issue
Revises: 0006_decision_due

A landed write's comment ids are named by the next cycle's search answer
(:mod:`worker.write.posted`): each cycle looks up the outcome rows of the tickets it wrote
recently, by ``outcomes.issue`` (as Jira spells the key), among every outcome the store
keeps. The index keeps that lookup from reading the whole table each cycle.
"""

from __future__ import annotations

from alembic import op

revision = "0007_outcomes_by_issue"
down_revision = "0006_decision_due"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outcomes_issue", "outcomes", ["issue"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_issue", table_name="outcomes")

"""The first schema: cycles, decisions, outcomes and the write journal.

Revision ID: 0001_initial
Revises: (none)

Times are ISO-8601 UTC text (``String(40)``) on every backend: they sort correctly as text and
read back the same from SQLite and PostgreSQL (see ``worker.state.tables.UTCDateTime``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "cycles",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME),
        sa.Column("site_now", _TIME),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("issues_read", sa.Integer, nullable=False),
        sa.Column("actions_applied", sa.Integer, nullable=False),
        sa.Column("actions_failed", sa.Integer, nullable=False),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("retries", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("counts", sa.JSON),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("issue", sa.String(64), nullable=False),
        sa.Column("policy", sa.String(128), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer),
        sa.Column("reason", sa.Text),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
    )
    op.create_index("ix_decisions_run_id", "decisions", ["run_id"])
    op.create_table(
        "outcomes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("issue", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("retryable", sa.Boolean, nullable=False),
    )
    op.create_index("ix_outcomes_run_id", "outcomes", ["run_id"])
    op.create_table(
        "writes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issue", sa.String(64), nullable=False),
        sa.Column("issue_id", sa.String(64), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_index("ix_writes_issue_at", "writes", ["issue", "at"])


def downgrade() -> None:
    for table in ("writes", "outcomes", "decisions", "cycles"):
        op.drop_table(table)

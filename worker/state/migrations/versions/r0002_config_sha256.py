"""Which policy file decided (its SHA-256), and a lookup by issue for ``history``.

Revision ID: 0002_config_sha256
Revises: 0001_initial
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_config_sha256"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cycles", sa.Column("config_sha256", sa.String(64)))
    op.create_index("ix_decisions_issue", "decisions", ["issue"])


def downgrade() -> None:
    op.drop_index("ix_decisions_issue", "decisions")
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("config_sha256")

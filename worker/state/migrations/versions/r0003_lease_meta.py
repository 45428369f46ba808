"""The agreed additions: the leader lease, key/value meta, recheck times, what a write changed.

Revision ID: 0003_lease_meta
Revises: 0002_config_sha256

- ``lease``: one row per lease name; ``fencing`` grows by one at every change of holder, and the
  writer compares it before each write (``worker.state.lease``).
- ``meta``: small typed values (``installation_id``, ``read_watermark``, ``last_full_sweep``,
  ``deal_page_ids``...), read and written through ``Store.get_meta`` / ``Store.set_meta``.
- ``decisions.recheck_at``: when an issue must be read again even if it did not change.
- ``outcomes.changes``: what a write changed (``previous_assignee``, ``labels_added``...).
- ``schema_version``: the hand-rolled versioning this replaces (stores made before Alembic).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_lease_meta"
down_revision = "0002_config_sha256"
branch_labels = None
depends_on = None

_TIME = sa.String(40)


def upgrade() -> None:
    op.create_table(
        "lease",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("fencing", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.add_column("decisions", sa.Column("recheck_at", _TIME))
    op.add_column("outcomes", sa.Column("changes", sa.JSON))
    op.execute("DROP TABLE IF EXISTS schema_version")


def downgrade() -> None:
    with op.batch_alter_table("outcomes") as batch:
        batch.drop_column("changes")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("recheck_at")
    op.drop_table("meta")
    op.drop_table("lease")

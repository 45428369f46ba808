"""What each cycle read: everything, or only what could have changed (incremental reads).

Revision ID: 0005_cycle_reads
Revises: 0004_decision_subject

A ticket missing from a cycle's decisions means it stopped matching only if that cycle read it:
an incremental cycle reads the tickets that can have changed, not the whole scope. The report
(what happened next to a flagged ticket) needs to know which cycles say something about which
tickets:

- ``cycles.read_full``: true when the cycle read every ticket in the policies' scopes, false
  when it read part of them (an incremental read, or a cycle stopped before it planned); null
  for cycles recorded before this revision, which were all full reads;
- ``cycles.read_keys``: JSON list of the ticket keys an incremental read looked at (the
  search's answer and the keys it looked up by key), null otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_cycle_reads"
down_revision = "0004_decision_subject"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cycles", sa.Column("read_full", sa.Boolean))
    op.add_column("cycles", sa.Column("read_keys", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("cycles") as batch:
        batch.drop_column("read_keys")
        batch.drop_column("read_full")

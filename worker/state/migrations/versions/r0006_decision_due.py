"""The step a waiting ticket waits for, and when it falls due, as data.

Revision ID: 0006_decision_due
Revises: 0005_cycle_reads

A ``waiting`` decision said which ladder step falls due and when only in its reason's words
("step 2 (...) is due 2026-11-04 09:00"), and the decision's ``recheck_at`` is the issue's
earliest recheck over every policy and condition, not this policy's step. The status page's
"falling due" list reads them as data:

- ``decisions.due_step``: the ladder step (index from 0) a ``waiting`` decision waits for;
- ``decisions.due_at``: when that step falls due (site clock).

Both are null for other verdicts and for decisions recorded before this revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_decision_due"
down_revision = "0005_cycle_reads"
branch_labels = None
depends_on = None

#: times are ISO-8601 UTC text on every backend (see revision 0001)
_TIME = sa.String(40)


def upgrade() -> None:
    op.add_column("decisions", sa.Column("due_step", sa.Integer))
    op.add_column("decisions", sa.Column("due_at", _TIME))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("due_at")
        batch.drop_column("due_step")

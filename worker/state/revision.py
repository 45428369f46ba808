"""The store's schema revision, read without Alembic: the newest one this program knows, and
the one a database is stamped with.

Opening a store that is already at :data:`HEAD_REVISION` needs nothing from Alembic, so the
service imports it (with Mako: about 3 MB resident for the life of the process, 7 MB with the
Pygments Mako would bring, which :mod:`worker.state.store` keeps out) only when a store must be
created or upgraded (:mod:`worker.state.migrate`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: the newest revision in ``worker/state/migrations/versions`` (a new migration must update it:
#: ``tests/state/test_revision.py`` compares it with Alembic's own head)
HEAD_REVISION = "0007_outcomes_by_issue"
#: where Alembic keeps a store's revision (its default table, one row)
VERSION_TABLE = "alembic_version"


class SchemaError(RuntimeError):
    """The database is not a store this program can use (newer, or not ours)."""


def stamped_revision(engine: Engine) -> str | None:
    """The revision the database is stamped with (None: not stamped, or not one revision)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return str(rows[0][0]) if len(rows) == 1 else None

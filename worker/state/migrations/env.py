"""Alembic's environment: always run from :func:`worker.state.migrate.migrate` on a given
connection.

The worker migrates at start, inside its own lock, on the connection it opened; there is no
``alembic.ini`` and no offline (SQL script) mode. ``render_as_batch`` lets a revision alter a
column on SQLite, which cannot ``ALTER COLUMN``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):  # pragma: no cover - a misuse, not a runtime path
    raise RuntimeError("run migrations through worker.state.migrate.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=None,
    render_as_batch=connection.dialect.name == "sqlite",
    transaction_per_migration=True,
)
with context.begin_transaction():
    context.run_migrations()

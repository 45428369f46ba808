"""Alembic's scripts for the state store (applied by :func:`worker.state.migrate.migrate`)."""

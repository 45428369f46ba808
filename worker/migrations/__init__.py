"""Alembic's scripts for the state store (applied by :func:`worker.migrate.migrate`)."""

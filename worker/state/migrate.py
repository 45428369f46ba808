"""Bringing a state store to the current schema with Alembic, safely and only our own.

:func:`migrate` runs at a start that finds the store not at the newest revision (a store that
is, is opened without importing this module: :mod:`worker.state.revision`). It takes a lock
first (PostgreSQL: an advisory lock; SQLite: an exclusive ``flock`` on a lock file beside the
database, ``<file>.migrate-lock``), because two replicas starting together against a fresh
database would otherwise both create the tables. Under the lock it looks at what is there:

- an ``alembic_version`` row: upgrade from that revision (an unknown one means a newer program
  wrote this store: refused, nothing touched);
- a ``schema_version`` table (stores made before Alembic, versions 1 and 2): stamped with the
  matching revision, then upgraded (revision 0003 drops the old table);
- none of our tables: a fresh store, created by the migrations;
- any of our tables without either marker: a store this worker did not create (another program's
  ``cycles`` table, a half-restored backup). Refused: writing next to it would record nothing
  useful, or worse, into someone else's table.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from worker.state.revision import SchemaError

__all__ = ["OUR_TABLES", "SchemaError", "current_revision", "head", "migrate"]

#: every table the migrations create: finding one without a version marker means "not ours"
OUR_TABLES = frozenset({"cycles", "decisions", "outcomes", "writes", "lease", "meta"})
#: the hand-rolled versions (before Alembic) -> the revision that has the same schema
LEGACY_REVISIONS = {1: "0001_initial", 2: "0002_config_sha256"}
#: a fixed key for ``pg_advisory_lock`` ("HG" + "migr" in ASCII): one migrator at a time
_PG_LOCK_KEY = 0x48476D696772


def alembic_config() -> Config:
    """Alembic's configuration for the packaged scripts (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", "worker.state:migrations")
    return config


def head() -> str:
    """The newest revision this program knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships its revisions
        raise SchemaError("no migrations are packaged")
    return revision


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: not stamped)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, *, target: str = "head") -> str:
    """Bring the store to ``target`` (default: the newest); returns the revision now in place.

    Raises :class:`SchemaError` for a store that is newer than this program or not ours.
    """
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    with _migration_lock(engine), engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A migration may take longer than the statement timeout every other call gets,
            # and pause between statements longer than a session may stay idle inside a
            # transaction (worker.state.engine.engine_for); both are back to their defaults
            # when the connection is.
            conn.execute(sa.text("SET statement_timeout = 0"))
            conn.execute(sa.text("SET idle_in_transaction_session_timeout = 0"))
            conn.commit()
        tables = set(sa.inspect(conn).get_table_names())
        start = _starting_point(conn, tables, scripts)
        conn.commit()
        config.attributes["connection"] = conn
        if start is not None and start != "existing":
            command.stamp(config, start)
            conn.commit()
        command.upgrade(config, target)
        conn.commit()
        revision = MigrationContext.configure(conn).get_current_revision()
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("RESET statement_timeout"))
            conn.execute(sa.text("RESET idle_in_transaction_session_timeout"))
            conn.commit()
    return revision or ""


def _starting_point(conn: Connection, tables: set[str], scripts: ScriptDirectory) -> str | None:
    """``existing`` (Alembic already tracks it), a legacy revision to stamp, or None (fresh)."""
    if "alembic_version" in tables:
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and not _known(scripts, current):
            raise SchemaError(
                f"the state store is at schema revision {current}, which this Handoff Guard "
                f"does not know (it knows up to {scripts.get_current_head()}): upgrade the "
                "program or point HANDOFF_GUARD_STATE elsewhere"
            )
        return "existing"
    if "schema_version" in tables:
        version = conn.execute(sa.text("SELECT MAX(version) FROM schema_version")).scalar()
        legacy = LEGACY_REVISIONS.get(int(version or 0))
        if legacy is None:
            raise SchemaError(
                f"the state store has schema version {version}; this Handoff Guard upgrades "
                f"versions {min(LEGACY_REVISIONS)} to {max(LEGACY_REVISIONS)} (upgrade the "
                "program or point HANDOFF_GUARD_STATE elsewhere)"
            )
        return legacy
    foreign = sorted(OUR_TABLES & tables)
    if foreign:
        raise SchemaError(
            f"the state store has tables Handoff Guard did not create ({', '.join(foreign)}) "
            "and no schema version: point HANDOFF_GUARD_STATE at an empty database or at a "
            "store this program made"
        )
    return None


def _known(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is not None
    except Exception:  # alembic raises several kinds for an unknown id; all mean "not ours"
        return False


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """One migrator at a time, across processes (and hosts, on PostgreSQL)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            # The lock is the session's: commit, so that this connection waits idle, not idle
            # inside a transaction (which the server ends after half the lease: see
            # worker.state.engine.engine_for), however long the migration takes.
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with _file_lock(Path(database)):
        yield


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # flock on a file of its own beside the database, never on the database file: closing any
    # descriptor of the database file drops every POSIX lock this process holds on it
    # (SQLite's "how to corrupt", 2.2.1), including the SHARED lock an open WAL connection
    # keeps. A process that lost it is invisible to the others: the last one to close then
    # believes itself alone, checkpoints and deletes the WAL under it, and from then on the
    # two write to different logs (two leaders with one fencing number, seen on a handover).
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not a POSIX system: SQLite's locks must do
        yield
        return
    with migrate_lock_path(path).open("a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def migrate_lock_path(database: Path) -> Path:
    """The file migrators of a SQLite store lock (``<database>.migrate-lock``, left in place)."""
    return database.with_name(f"{database.name}.migrate-lock")

"""Which databases hold the state store, and the engine that connects to one.

``HANDOFF_GUARD_STATE`` is a file path (SQLite) or a ``postgresql://`` URL (psycopg 3); any
other kind is refused in one line (:class:`StoreError`). The engine carries the timeouts that
keep a store that stopped answering from holding a cycle past its lease.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine


class StoreError(RuntimeError):
    """The store cannot be opened or migrated (one line, for the CLI)."""


#: the SQLAlchemy drivers the worker ships (SQLite and PostgreSQL through psycopg 3)
SUPPORTED_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})


#: the forms HANDOFF_GUARD_STATE takes, for messages
STORE_FORMS = ("use a file path (SQLite, e.g. var/state.db) or a postgresql:// URL naming "
               "the host, port and database (PostgreSQL)")


def database_url(target: str | Path) -> sa.URL:
    """The SQLAlchemy URL for a filesystem path (SQLite) or a URL.

    PostgreSQL URLs without a driver (``postgresql://``, ``postgres://``) get psycopg 3, the
    driver we ship; SQLAlchemy's default for them would be psycopg2.
    """
    text = str(target)
    if "://" not in text:
        return sa.URL.create("sqlite", database=str(Path(text).expanduser()))
    try:
        url = sa.make_url(text.replace("postgres://", "postgresql://", 1)
                          if text.startswith("postgres://") else text)
    except (sa.exc.ArgumentError, ValueError):
        raise StoreError(f"HANDOFF_GUARD_STATE is not a database URL; {STORE_FORMS}") from None
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername not in SUPPORTED_DRIVERS:
        scheme = text.split("://", 1)[0]
        raise StoreError(f"HANDOFF_GUARD_STATE: {scheme}:// is not a supported state store; "
                         f"{STORE_FORMS}")
    return url


def describe(target: str | Path) -> str:
    """The store's location for messages: a URL's password is never shown."""
    try:
        return database_url(target).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError, StoreError):
        return "(an unreadable HANDOFF_GUARD_STATE value)"


#: the lease period the store's timeouts are sized for when the caller names none (seconds)
DEFAULT_LEASE_S = 60.0


@dataclass(frozen=True, slots=True)
class StoreTimeouts:
    """How long one database call may take, sized from the leader lease's period so that a
    stalled store never holds a renewal, a check or a journal write past the lease."""

    #: opening a connection (PostgreSQL ``connect_timeout``, whole seconds, at least 2)
    connect_s: int
    #: one statement (PostgreSQL ``statement_timeout``), a wait for a lock, a session idle
    #: inside a transaction (ended by the server), and unacknowledged data on the wire
    #: (``tcp_user_timeout``): a black-holed link fails instead of stalling forever
    statement_s: float
    #: SQLite: how long to wait for another process's write lock
    busy_s: float

    @classmethod
    def for_lease(cls, lease_s: float) -> StoreTimeouts:
        """A quarter of the lease to connect (2 to 10 s), half of it per statement, half of
        it (1 to 30 s) for SQLite's lock."""
        return cls(connect_s=int(min(10.0, max(2.0, lease_s / 4))),
                   statement_s=max(1.0, lease_s / 2),
                   busy_s=min(30.0, max(1.0, lease_s / 2)))


def engine_for(target: str | Path, *, lease_s: float = DEFAULT_LEASE_S) -> Engine:
    """An engine for a filesystem path (SQLite; parent folders created) or a SQLAlchemy URL,
    with connect and statement timeouts shorter than a lease of ``lease_s``."""
    url = database_url(target)
    timeouts = StoreTimeouts.for_lease(lease_s)
    if url.get_backend_name() == "postgresql":
        statement_ms = int(timeouts.statement_s * 1000)
        # Options the URL itself carries (a search_path, say) are kept: connect_args would
        # replace them.
        given = url.query.get("options")
        given = " ".join(given) if isinstance(given, tuple) else (given or "")
        # The server ends a session idle inside a transaction as long as one statement may
        # take: a client cut off between a statement and its COMMIT (a renewal's UPDATE of
        # the lease row, say) would otherwise keep its row locks for as long as the server
        # keeps the dead connection (hours), and every look of a standby would time out.
        options = (f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms} "
                   f"-c idle_in_transaction_session_timeout={statement_ms}")
        return sa.create_engine(url, pool_pre_ping=True, connect_args={
            "connect_timeout": timeouts.connect_s,
            "options": f"{given} {options}".strip(),
            "tcp_user_timeout": statement_ms,
            "keepalives": 1,
            "keepalives_idle": timeouts.connect_s,
            "keepalives_interval": 1,
            "keepalives_count": 3,
        })
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return sa.create_engine(url, pool_pre_ping=True)
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # The scheduler's job thread and the main thread share the engine; SQLite's own locking
    # serializes writers, so the same-thread guard would only get in the way. Several processes
    # may share the file (the lease): wait for a writer's lock rather than fail at once.
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": timeouts.busy_s}
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


#: the page cache of each SQLite connection (see :func:`_sqlite_pragmas`)
SQLITE_CACHE_KIB = 256


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with ``synchronous=NORMAL``: a commit appends to the log without an fsync (the
    journal commits twice per write; with the default rollback journal each commit costs an
    fsync: measured 14 s for 2,000 commits on a busy disk, 1.4 s in WAL). An application
    crash loses nothing; a power or OS failure can roll back the last commits (SQLite's
    documented trade-off), and the writes of those last moments are then protected by the
    issue property itself once search has caught up (a host restart outlasts Cloud's search
    lag). Readers no longer wait for the writer either.

    Each connection keeps at most :data:`SQLITE_CACHE_KIB` of pages: the pool holds a connection
    per writer in flight, and at SQLite's default (2 MB each) they kept 2.4 MB resident after a
    cycle at 100,000 tickets and 4.4 MB at the high (SQLite's own counters; 0.5 and 1.7 at
    256 KiB). The file's pages stay in the operating system's cache, a read away."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")  # negative: KiB, not pages
    finally:
        cursor.close()


def dispose_engine(engine: Engine | None) -> None:
    if engine is not None:
        engine.dispose()


#: rows per INSERT of a cycle's decisions and outcomes: a first cycle's 15,000 decisions made
#: into rows and encoded all at once raised the worker's peak memory by 13 MB at 100,000 tickets
ROWS_PER_INSERT = 500


def insert_rows(engine: Engine, table: sa.Table, rows: Iterable[dict[str, Any]]) -> int:
    """Insert ``rows`` in one transaction (all or none), made and sent
    :data:`ROWS_PER_INSERT` at a time; returns how many. No rows, no transaction."""
    chunks = _chunks(rows, ROWS_PER_INSERT)
    first = next(chunks, None)
    if first is None:
        return 0
    count = 0
    with engine.begin() as conn:
        for chunk in itertools.chain((first,), chunks):
            conn.execute(sa.insert(table), chunk)
            count += len(chunk)
    return count


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk

"""The state store: the audit trail of every cycle, and the write journal.

SQLite by default (a file under ``./var/``), through SQLAlchemy Core only, so PostgreSQL can
follow by changing ``HANDOFF_GUARD_STATE`` to a URL. The store answers "who did the bot comment
on last Tuesday, and why?" (cycles, decisions with their evidence, outcomes) and remembers the
bot's own recent writes (:class:`worker.model.WriteJournal`) because Jira's search is eventually
consistent. It is *not* the source of truth for ticket state: that lives in our issue property,
so a fresh store on a new machine behaves correctly.

The schema is Alembic's (``worker/migrations``): :meth:`Store.open` brings any store to the
newest revision, upgrades the hand-versioned stores made before Alembic, and refuses a database
whose tables it did not create (:mod:`worker.state.migrate`). ``postgresql://`` URLs use psycopg 3.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from worker.model import (
    Action,
    BotState,
    CommentAction,
    Decision,
    FlagAction,
    LabelAction,
    Outcome,
    Person,
    ReassignAction,
    RecordedWrite,
    Subject,
)
from worker.state.migrate import SchemaError, migrate
from worker.telemetry.logs import scrub, scrub_value

#: ``meta``: this store's id (made at first open; a copy of the store shares it), stamped
#: into the issue property with every write as ``by.store`` (see :mod:`worker.state.installation`)
INSTALLATION_KEY = "installation_id"


class StoreError(RuntimeError):
    """The store cannot be opened or migrated (one line, for the CLI)."""


# --------------------------------------------------------------------------- column types


class _UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime stored as ISO-8601 UTC text: sorts correctly, same on every backend."""

    impl = sa.String(40)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store only accepts timezone-aware datetimes")
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


# --------------------------------------------------------------------------- current schema

# The tables as the newest revision leaves them (``worker/state/migrations/versions``), for queries
# only: the migrations create and change them, never this metadata.
metadata = sa.MetaData()
#: the run id of a ``revert`` run starts with this: it is recorded beside the cycles (so
#: ``history`` shows it) but is not a cycle (reports and the status page leave it out)
REVERT_RUN_PREFIX = "revert-"
cycles = sa.Table(
    "cycles",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("started_at", _UTCDateTime, nullable=False),  # wall clock
    sa.Column("finished_at", _UTCDateTime),
    sa.Column("site_now", _UTCDateTime),  # the Atlassian site's clock the plan used
    sa.Column("dry_run", sa.Boolean, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running | ok | failed | stopped
    sa.Column("error", sa.Text),
    sa.Column("issues_read", sa.Integer, nullable=False, default=0),
    sa.Column("actions_applied", sa.Integer, nullable=False, default=0),
    sa.Column("actions_failed", sa.Integer, nullable=False, default=0),
    sa.Column("requests", sa.Integer, nullable=False, default=0),
    sa.Column("retries", sa.Integer, nullable=False, default=0),
    sa.Column("duration_s", sa.Float),
    sa.Column("counts", sa.JSON),  # {policy: {verdict: n}}
    sa.Column("config_sha256", sa.String(64)),
    # what the cycle read: everything (true; null for cycles before incremental reads, all
    # full), or part of the scope (false), then ``read_keys`` are the tickets it looked at
    sa.Column("read_full", sa.Boolean),
    sa.Column("read_keys", sa.JSON),
)
decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", _UTCDateTime, nullable=False),  # site clock
    sa.Column("issue", sa.String(64), nullable=False),
    sa.Column("policy", sa.String(128), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("step", sa.Integer),
    sa.Column("reason", sa.Text),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("recheck_at", _UTCDateTime),  # when to read the issue again even if unchanged
    sa.Column("subject", sa.JSON),  # assignee, customer, account executive, deal page
)
outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", _UTCDateTime, nullable=False),  # site clock
    sa.Column("issue", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("actions", sa.JSON, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("http_status", sa.Integer),
    sa.Column("retryable", sa.Boolean, nullable=False),
    sa.Column("changes", sa.JSON),  # what the write changed: previous_assignee, labels_added...
)
writes = sa.Table(
    "writes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue", sa.String(64), nullable=False),
    sa.Column("issue_id", sa.String(64), nullable=False),
    sa.Column("at", _UTCDateTime, nullable=False),  # site clock
    sa.Column("state", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
)
lease = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("fencing", sa.BigInteger, nullable=False),  # +1 at every change of holder
    sa.Column("acquired_at", _UTCDateTime, nullable=False),
    sa.Column("expires_at", _UTCDateTime, nullable=False),
)
meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(128), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# --------------------------------------------------------------------------- serialization


def action_to_json(action: Action) -> dict[str, Any]:
    """One planned action as plain JSON (for the audit trail and ``plan --format json``)."""
    if isinstance(action, CommentAction):
        return {
            "kind": "comment",
            "template": action.template,
            "text": action.document.plain_text(),
            "visibility": None
            if action.visibility is None
            else {"type": action.visibility.type, "value": action.visibility.value},
        }
    if isinstance(action, ReassignAction):
        return {
            "kind": "reassign",
            "to": {"id": action.to.id, "name": action.to.display_name},
            "target": action.target,
            "fallback": None
            if action.fallback is None
            else {"id": action.fallback.id, "name": action.fallback.display_name},
        }
    if isinstance(action, LabelAction):
        return {"kind": "label", "add": list(action.add), "remove": list(action.remove)}
    if isinstance(action, FlagAction):
        return {"kind": "flag", "on": action.on}
    raise TypeError(f"unknown action {action!r}")  # pragma: no cover - the union is closed


def subject_to_json(subject: Subject | None) -> dict[str, Any] | None:
    """Who and what a decision was about, as stored in ``decisions.subject``."""
    if subject is None:
        return None

    def person(p: Person | None) -> dict[str, Any] | None:
        if p is None:
            return None
        # ``active`` only when false: the report shows people who left as such
        return {"id": p.id, "name": p.display_name} | ({} if p.active else {"active": False})

    return {
        "assignee": person(subject.assignee),
        "customer": subject.customer,
        "account_executive": person(subject.account_executive),
        "deal_page_id": subject.deal_page_id,
        "deal_page_url": subject.deal_page_url,
        "summary": subject.summary,
    }


def decision_to_json(decision: Decision) -> dict[str, Any]:
    """One decision in the shape ``plan --format json`` documents."""
    return {
        "issue": decision.issue,
        "policy": decision.policy,
        "mode": decision.mode,
        "verdict": decision.verdict,
        "actions": [action_to_json(a) for a in decision.actions],
        "evidence": [
            {"condition": e.condition, "result": e.result, "detail": e.detail}
            for e in decision.evidence
        ],
        "reason": decision.reason,
    }


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """How one cycle ended, as the store keeps it."""

    run_id: str
    started_at: datetime
    dry_run: bool
    status: str  # running | ok | failed | stopped
    finished_at: datetime | None = None
    site_now: datetime | None = None
    error: str | None = None
    issues_read: int = 0
    actions_applied: int = 0
    actions_failed: int = 0
    requests: int = 0
    retries: int = 0
    duration_s: float | None = None
    #: policy id -> verdict -> number of decisions
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    config_sha256: str | None = None
    #: True: every ticket in scope was read; False: only ``read_keys`` were (an incremental
    #: read, or a cycle stopped before it planned); None: recorded before this was kept (a
    #: full read: cycles before incremental reads all were)
    read_full: bool | None = None
    #: the tickets a partial read looked at (None with a full read)
    read_keys: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """An outcome as recorded, with the reasons of the decisions behind it."""

    run_id: str
    at: datetime
    issue: str
    status: str
    actions: tuple[str, ...]
    detail: str
    http_status: int | None
    #: policy id -> the decision's reason / evidence, for "and why?"
    policies: Mapping[str, Sequence[Mapping[str, Any]]]
    #: what the write changed, as recorded with the outcome (None: not recorded)
    changes: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class CycleHistory:
    """One cycle and what it wrote (``history``)."""

    cycle: CycleRecord
    outcomes: tuple[OutcomeRow, ...]


# --------------------------------------------------------------------------- the store


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
    #: one statement (PostgreSQL ``statement_timeout``), and unacknowledged data on the wire
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
        options = f"-c statement_timeout={statement_ms} -c lock_timeout={statement_ms}"
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with ``synchronous=NORMAL``: a commit appends to the log without an fsync (the
    journal commits twice per write; with the default rollback journal each commit costs an
    fsync: measured 14 s for 2,000 commits on a busy disk, 1.4 s in WAL). An application
    crash loses nothing; a power or OS failure can roll back the last commits (SQLite's
    documented trade-off), and the writes of those last moments are then protected by the
    issue property itself once search has caught up (a host restart outlasts Cloud's search
    lag). Readers no longer wait for the writer either."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


class Store:
    """The audit trail and write journal (implements :class:`worker.model.WriteJournal`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: the Alembic revision the store is at
        self.version = migrate(engine)
        #: this store's id (``meta`` ``installation_id``, made when first opened): every
        #: process sharing the store shares it, and so does a copy of the store; the
        #: installation's name is a setting (see :mod:`worker.state.installation`)
        self.installation_id = self._installation_id()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for the lease and for tests)."""
        return self._engine

    @classmethod
    def open(cls, target: str | Path, *, lease_s: float = DEFAULT_LEASE_S) -> Store:
        """Open (create, migrate) the store at a path or URL; :class:`StoreError` on failure.
        ``lease_s``: the leader lease's period, which the database timeouts stay under."""
        where = describe(target)
        database_url(target)  # an unsupported kind of URL says so in one line (StoreError)
        engine: Engine | None = None
        try:
            engine = engine_for(target, lease_s=lease_s)
            return cls(engine)
        except SchemaError as exc:
            _dispose(engine)
            raise StoreError(f"cannot use the state store at {where}: {exc}") from exc
        except sa.exc.SQLAlchemyError as exc:
            _dispose(engine)
            raise StoreError(f"cannot open the state store at {where}: {exc.__class__.__name__}: "
                             f"{_first_line(exc)}") from exc
        except (OSError, ValueError) as exc:
            _dispose(engine)
            raise StoreError(f"cannot open the state store at {where}: {exc}") from exc

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def remigrate(self) -> str:
        """Create the schema again in a database that lost it (dropped and recreated under
        a running service), keeping this installation's id; returns the revision."""
        self.version = migrate(self._engine)
        with self._engine.begin() as conn:
            insert_ignoring_conflict(conn, meta, {"key": INSTALLATION_KEY,
                                                  "value": self.installation_id},
                                     key_columns=("key",))
        return self.version

    # ------------------------------------------------------------------ write journal

    def record_write(self, write: RecordedWrite) -> None:
        """Remember one write the executor sent (see :class:`worker.model.WriteJournal`)."""
        self.record_writes([write])

    def record_writes(self, items: Sequence[RecordedWrite]) -> None:
        """Remember several writes in one transaction, in order (all of them or none)."""
        if not items:
            return
        rows = [
            {
                "issue": w.issue,
                "issue_id": w.issue_id,
                "at": w.at,
                "state": w.state.to_json(),
                "status": w.status,
            }
            for w in items
        ]
        with self._engine.begin() as conn:
            if len(rows) == 1:
                conn.execute(sa.insert(writes).values(**rows[0]))
            else:
                conn.execute(sa.insert(writes), rows)

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        """The latest write per issue at or after ``since`` (site clock), newest first."""
        query = sa.select(writes).where(writes.c.at >= since).order_by(
            writes.c.at.desc(), writes.c.id.desc()
        )
        latest: dict[str, RecordedWrite] = {}
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                if row.issue in latest:
                    continue
                latest[row.issue] = RecordedWrite(
                    issue=row.issue,
                    issue_id=row.issue_id,
                    at=row.at,
                    state=BotState.from_json(row.state),
                    status="applied" if row.status == "applied" else "unknown",
                )
        return latest

    def journaled_states(self, issue: str, *, limit: int = 20) -> list[BotState]:
        """The states this store's journal holds for ``issue`` (any age), newest first."""
        query = (sa.select(writes.c.state).where(writes.c.issue == issue)
                 .order_by(writes.c.at.desc(), writes.c.id.desc()).limit(limit))
        with self._engine.connect() as conn:
            return [BotState.from_json(row.state) for row in conn.execute(query)]

    # ------------------------------------------------------------------ audit trail

    def start_cycle(self, record: CycleRecord) -> None:
        """Insert a cycle row when it starts (status ``running``)."""
        with self._engine.begin() as conn:
            conn.execute(sa.insert(cycles).values(**_cycle_values(record)))

    def finish_cycle(self, record: CycleRecord) -> None:
        """Update (or insert) the cycle row with how it ended."""
        values = _cycle_values(record)
        with self._engine.begin() as conn:
            updated = conn.execute(
                sa.update(cycles).where(cycles.c.run_id == record.run_id).values(**values)
            )
            if updated.rowcount == 0:
                conn.execute(sa.insert(cycles).values(**values))

    def record_decisions(
        self,
        run_id: str,
        at: datetime,
        items: Iterable[Decision],
        *,
        recheck_at: Mapping[str, datetime] | None = None,
    ) -> int:
        """Record decisions with their evidence; returns how many.

        ``recheck_at`` maps an issue key to when it must be read again even if it does not
        change (a grace period ending, a schedule window opening); other decisions get none.
        """
        rechecks = recheck_at or {}
        rows = [
            {
                "run_id": run_id,
                "at": at,
                "issue": d.issue,
                "policy": d.policy,
                "mode": d.mode,
                "verdict": d.verdict,
                "step": d.step,
                "reason": None if d.reason is None else scrub(d.reason),
                "actions": [action_to_json(a) for a in d.actions],
                "evidence": [
                    {"condition": e.condition, "result": e.result, "detail": e.detail}
                    | ({} if e.quote is None else {"quote": scrub_value(e.quote.to_json())})
                    for e in d.evidence
                ],
                "recheck_at": rechecks.get(d.issue),
                "subject": subject_to_json(d.subject),
            }
            for d in items
        ]
        if rows:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(decisions), rows)
        return len(rows)

    def record_outcomes(
        self,
        run_id: str,
        at: datetime,
        items: Iterable[Outcome],
        *,
        changes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> int:
        """Record what the executor did; returns how many.

        ``changes`` maps an issue key to what its write changed (JSON: ``previous_assignee``,
        ``new_assignee``, ``labels_added``, ``comment_ids``...), kept for reports and revert.
        Without an entry there, the outcome's own ``changes`` (set by the executor) is kept.
        """
        changed = changes or {}
        rows = [
            {
                "run_id": run_id,
                "at": at,
                "issue": o.issue,
                "status": o.status,
                "actions": list(o.actions),
                "detail": scrub(o.detail),
                "http_status": o.http_status,
                "retryable": o.retryable,
                "changes": _json_value(changed.get(o.issue, o.changes)),
            }
            for o in items
        ]
        if rows:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(outcomes), rows)
        return len(rows)

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        """A small value kept across cycles (``installation_id``, ``read_watermark``...)."""
        with self._engine.connect() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Set (insert or replace) a meta value, atomically."""
        with self._engine.begin() as conn:
            conn.execute(_upsert(conn, meta, {"key": key, "value": value}, key_columns=("key",)))

    def _installation_id(self) -> str:
        """The id in ``meta``, created at the first open; two processes opening a new store
        at once agree on one (the insert that loses the race inserts nothing)."""
        with self._engine.begin() as conn:
            insert_ignoring_conflict(
                conn, meta, {"key": INSTALLATION_KEY, "value": uuid.uuid4().hex[:16]},
                key_columns=("key",),
            )
            value: object = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == INSTALLATION_KEY)
            ).scalar_one()
        return str(value)

    def purge(self, *, before: datetime) -> int:
        """Delete audit rows and journal entries older than ``before``; returns rows deleted.

        Cycles are aged by their start (wall clock), the rest by the site clock they were
        recorded with.
        """
        deleted = 0
        with self._engine.begin() as conn:
            old_runs = sa.select(cycles.c.run_id).where(cycles.c.started_at < before)
            for table in (decisions, outcomes):
                deleted += conn.execute(
                    sa.delete(table).where(
                        sa.or_(table.c.at < before, table.c.run_id.in_(old_runs))
                    )
                ).rowcount
            deleted += conn.execute(sa.delete(writes).where(writes.c.at < before)).rowcount
            deleted += conn.execute(
                sa.delete(cycles).where(cycles.c.started_at < before)
            ).rowcount
        return deleted

    def last_cycle(self) -> CycleRecord | None:
        """The most recently started cycle, if any."""
        found = self.cycles(limit=1)
        return found[0] if found else None

    def cycle(self, run_id: str) -> CycleRecord | None:
        """One recorded cycle (or revert run) by its run id."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(cycles).where(cycles.c.run_id == run_id)).first()
        return None if row is None else _cycle_record(row)

    def cycles(self, *, limit: int = 20) -> list[CycleRecord]:
        """The most recent cycles, newest first."""
        query = sa.select(cycles).order_by(cycles.c.started_at.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_cycle_record(row) for row in conn.execute(query)]

    def history(self, *, limit: int = 20) -> list[CycleHistory]:
        """The most recent cycles with their outcomes and the decisions behind them."""
        recent = self.cycles(limit=limit)
        if not recent:
            return []
        run_ids = [c.run_id for c in recent]
        with self._engine.connect() as conn:
            outcome_rows = conn.execute(
                sa.select(outcomes)
                .where(outcomes.c.run_id.in_(run_ids))
                .order_by(outcomes.c.id)
            ).all()
            decision_rows = conn.execute(
                sa.select(decisions)
                .where(decisions.c.run_id.in_(run_ids), decisions.c.verdict == "act")
                .order_by(decisions.c.id)
            ).all()
        why: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        for d in decision_rows:
            why.setdefault((d.run_id, d.issue), {}).setdefault(d.policy, []).append(
                {"mode": d.mode, "step": d.step, "reason": d.reason, "evidence": d.evidence}
            )
        per_run: dict[str, list[OutcomeRow]] = {}
        for o in outcome_rows:
            per_run.setdefault(o.run_id, []).append(
                OutcomeRow(
                    run_id=o.run_id,
                    at=o.at,
                    issue=o.issue,
                    status=o.status,
                    actions=tuple(o.actions),
                    detail=o.detail,
                    http_status=o.http_status,
                    policies=why.get((o.run_id, o.issue), {}),
                    changes=o.changes,
                )
            )
        return [CycleHistory(cycle=c, outcomes=tuple(per_run.get(c.run_id, ()))) for c in recent]

    def changed_issues(self, run_id: str) -> list[str] | None:
        """The tickets a run's applied writes changed (``revert --run``), in the order they
        were written; None when the store has no such run."""
        with self._engine.connect() as conn:
            known = conn.execute(
                sa.select(cycles.c.run_id).where(cycles.c.run_id == run_id)
            ).first()
            if known is None:
                return None
            rows = conn.execute(
                sa.select(outcomes.c.issue, outcomes.c.changes)
                .where(
                    outcomes.c.run_id == run_id,
                    outcomes.c.status.in_(("applied", "fallback")),
                )
                .order_by(outcomes.c.id)
            ).all()
        return list(
            dict.fromkeys(r.issue for r in rows if r.changes and "reverted" not in r.changes)
        )

    def decisions_for(self, issue: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """The recorded decisions about one issue, newest first (``explain``)."""
        query = (
            sa.select(decisions)
            .where(decisions.c.issue == issue)
            .order_by(decisions.c.id.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                {
                    "run_id": r.run_id,
                    "at": r.at.isoformat(),
                    "policy": r.policy,
                    "mode": r.mode,
                    "verdict": r.verdict,
                    "step": r.step,
                    "reason": r.reason,
                    "actions": r.actions,
                    "recheck_at": None if r.recheck_at is None else r.recheck_at.isoformat(),
                }
                for r in conn.execute(query)
            ]

    def table_counts(self) -> dict[str, int]:
        """Rows per table (for tests and ``history``'s footer)."""
        with self._engine.connect() as conn:
            return {
                t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                for t in (cycles, decisions, outcomes, writes)
            }


def schema_missing(exc: BaseException | None) -> bool:
    """Whether a store error says our tables are gone (the database was dropped and made
    again, or emptied): PostgreSQL's ``undefined_table``, SQLite's ``no such table``."""
    if not isinstance(exc, sa.exc.DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None)
    return code == "42P01" or "no such table" in str(exc.orig)


def _upsert(
    conn: Connection, table: sa.Table, values: Mapping[str, Any], *, key_columns: Sequence[str]
) -> sa.Executable:
    """INSERT ... ON CONFLICT DO UPDATE in the connection's dialect (SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        pg = postgresql.insert(table).values(**values)
        return pg.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={k: pg.excluded[k] for k in values if k not in key_columns},
        )
    lite = sqlite.insert(table).values(**values)
    return lite.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={k: lite.excluded[k] for k in values if k not in key_columns},
    )


def insert_ignoring_conflict(
    conn: Connection, table: sa.Table, values: Mapping[str, Any], *, key_columns: Sequence[str]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING (SQLite and PostgreSQL); returns rows inserted
    (counted from RETURNING: psycopg reports no rowcount for this statement)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=list(key_columns))
        .returning(*(table.c[k] for k in key_columns))
    )
    return len(conn.execute(statement).all())


def _json_value(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A plain-JSON copy (tuples become lists, datetimes are refused early, not at commit)."""
    return None if value is None else json.loads(json.dumps(dict(value)))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _dispose(engine: Engine | None) -> None:
    if engine is not None:
        engine.dispose()


def _cycle_values(record: CycleRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "site_now": record.site_now,
        "dry_run": record.dry_run,
        "status": record.status,
        "error": None if record.error is None else scrub(record.error),
        "issues_read": record.issues_read,
        "actions_applied": record.actions_applied,
        "actions_failed": record.actions_failed,
        "requests": record.requests,
        "retries": record.retries,
        "duration_s": record.duration_s,
        "counts": json.loads(json.dumps({k: dict(v) for k, v in record.counts.items()})),
        "config_sha256": record.config_sha256,
        "read_full": record.read_full,
        "read_keys": None if record.read_keys is None else sorted(record.read_keys),
    }


def _cycle_record(row: sa.Row[Any]) -> CycleRecord:
    return CycleRecord(
        run_id=row.run_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        site_now=row.site_now,
        dry_run=bool(row.dry_run),
        status=row.status,
        error=row.error,
        issues_read=row.issues_read,
        actions_applied=row.actions_applied,
        actions_failed=row.actions_failed,
        requests=row.requests,
        retries=row.retries,
        duration_s=row.duration_s,
        counts=row.counts or {},
        config_sha256=row.config_sha256,
        read_full=row.read_full,
        read_keys=None if row.read_keys is None else frozenset(row.read_keys),
    )

"""The state store: the audit trail of every cycle, and the write journal.

SQLite by default (a file under ``./var/``), through SQLAlchemy Core only, so PostgreSQL can
follow by changing ``HANDOFF_GUARD_STATE`` to a URL. The store answers "who did the bot comment
on last Tuesday, and why?" (cycles, decisions with their evidence, outcomes) and remembers the
bot's own recent writes (:class:`worker.model.outcome.WriteJournal`) because Jira's search is
eventually consistent. It is *not* the source of truth for ticket state: that lives in our issue
property, so a fresh store on a new machine behaves correctly.

The schema is Alembic's (``worker/migrations``): :meth:`Store.open` brings any store to the
newest revision, upgrades the hand-versioned stores made before Alembic, and refuses a database
whose tables it did not create (:mod:`worker.state.migrate`, imported only when the store is not
at the newest revision already: :mod:`worker.state.revision`). ``postgresql://`` URLs use psycopg 3.
The tables are in :mod:`worker.state.tables`, the records it reads back in
:mod:`worker.state.records`, the engine and its timeouts in :mod:`worker.state.engine`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from worker.model.outcome import Outcome, RecordedWrite
from worker.model.plan import Decision
from worker.model.state import BotState
from worker.state.engine import (
    DEFAULT_LEASE_S,
    StoreError,
    database_url,
    describe,
    dispose_engine,
    engine_for,
    insert_rows,
)
from worker.state.records import (
    CycleHistory,
    CycleRecord,
    OutcomeRow,
    action_to_json,
    cycle_record,
    cycle_values,
    subject_to_json,
)
from worker.state.revision import HEAD_REVISION, SchemaError, stamped_revision
from worker.state.tables import (
    cycles,
    decisions,
    meta,
    outcomes,
    writes,
)
from worker.telemetry.hidden import hidden
from worker.telemetry.logs import scrub, scrub_value

#: ``meta``: this store's id (made at first open; a copy of the store shares it), stamped
#: into the issue property with every write as ``by.store`` (see :mod:`worker.state.installation`)
INSTALLATION_KEY = "installation_id"


def _at_newest_revision(engine: Engine) -> str:
    """The store's revision, once it is the newest this program knows (created or upgraded if
    it was not; :class:`SchemaError` for a store that is newer or not ours)."""
    if stamped_revision(engine) == HEAD_REVISION:
        return HEAD_REVISION
    # Alembic (with Mako: about 3 MB resident for the rest of the process, and Pygments kept
    # out: see worker.telemetry.hidden) only when there is something to create or upgrade: a
    # restart on a current store needs none.
    with hidden("pygments"):
        from worker.state.migrate import migrate

    return migrate(engine)


class Store:
    """The audit trail and write journal (implements :class:`worker.model.outcome.WriteJournal`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        #: the Alembic revision the store is at
        self.version = _at_newest_revision(engine)
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
            dispose_engine(engine)
            raise StoreError(f"cannot use the state store at {where}: {exc}") from exc
        except sa.exc.SQLAlchemyError as exc:
            dispose_engine(engine)
            raise StoreError(f"cannot open the state store at {where}: {exc.__class__.__name__}: "
                             f"{first_line(exc)}") from exc
        except (OSError, ValueError) as exc:
            dispose_engine(engine)
            raise StoreError(f"cannot open the state store at {where}: {exc}") from exc

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def remigrate(self) -> str:
        """Create the schema again in a database that lost it (dropped and recreated under
        a running service), keeping this installation's id; returns the revision."""
        self.version = _at_newest_revision(self._engine)
        with self._engine.begin() as conn:
            insert_ignoring_conflict(conn, meta, {"key": INSTALLATION_KEY,
                                                  "value": self.installation_id},
                                     key_columns=("key",))
        return self.version

    # ------------------------------------------------------------------ write journal

    def record_write(self, write: RecordedWrite) -> None:
        """Remember one write the executor sent (see :class:`worker.model.outcome.WriteJournal`)."""
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
            conn.execute(sa.insert(cycles).values(**cycle_values(record)))

    def finish_cycle(self, record: CycleRecord) -> None:
        """Update (or insert) the cycle row with how it ended."""
        values = cycle_values(record)
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
        rows = (
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
                "due_step": d.due_step,
                "due_at": d.due_at,
            }
            for d in items
        )
        return insert_rows(self._engine, decisions, rows)

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
        rows = (
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
        )
        return insert_rows(self._engine, outcomes, rows)

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
        return None if row is None else cycle_record(row)

    def cycles(self, *, limit: int = 20) -> list[CycleRecord]:
        """The most recent cycles, newest first."""
        query = sa.select(cycles).order_by(cycles.c.started_at.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [cycle_record(row) for row in conn.execute(query)]

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


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""



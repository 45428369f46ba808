"""The state store on SQLite and PostgreSQL: migrations, the journal, the audit trail, retention."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from worker.model.document import Document, Paragraph, Text
from worker.model.outcome import Outcome, RecordedWrite
from worker.model.plan import CommentAction, Decision, Evidence, LabelAction
from worker.model.state import BotState, PolicyState
from worker.state import tables
from worker.state.engine import (
    ROWS_PER_INSERT,
    SQLITE_CACHE_KIB,
    StoreError,
    database_url,
    describe,
    engine_for,
)
from worker.state.migrate import OUR_TABLES, current_revision, head, migrate
from worker.state.records import CycleRecord, decision_to_json
from worker.state.store import Store
from worker.telemetry import logs

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
V1_SQL = Path(__file__).parent / "fixtures" / "store-v1-sqlite.sql"


def _state(step_at: datetime) -> BotState:
    return BotState(policies={"p": PolicyState(first_flagged_at=step_at)})


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    """A fresh store: a SQLite file (parents created on open), then a PostgreSQL schema."""
    opened = Store.open(store_target)
    yield opened
    opened.close()


def _legacy_sqlite(path: Path, version: int) -> None:
    """A store as the hand-versioned program left it at ``version`` (1 or 2), with one cycle."""
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_SQL.read_text(encoding="utf-8"))
        if version == 2:
            conn.executescript(
                "ALTER TABLE cycles ADD COLUMN config_sha256 VARCHAR(64);"
                "CREATE INDEX ix_decisions_issue ON decisions (issue);"
                "UPDATE schema_version SET version = 2;"
            )
        conn.execute(
            "INSERT INTO cycles (run_id, started_at, dry_run, status, issues_read, "
            "actions_applied, actions_failed, requests, retries) "
            "VALUES ('r0', '2026-11-01T09:00:00.000000+00:00', 0, 'ok', 3, 1, 0, 5, 0)"
        )
        conn.execute(
            "INSERT INTO writes (issue, issue_id, at, state, status) "
            "VALUES ('A-1', '1', '2026-11-01T09:00:00.000000+00:00', '{}', 'applied')"
        )
    conn.close()


def test_open_creates_the_current_schema(store: Store) -> None:
    """A new database is created by the migrations, at the newest revision, with every table."""
    assert store.version == head() == current_revision(store.engine)
    assert store.table_counts() == {"cycles": 0, "decisions": 0, "outcomes": 0, "writes": 0}
    tables = set(sa.inspect(store.engine).get_table_names())
    assert OUR_TABLES | {"alembic_version"} == tables


def test_sqlite_parent_folders_are_created(tmp_path: Path) -> None:
    """A SQLite path's missing folders are made on open."""
    Store.open(tmp_path / "a" / "b" / "state.db").close()
    assert (tmp_path / "a" / "b" / "state.db").is_file()


def test_sqlite_commits_in_wal_without_an_fsync_each(tmp_path: Path) -> None:
    """A SQLite store runs in WAL mode with synchronous=NORMAL (a journal commit is an append,
    not an fsync) and a small page cache, on every connection, and the file stays in WAL for
    other processes."""
    target = tmp_path / "var" / "state.db"
    store = Store.open(str(target))
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            # a small page cache per pooled connection (KiB when negative)
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
    finally:
        store.close()
    with sqlite3.connect(target) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_twice_changes_nothing(store_target: str) -> None:
    """A second open of a current store applies nothing and keeps the rows."""
    first = Store.open(store_target)
    first.set_meta("installation_id", "i-1")
    first.close()
    second = Store.open(store_target)
    assert (second.version, second.get_meta("installation_id")) == (head(), "i-1")
    second.close()


@pytest.mark.parametrize("version", [1, 2])
def test_a_hand_versioned_sqlite_store_is_upgraded(tmp_path: Path, version: int) -> None:
    """A version-1 or version-2 store keeps its rows and gains every later table and column."""
    path = tmp_path / "old.db"
    _legacy_sqlite(path, version)
    store = Store.open(path)
    assert store.version == head()
    (old,) = store.cycles()
    assert (old.run_id, old.issues_read, old.config_sha256) == ("r0", 3, None)
    assert list(store.recent_writes(since=NOW - timedelta(days=30))) == ["A-1"]
    store.finish_cycle(CycleRecord("r1", NOW, False, "ok", config_sha256="abc"))
    assert store.cycles()[0].config_sha256 == "abc"
    store.set_meta("k", "v")
    tables = set(sa.inspect(store.engine).get_table_names())
    assert "schema_version" not in tables
    assert {"lease", "meta"} <= tables
    store.close()


def test_a_newer_hand_versioned_store_is_refused(tmp_path: Path) -> None:
    """A hand-versioned store past version 2 is an error that says what to do."""
    path = tmp_path / "new.db"
    _legacy_sqlite(path, 2)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store.open(path)


def test_a_newer_revision_is_refused(store_target: str) -> None:
    """A store stamped by a newer program (an unknown revision) is refused, untouched."""
    Store.open(store_target).close()
    engine = engine_for(store_target)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"9999_future.*does not know"):
        Store.open(store_target)


def test_a_foreign_cycles_table_is_refused(store_target: str) -> None:
    """A database with our table names but no schema version is not ours: refused, untouched."""
    engine = engine_for(store_target)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE cycles (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(sa.text("INSERT INTO cycles (id, note) VALUES (1, 'someone else')"))
    with pytest.raises(StoreError, match=r"did not create \(cycles\)"):
        Store.open(store_target)
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) == {"cycles"}
        assert conn.execute(sa.text("SELECT note FROM cycles")).scalar() == "someone else"
    engine.dispose()


def test_unrelated_tables_are_left_alone(store_target: str) -> None:
    """Other programs' tables in a shared database do not stop a fresh store from being made."""
    engine = engine_for(store_target)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    store = Store.open(store_target)
    assert "invoices" in sa.inspect(store.engine).get_table_names()
    store.close()


def test_concurrent_first_opens_create_the_schema_once(store_target: str) -> None:
    """Replicas starting together on a fresh database: both open it, neither fails."""
    errors: list[BaseException] = []
    opened: list[Store] = []

    def open_one() -> None:
        try:
            opened.append(Store.open(store_target))
        except BaseException as exc:  # the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert [s.version for s in opened] == [head()] * 3
    for s in opened:
        s.close()


@pytest.mark.parametrize(
    ("target", "url"),
    [
        ("postgresql://u:pw@db:5432/hg", "postgresql+psycopg://u:***@db:5432/hg"),
        ("postgres://u:pw@db/hg", "postgresql+psycopg://u:***@db/hg"),
        ("postgresql+psycopg://u@db/hg", "postgresql+psycopg://u@db/hg"),
        ("sqlite:////var/lib/hg/state.db", "sqlite:////var/lib/hg/state.db"),
        ("var/state.db", "sqlite:///var/state.db"),
    ],
)
def test_urls_use_psycopg_and_never_show_passwords(target: str, url: str) -> None:
    """Plain PostgreSQL URLs get psycopg 3; a URL's password never appears in messages."""
    assert describe(target) == url
    assert database_url(target).password in (None, "pw")


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    """A store that cannot be reached fails with one line that hides the URL's password."""
    with pytest.raises(StoreError) as caught:
        Store.open("postgresql://u:s3cret-pw@127.0.0.1:9/hg?connect_timeout=2")
    assert "s3cret-pw" not in str(caught.value)
    assert "\n" not in str(caught.value)
    assert "u:***@127.0.0.1:9/hg" in str(caught.value)


def test_meta_values_round_trip_and_replace(store: Store) -> None:
    """get_meta returns None for a missing key; set_meta inserts, then replaces."""
    assert store.get_meta("read_watermark") is None
    store.set_meta("read_watermark", "2026-11-02T09:00:00+00:00")
    store.set_meta("deal_page_ids", '["1", "2"]')
    store.set_meta("read_watermark", "2026-11-03T09:00:00+00:00")
    assert store.get_meta("read_watermark") == "2026-11-03T09:00:00+00:00"
    assert store.get_meta("deal_page_ids") == '["1", "2"]'


def test_outcome_changes_and_recheck_times_are_kept(store: Store) -> None:
    """What a write changed and when an issue is due again are recorded and read back."""
    changed = {"previous_assignee": "u-1", "new_assignee": "u-2", "labels_added": ("x",),
               "comment_ids": ["10001"]}
    store.start_cycle(CycleRecord("r1", NOW, False, "running"))
    store.record_decisions("r1", NOW, [Decision("A-1", "p", "enforce", "act"),
                                       Decision("B-1", "p", "enforce", "no-match")],
                           recheck_at={"A-1": NOW + timedelta(days=2)})
    store.record_outcomes("r1", NOW, [Outcome("A-1", "applied", ("reassign",)),
                                      Outcome("B-1", "failed", ("comment",))],
                          changes={"A-1": changed})
    store.finish_cycle(CycleRecord("r1", NOW, False, "ok"))
    (item,) = store.history()
    assert [o.changes for o in item.outcomes] == [
        {**changed, "labels_added": ["x"]}, None,
    ]
    assert store.decisions_for("A-1")[0]["recheck_at"] == (NOW + timedelta(days=2)).isoformat()
    assert store.decisions_for("B-1")[0]["recheck_at"] is None


@pytest.mark.parametrize("bad_at", [None, 0, ROWS_PER_INSERT, 2 * ROWS_PER_INSERT + 5])
def test_a_cycles_rows_go_in_whole_or_not_at_all(
    store: Store, store_target: str, bad_at: int | None
) -> None:
    """Decisions and outcomes are sent a few hundred rows at a time, in their order, in one
    transaction: one row the database refuses leaves none of the cycle's rows behind."""
    n = 2 * ROWS_PER_INSERT + 10
    decisions = [Decision(f"A-{i}", "p", "enforce", "act") for i in range(n)]
    outcomes = [Outcome(f"A-{i}", "applied", ("label",)) for i in range(n)]
    if bad_at is not None:  # no issue key: the NOT NULL column refuses the row
        decisions[bad_at] = Decision(None, "p", "enforce", "act")  # type: ignore[arg-type]
        outcomes[bad_at] = Outcome(None, "applied", ("label",))  # type: ignore[arg-type]
    if bad_at is None:
        assert store.record_decisions("r1", NOW, decisions) == n
        assert store.record_outcomes("r1", NOW, outcomes) == n
    else:
        with pytest.raises(sa.exc.IntegrityError):
            store.record_decisions("r1", NOW, decisions)
        with pytest.raises(sa.exc.IntegrityError):
            store.record_outcomes("r1", NOW, outcomes)
    engine = engine_for(store_target)
    with engine.connect() as conn:
        for table in (tables.decisions, tables.outcomes):
            keys = conn.execute(sa.select(table.c.issue).order_by(table.c.id)).scalars().all()
            assert keys == ([] if bad_at is not None else [f"A-{i}" for i in range(n)])
    engine.dispose()
    assert store.record_decisions("r2", NOW, []) == 0


def test_journal_returns_the_latest_write_per_issue_since(store: Store) -> None:
    """recent_writes keeps only the newest write per issue at or after `since`."""
    store.record_write(RecordedWrite("A-1", "1", NOW - timedelta(hours=2), _state(NOW), "applied"))
    store.record_write(RecordedWrite("A-1", "1", NOW, _state(NOW), "unknown"))
    store.record_write(RecordedWrite("A-1", "1", NOW + timedelta(seconds=1), _state(NOW),
                                     "applied"))
    store.record_write(RecordedWrite("B-2", "2", NOW - timedelta(days=2), _state(NOW), "applied"))
    recent = store.recent_writes(since=NOW - timedelta(hours=1))
    assert list(recent) == ["A-1"]
    assert recent["A-1"].status == "applied"
    assert recent["A-1"].at == NOW + timedelta(seconds=1)
    assert recent["A-1"].state == _state(NOW)


def test_history_answers_who_and_why(store: Store) -> None:
    """A cycle's outcomes come back with the decisions (reason and evidence) behind them."""
    comment = CommentAction(Document((Paragraph((Text("hello"),)),)), template="t")
    decision = Decision("A-1", "p", "enforce", "act", (comment,),
                        (Evidence("contract", True, "deal Acme is Draft"),), None, 0)
    store.start_cycle(CycleRecord("r1", NOW, False, "running"))
    store.record_decisions("r1", NOW, [decision,
                                       Decision("B-1", "p", "enforce", "no-match")])
    store.record_outcomes("r1", NOW, [Outcome("A-1", "applied", ("comment",))])
    store.finish_cycle(CycleRecord("r1", NOW, False, "ok", actions_applied=1,
                                   counts={"p": {"act": 1, "no-match": 1}}))
    (item,) = store.history(limit=5)
    assert item.cycle.status == "ok"
    assert item.cycle.counts == {"p": {"act": 1, "no-match": 1}}
    (outcome,) = item.outcomes
    assert outcome.issue == "A-1"
    assert outcome.policies["p"][0]["evidence"] == [
        {"condition": "contract", "result": True, "detail": "deal Acme is Draft"}
    ]
    assert store.decisions_for("A-1")[0]["actions"][0]["text"] == "hello"


def test_retention_purges_only_old_rows(store: Store) -> None:
    """purge deletes cycles, decisions, outcomes and journal entries older than the cutoff."""
    old, new = NOW - timedelta(days=100), NOW
    for run_id, at in (("old", old), ("new", new)):
        store.start_cycle(CycleRecord(run_id, at, False, "ok"))
        store.record_decisions(run_id, at, [Decision("A-1", "p", "enforce", "act")])
        store.record_outcomes(run_id, at, [Outcome("A-1", "applied", ("label",))])
        store.record_write(RecordedWrite("A-1", "1", at, BotState(), "applied"))
    deleted = store.purge(before=NOW - timedelta(days=90))
    assert deleted == 4
    assert store.table_counts() == {"cycles": 1, "decisions": 1, "outcomes": 1, "writes": 1}
    assert [c.run_id for c in store.cycles()] == ["new"]


def test_secrets_never_reach_the_store(store: Store) -> None:
    """Errors and outcome details are scrubbed of registered secrets before they are stored."""
    logs.register_secrets(["tok-9f8e7d6c"])
    store.finish_cycle(CycleRecord("r", NOW, False, "failed", error="401 for tok-9f8e7d6c"))
    store.record_outcomes("r", NOW, [Outcome("A-1", "failed", ("comment",),
                                             detail="Authorization: Bearer tok-9f8e7d6c")])
    (item,) = store.history()
    assert item.cycle.error == "401 for ***"
    assert "tok-9f8e7d6c" not in item.outcomes[0].detail


def test_naive_datetimes_are_refused(store: Store) -> None:
    """The store only takes timezone-aware times (it compares site and wall clocks)."""
    with pytest.raises(sa.exc.StatementError):
        store.start_cycle(CycleRecord("r", datetime(2026, 11, 2, 9), False, "running"))


def test_decision_json_has_the_documented_shape() -> None:
    """decision_to_json gives exactly the keys `plan --format json` documents."""
    decision = Decision("A-1", "p", "dry-run", "act", (LabelAction(add=("x",)),),
                        (Evidence("c", True, "d"),), None, 0)
    assert decision_to_json(decision) == {
        "issue": "A-1", "policy": "p", "mode": "dry-run", "verdict": "act",
        "actions": [{"kind": "label", "add": ["x"], "remove": []}],
        "evidence": [{"condition": "c", "result": True, "detail": "d"}],
        "reason": None,
    }


def test_a_store_at_revision_0004_gains_what_each_cycle_read(store_target: str) -> None:
    """Upgrading from 0004 keeps the cycles; theirs read as "not recorded" (null: they were
    all full reads), and new cycles keep whether they read everything and which keys."""
    engine = engine_for(store_target)
    assert migrate(engine, target="0004_decision_subject") == "0004_decision_subject"
    with engine.begin() as conn:
        assert "read_full" not in {c["name"] for c in sa.inspect(conn).get_columns("cycles")}
        conn.execute(sa.text(
            "INSERT INTO cycles (run_id, started_at, site_now, dry_run, status, issues_read, "
            "actions_applied, actions_failed, requests, retries) VALUES ('old', "
            "'2026-11-01T09:00:00.000000+00:00', '2026-11-01T09:00:00.000000+00:00', "
            "false, 'ok', 3, 0, 0, 5, 0)"
        ))
    engine.dispose()
    store = Store.open(store_target)
    assert store.version == head()
    (old,) = store.cycles()
    assert (old.run_id, old.issues_read, old.read_full, old.read_keys) == ("old", 3, None, None)
    store.finish_cycle(CycleRecord("inc", NOW, False, "ok", site_now=NOW, read_full=False,
                                   read_keys=frozenset({"A-2", "A-1"})))
    store.finish_cycle(CycleRecord("full", NOW + timedelta(hours=1), False, "ok",
                                   read_full=True))
    full, inc, _ = store.cycles()
    assert (inc.read_full, inc.read_keys) == (False, frozenset({"A-1", "A-2"}))
    assert (full.read_full, full.read_keys) == (True, None)
    store.close()


def test_a_store_at_revision_0005_gains_the_due_step_as_data(store_target: str) -> None:
    """Upgrading from 0005 keeps the decisions (theirs have no due step: null); a waiting
    decision recorded after it keeps its next step and when it falls due, other verdicts none."""
    engine = engine_for(store_target)
    assert migrate(engine, target="0005_cycle_reads") == "0005_cycle_reads"
    with engine.begin() as conn:
        assert "due_step" not in {c["name"] for c in sa.inspect(conn).get_columns("decisions")}
        conn.execute(sa.text(
            "INSERT INTO decisions (run_id, at, issue, policy, mode, verdict, reason, actions, "
            "evidence) VALUES ('old', '2026-11-01T09:00:00.000000+00:00', 'A-1', 'p', "
            "'enforce', 'waiting', 'step 2 (reassign) is due 2026-11-04 10:00', '[]', '[]')"
        ))
    engine.dispose()
    store = Store.open(store_target)
    assert store.version == head() == "0007_outcomes_by_issue"
    due = NOW + timedelta(days=2)
    store.record_decisions("new", NOW, [
        Decision("A-1", "p", "enforce", "waiting", reason="step 2 ...", due_step=1, due_at=due),
        Decision("A-2", "p", "enforce", "act", (LabelAction(add=("x",)),), step=0),
    ])
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT run_id, issue, due_step, due_at FROM decisions ORDER BY id")).all()
    store.close()
    assert [(r.run_id, r.issue, r.due_step) for r in rows] == [
        ("old", "A-1", None), ("new", "A-1", 1), ("new", "A-2", None)]
    assert rows[0].due_at is None
    assert datetime.fromisoformat(rows[1].due_at) == due
    assert rows[2].due_at is None


def test_a_store_at_revision_0006_gains_the_outcomes_index(store_target: str) -> None:
    """Upgrading from 0006 indexes ``outcomes.issue`` (each cycle looks up the tickets it
    wrote before) and keeps the rows."""
    engine = engine_for(store_target)
    assert migrate(engine, target="0006_decision_due") == "0006_decision_due"
    with engine.begin() as conn:
        assert "ix_outcomes_issue" not in {
            i["name"] for i in sa.inspect(conn).get_indexes("outcomes")}
        conn.execute(sa.text(
            "INSERT INTO outcomes (run_id, at, issue, status, actions, detail, retryable) "
            "VALUES ('old', '2026-11-01T09:00:00.000000+00:00', 'A-1', 'applied', '[]', '', "
            "false)"))
    engine.dispose()
    store = Store.open(store_target)
    with store.engine.connect() as conn:
        indexes = {i["name"]: i["column_names"] for i in sa.inspect(conn).get_indexes("outcomes")}
        assert indexes["ix_outcomes_issue"] == ["issue"]
        assert conn.execute(sa.text("SELECT issue FROM outcomes")).scalars().all() == ["A-1"]
    store.close()

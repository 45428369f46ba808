"""The state store: versioned schema, the write journal, the audit trail, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from worker import logs
from worker.model import (
    BotState,
    CommentAction,
    Decision,
    Document,
    Evidence,
    LabelAction,
    Outcome,
    Paragraph,
    PolicyState,
    RecordedWrite,
    Text,
)
from worker.store import (
    SCHEMA_VERSION,
    CycleRecord,
    Store,
    StoreError,
    decision_to_json,
    engine_for,
    migrate,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _state(step_at: datetime) -> BotState:
    return BotState(policies={"p": PolicyState(first_flagged_at=step_at)})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A fresh store in a temporary folder (parents created on open)."""
    return Store.open(tmp_path / "nested" / "state.db")


def test_open_creates_the_current_schema(store: Store, tmp_path: Path) -> None:
    """A new database is created at the current schema version with every table."""
    assert store.version == SCHEMA_VERSION
    assert (tmp_path / "nested" / "state.db").is_file()
    assert store.table_counts() == {"cycles": 0, "decisions": 0, "outcomes": 0, "writes": 0}


def test_an_old_database_is_migrated_on_open(tmp_path: Path) -> None:
    """A version-1 database with data gains the version-2 column and keeps its rows."""
    path = tmp_path / "old.db"
    engine = engine_for(path)
    assert migrate(engine, target=1) == 1
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO cycles (run_id, started_at, dry_run, status, issues_read, "
            "actions_applied, actions_failed, requests, retries) "
            "VALUES ('r0', '2026-11-01T09:00:00.000000+00:00', 0, 'ok', 3, 1, 0, 5, 0)"
        ))
    engine.dispose()
    store = Store.open(path)
    assert store.version == 2
    (old,) = store.cycles()
    assert (old.run_id, old.issues_read, old.config_sha256) == ("r0", 3, None)
    store.finish_cycle(CycleRecord("r1", NOW, False, "ok", config_sha256="abc"))
    assert store.cycles()[0].config_sha256 == "abc"


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    """A schema newer than this program is an error that says what to do."""
    path = tmp_path / "new.db"
    Store.open(path).close()
    with engine_for(path).begin() as conn:
        conn.execute(sa.text("UPDATE schema_version SET version = 99"))
    with pytest.raises(StoreError, match="schema version 99"):
        Store.open(path)


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

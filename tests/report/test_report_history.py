"""``history``: every filter and format over a history recorded through the real store."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from tests.report.history_factories import P1, P3, T0
from worker.state.history import (
    CSV_COLUMNS,
    HistoryFilter,
    collapse,
    load_rows,
    parse_when,
    rows_json,
    store_now,
    write_csv,
)
from worker.state.store import Store


@pytest.mark.parametrize(
    ("filt", "expected"),
    [
        (HistoryFilter(), ["ACME-1", "INI-2", "INI-3", "ACME-1", "ACME-1"]),
        (HistoryFilter(issue="acme-1"), ["ACME-1", "ACME-1", "ACME-1"]),
        (HistoryFilter(policy=P3), ["INI-2"]),
        (HistoryFilter(person="Priya"), ["ACME-1", "INI-2", "INI-3", "ACME-1", "ACME-1"]),
        (HistoryFilter(person="ae-sam"), ["ACME-1"]),  # after: the reassignment's target
        (HistoryFilter(person="nobody"), []),
        (HistoryFilter(customer="initech"), ["INI-2", "INI-3"]),
        (HistoryFilter(since=T0 + timedelta(hours=1)), ["ACME-1", "ACME-1"]),
        (HistoryFilter(until=T0 + timedelta(hours=1)), ["ACME-1", "INI-2", "INI-3"]),
        (HistoryFilter(verdicts=frozenset({"exempt", "waiting"})), ["INI-3", "ACME-1"]),
        (HistoryFilter(outcomes=frozenset({"applied"})), ["ACME-1"]),
        (HistoryFilter(outcomes=frozenset({"failed"})), ["ACME-1"]),
        (HistoryFilter(outcomes=frozenset({"dry-run"})), ["INI-2"]),
        (HistoryFilter(outcomes=frozenset({"none"})), ["INI-3", "ACME-1"]),
        (HistoryFilter(customer="acme", outcomes=frozenset({"applied", "failed"})),
         ["ACME-1", "ACME-1"]),
    ],
)
def test_filters(store: Store, filt: HistoryFilter, expected: list[str]) -> None:
    """Each filter keeps exactly the rows it names, oldest first; filters combine with AND."""
    assert [r.issue for r in load_rows(store, filt)] == expected


def test_dry_run_matches_are_included_and_marked(store: Store) -> None:
    """A ticket only a dry-run policy matched is listed, marked, and says "would"."""
    (row,) = load_rows(store, HistoryFilter(issue="INI-2"))
    assert row.dry_run
    assert row.outcome == "dry-run"
    assert row.mode == "dry-run"


def test_a_tickets_story(store: Store) -> None:
    """--issue gives every decision, comment and reassignment with run ids and times."""
    rows = load_rows(store, HistoryFilter(issue="ACME-1"))
    assert [(r.run_id, r.verdict, r.actions, r.outcome) for r in rows] == [
        ("r1", "act", ("comment",), "applied"),
        ("r2", "waiting", (), None),
        ("r3", "act", ("reassign",), "failed"),
    ]
    assert rows[2].http_status == 400
    assert rows[2].reassigned_to is not None
    assert rows[2].reassigned_to.name == "Sam Ortiz"


def test_csv_has_a_header_and_one_row_per_decision(store: Store) -> None:
    """The CSV opens in the csv module: the documented header, then the rows."""
    stream = io.StringIO()
    rows = load_rows(store)
    write_csv(rows, stream)
    parsed = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert tuple(parsed[0].keys()) == CSV_COLUMNS
    assert len(parsed) == len(rows)
    assert parsed[0]["issue"] == "ACME-1"
    assert parsed[0]["assignee_name"] == "Priya Patel"
    assert parsed[1]["dry_run"] == "true"


def test_json_has_the_documented_shape(store: Store) -> None:
    """JSON: store, filters, count and rows with the documented keys."""
    data = json.loads(json.dumps(rows_json(load_rows(store), HistoryFilter(policy=P1),
                                           store="x.db")))
    assert set(data) == {"store", "filters", "count", "rows"}
    assert data["count"] == len(data["rows"]) == 5
    assert set(data["rows"][0]) == {
        "run_id", "at", "issue", "policy", "mode", "dry_run", "verdict", "step", "actions",
        "outcome", "outcome_detail", "http_status", "assignee", "reassigned_to", "customer",
        "account_executive", "reason", "evidence", "changes",
    }
    assert data["filters"]["policy"] == P1


def test_collapse_folds_repeats_but_never_writes(store: Store) -> None:
    """Repeated identical rows fold into one run; a row with an outcome stays its own."""
    rows = load_rows(store, HistoryFilter(issue="ACME-1"))
    doubled = [rows[0], rows[1], rows[1], rows[2]]
    runs = collapse(doubled)
    assert [r.count for r in runs] == [1, 2, 1]


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("7d", False, T0 - timedelta(days=7)),
        ("2w", False, T0 - timedelta(weeks=2)),
        ("36h", False, T0 - timedelta(hours=36)),
        ("2026-11-01", False, T0.replace(day=1, hour=0)),
        ("2026-11-01", True, T0.replace(day=2, hour=0)),
        ("2026-11-01T10:00Z", False, T0.replace(day=1, hour=10)),
    ],
)
def test_parse_when(text: str, end: bool, expected: object) -> None:
    """Spans count back from now; a date is its midnight (with ``end``, the next one)."""
    assert parse_when(text, now=T0, end=end) == expected


def test_parse_when_rejects_nonsense() -> None:
    """A bad value names the accepted forms."""
    with pytest.raises(ValueError, match="7d"):
        parse_when("last tuesday", now=T0)


def test_relative_windows_count_back_from_the_newest_cycle(store: Store) -> None:
    """The store's clock is the site's: "now" is its newest cycle."""
    assert store_now(store) == T0 + timedelta(days=3)

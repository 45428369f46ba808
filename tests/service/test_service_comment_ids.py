"""The comment ids recorded with the bot's writes, as `revert` reads them (a table, on SQLite
and PostgreSQL): a run's own, or a ticket's all when the store has seen every write to it;
None (find them by their stamp) whenever one write was recorded without them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.model.outcome import Outcome, OutcomeStatus
from worker.state.comment_ids import recorded_comment_ids
from worker.state.records import CycleRecord
from worker.state.store import Store

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
DAY = timedelta(days=1)

#: (run id, site time, [(issue, status, changes)]): c1 and c2 recorded ids, c0 did not
RUNS: list[tuple[str, datetime, list[tuple[str, OutcomeStatus, dict[str, Any] | None]]]] = [
    ("c0", T0, [("OLD-1", "applied", {"policies": ["p"]})]),
    ("c1", T0 + DAY, [("ACME-1", "applied", {"policies": ["p"], "comment_ids": ["10"]}),
                      ("ACME-2", "applied", {"policies": ["p"], "comment_ids": []}),
                      ("ACME-3", "failed", None)]),
    ("c2", T0 + 2 * DAY, [("ACME-1", "fallback", {"policies": ["p"],
                                                  "comment_ids": ["12", "13"]}),
                          ("OLD-1", "applied", {"policies": ["p"], "comment_ids": ["20"]})]),
    ("revert-1", T0 + 3 * DAY, [("ACME-1", "applied", {"comment_ids": ["99"]})]),
]


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    """The runs above, recorded through the real store."""
    opened = Store.open(store_target)
    for run_id, at, items in RUNS:
        opened.start_cycle(CycleRecord(run_id, at, False, "running"))
        opened.finish_cycle(CycleRecord(run_id, at, False, "ok", finished_at=at, site_now=at))
        opened.record_outcomes(run_id, at, [
            Outcome(issue, status, ("comment",), changes=changes)
            for issue, status, changes in items
        ])
    yield opened
    opened.close()


@pytest.mark.parametrize(
    ("issue", "run_id", "since", "expected"),
    [
        ("ACME-1", "c1", None, ("10",)),
        ("ACME-1", "c2", None, ("12", "13")),
        ("ACME-2", "c1", None, ()),  # the write posted no comment
        ("OLD-1", "c0", None, None),  # recorded before ids were
        ("ACME-1", None, T0 + DAY, ("10", "12", "13")),  # the revert's own left out
        ("acme-1", None, T0 + DAY, ("10", "12", "13")),
        ("ACME-1", None, None, None),  # the ticket's state names no step
        ("ACME-1", None, T0 - DAY, None),  # a write from before the store's first cycle
        ("OLD-1", None, T0, None),  # one of its writes was recorded without ids
        ("ACME-3", None, T0 + DAY, None),  # nothing landed: the comment list decides
        ("NONE-1", "c1", None, None),
    ],
)
def test_recorded_comment_ids(store: Store, issue: str, run_id: str | None,
                              since: datetime | None, expected: tuple[str, ...] | None) -> None:
    """Each case: the ids `revert` reads by, or None for the stamp in the comment list."""
    assert recorded_comment_ids(store, issue, run_id=run_id, since=since) == expected

"""The comment ids recorded with the bot's writes, as `revert` reads them (a table, on SQLite
and PostgreSQL): a run's own, or a ticket's all when the store has seen every write to it;
None (find them by their stamp) whenever one write was recorded without them. And the writes
that wait for a later cycle to name their ids, and the naming recorded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from worker.model.outcome import Outcome, OutcomeStatus
from worker.state.comment_ids import record_comment_ids, recorded_comment_ids, waiting_writes
from worker.state.records import CycleRecord
from worker.state.store import Store
from worker.state.tables import outcomes

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)

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


#: (run id, site time, [(issue, status, changes)]) for the writes that wait for their ids
WAITING_RUNS: list[tuple[str, datetime, list[tuple[str, OutcomeStatus, dict[str, Any] | None]]]] = [
    ("w0", T0 - 2 * DAY, [("ACME-1", "applied", {"policies": ["p"], "comments_posted": 1})]),
    ("w1", T0, [("ACME-1", "applied", {"policies": ["p"], "comment_ids": ["10"]}),
                ("ACME-2", "unknown", None),
                ("ACME-3", "failed", None)]),
    ("w2", T0 + DAY, [("ACME-1", "fallback", {"policies": ["p"], "comments_posted": 2}),
                      ("ACME-2", "applied", {"policies": ["p"], "comments_posted": 1}),
                      ("ACME-3", "applied", {"policies": ["p"], "comment_ids": []})]),
    ("revert-w", T0 + DAY + HOUR, [("ACME-4", "applied", {"comments_posted": 1})]),
    ("w3", T0 + 2 * DAY, [("ACME-1", "applied", {"policies": ["q"], "comments_posted": 1})]),
]


@pytest.fixture
def waiting_store(store_target: str) -> Iterator[Store]:
    """The runs above, recorded through the real store."""
    opened = Store.open(store_target)
    for run_id, at, items in WAITING_RUNS:
        opened.record_outcomes(run_id, at, [
            Outcome(issue, status, ("comment",), changes=changes)
            for issue, status, changes in items
        ])
    yield opened
    opened.close()


def test_waiting_writes_and_their_ids_recorded(waiting_store: Store) -> None:
    """Within the window and before this cycle (w3 is this cycle's own; w0 is older than the
    window): the writes waiting for ids, the ids recorded, the unsure tickets; recording the
    ids drops the count, keeps the rest, and `revert` then reads by them."""
    found = waiting_writes(waiting_store, ["ACME-1", "ACME-2", "ACME-3", "ACME-4", "NONE-1"],
                           since=T0, before=T0 + 2 * DAY)
    assert sorted(found) == ["ACME-1", "ACME-2", "ACME-3", "ACME-4"]
    one = found["ACME-1"]
    assert [(w.at, w.posted) for w in one.waiting] == [(T0 + DAY, 2)]
    assert (one.recorded, one.unsure) == ({"10"}, False)
    assert (found["ACME-2"].unsure, len(found["ACME-2"].waiting)) == (True, 1)
    assert (found["ACME-3"].waiting, found["ACME-3"].recorded) == ([], set())
    assert [(w.at, w.posted) for w in found["ACME-4"].waiting] == [(T0 + DAY + HOUR, 1)]

    record_comment_ids(waiting_store, {one.waiting[0].row: ("11", "12")})
    again = waiting_writes(waiting_store, ["ACME-1"], since=T0, before=T0 + 2 * DAY)
    assert (again["ACME-1"].waiting, again["ACME-1"].recorded) == ([], {"10", "11", "12"})
    assert recorded_comment_ids(waiting_store, "ACME-1", run_id="w2") == ("11", "12")
    with waiting_store.engine.connect() as conn:
        changes = conn.execute(sa.select(outcomes.c.changes)
                               .where(outcomes.c.id == one.waiting[0].row)).scalar_one()
    assert changes == {"policies": ["p"], "comment_ids": ["11", "12"]}

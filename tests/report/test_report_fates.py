"""What happened next to a flagged ticket, from the cycles that read it (pure, table-driven).

An incremental cycle reads only the tickets that can have changed: a ticket missing from it
says nothing, unless that cycle looked at the ticket (its ``read_keys``) and recorded no match.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from worker.report.build import CycleMark, _mark, stories
from worker.state.history import HistoryRow

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
P1 = "sales-deliverable-before-signature"


def _at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def _row(run: int, verdict: str = "waiting", *, outcome: str | None = None,
         actions: tuple[str, ...] = (), reason: str | None = None) -> HistoryRow:
    return HistoryRow(id=run, run_id=f"c{run}", at=_at(run), issue="A-1", policy=P1,
                      mode="enforce", verdict=verdict, step=None, reason=reason,
                      actions=actions, outcome=outcome)


FULL = "full"
NOT_READ = "incremental, A-1 not read"
READ = "incremental, A-1 read"
NOTHING = "stopped before it planned"


def _marks(kinds: list[str]) -> list[CycleMark]:
    keys = {FULL: frozenset(), NOT_READ: frozenset({"B-9"}), READ: frozenset({"A-1", "B-9"}),
            NOTHING: frozenset()}
    return [CycleMark(f"c{i}", _at(i), read_full=kind == FULL, read_keys=keys[kind])
            for i, kind in enumerate(kinds)]


COMMENTED = _row(0, "act", outcome="applied", actions=("comment",))


@pytest.mark.parametrize(
    ("rows", "cycles", "fate", "closed_at"),
    [
        # sighted in the newest cycle
        ([COMMENTED, _row(1)], [FULL, FULL], "open", None),
        # not read by the incremental cycles since: nothing says it left
        ([COMMENTED], [FULL, NOT_READ, NOT_READ], "open", None),
        ([COMMENTED], [FULL, NOTHING], "open", None),
        # an incremental cycle read it and recorded no match: it left then
        ([COMMENTED], [FULL, NOT_READ, READ], "moved", _at(2)),
        # the next full read did not see it: it left by then
        ([COMMENTED], [FULL, NOT_READ, FULL, NOT_READ], "moved", _at(2)),
        # every cycle a full read (as before incremental reads): the next one tells
        ([COMMENTED, _row(1)], [FULL, FULL, FULL], "moved", _at(2)),
        # the bot's own reassignment says where it went, whatever was read since
        ([COMMENTED, _row(1, "act", outcome="applied", actions=("reassign",))],
         [FULL, NOT_READ], "reassigned", _at(1)),
        ([COMMENTED, _row(1, "act", outcome="applied", actions=("reassign",))],
         [FULL, READ, FULL], "reassigned", _at(1)),
        # a failed reassignment moved nothing
        ([COMMENTED, _row(1, "act", outcome="failed", actions=("reassign",))],
         [FULL, NOT_READ], "open", None),
        # exempt rows say it themselves
        ([COMMENTED, _row(1, "exempt", reason="exempt: label handoff-exception")],
         [FULL, FULL, NOT_READ], "opted-out", _at(1)),
    ],
)
def test_fates_need_a_cycle_that_read_the_ticket(
    rows: list[HistoryRow], cycles: list[str], fate: str, closed_at: datetime | None
) -> None:
    """Open until a cycle that read the ticket says otherwise; then moved at that cycle."""
    (story,) = stories(rows, _marks(cycles))
    assert (story.fate, story.closed_at) == (fate, closed_at)


@pytest.mark.parametrize(
    ("run_id", "status", "read_full", "read_keys", "full", "completed"),
    [
        # before revision 0005 (null): every finished cycle read everything...
        ("c1", "ok", None, None, True, True),
        # ...but a stopped one may have stopped before it planned, a revert plans nothing
        ("c2", "stopped", None, None, False, True),
        ("revert-20261102T090000-abc123", "ok", None, None, False, True),
        ("c3", "failed", None, None, False, False),
        # since 0005: as recorded
        ("c4", "ok", False, ["A-1"], False, True),
        ("c5", "failed", True, None, True, False),
    ],
)
def test_cycles_recorded_before_and_after_0005(
    run_id: str, status: str, read_full: bool | None, read_keys: list[str] | None,
    full: bool, completed: bool,
) -> None:
    """What the report takes each stored cycle to have read."""
    row = SimpleNamespace(run_id=run_id, site_now=T0, status=status, read_full=read_full,
                          read_keys=read_keys)
    mark = _mark(row)  # type: ignore[arg-type]
    assert (mark.read_full, mark.completed) == (full, completed)
    assert mark.covers("A-1") == (full or "A-1" in (read_keys or ()))

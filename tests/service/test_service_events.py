"""Metric events from successive plans: a ticket's step counted once, the matching gauge."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.events import EventCounter
from worker.model import (
    CommentAction,
    Decision,
    Document,
    Outcome,
    Person,
    Plan,
    ReassignAction,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
COMMENT = CommentAction(document=Document(()), template="t")
REASSIGN = ReassignAction(to=Person("s", "Sam"), target="sales_owner")


def _plan(*decisions: Decision) -> Plan:
    return Plan(now=NOW, decisions=decisions, writes=())


def _d(issue: str, policy: str, verdict: str, *, step: int | None = None,
       mode: str = "enforce", actions: tuple[object, ...] = ()) -> Decision:
    return Decision(issue, policy, mode, verdict, actions=actions, step=step)  # type: ignore[arg-type]


CYCLES = [
    # cycle 1: A is commented (step 0), B matches a dry-run policy, C is exempt
    (
        _plan(_d("A", "p", "act", step=0, actions=(COMMENT,)),
              _d("B", "dry", "act", step=0, mode="dry-run", actions=(COMMENT,)),
              _d("C", "p", "exempt")),
        [Outcome("A", "applied", ("comment",))],
        {"p": {"act": 1, "exempt": 1}, "dry": {"act": 1}},
        {("p", "comment", "applied"): 1, ("dry", "comment", "dry-run"): 1},
        {"p": 1, "dry": 1},
    ),
    # cycle 2: A waits, B is the same dry-run match, C still exempt: only A's wait is new
    (
        _plan(_d("A", "p", "waiting"),
              _d("B", "dry", "act", step=0, mode="dry-run", actions=(COMMENT,)),
              _d("C", "p", "exempt")),
        [],
        {"p": {"waiting": 1}},
        {},
        {"p": 1, "dry": 1},
    ),
    # cycle 3: the same again: nothing new at all
    (
        _plan(_d("A", "p", "waiting"),
              _d("B", "dry", "act", step=0, mode="dry-run", actions=(COMMENT,)),
              _d("C", "p", "exempt")),
        [],
        {},
        {},
        {"p": 1, "dry": 1},
    ),
    # cycle 4: A's reassignment fails; B no longer matches
    (
        _plan(_d("A", "p", "act", step=1, actions=(REASSIGN,)), _d("C", "p", "exempt")),
        [Outcome("A", "failed", ("reassign",))],
        {"p": {"act": 1}},
        {("p", "reassign", "failed"): 1},
        {"p": 1, "dry": 0},
    ),
    # cycle 5: the same step is retried and fails again: a write is an event every time
    (
        _plan(_d("A", "p", "act", step=1, actions=(REASSIGN,)), _d("C", "p", "exempt")),
        [Outcome("A", "failed", ("reassign",))],
        {},
        {("p", "reassign", "failed"): 1},
        {"p": 1, "dry": 0},
    ),
]


def test_events_over_successive_cycles() -> None:
    """Decisions count when new; writes count each time; dry-run matches once; the gauge
    follows what matches now."""
    counter = EventCounter()
    for n, (plan, results, decisions, actions, matching) in enumerate(CYCLES, 1):
        got = counter.count(plan, results, policies=["p", "dry"])
        assert dict(got.decisions) == decisions, n
        assert dict(got.actions) == actions, n
        assert dict(got.matching) == matching, n


def test_a_failed_cycle_changes_nothing() -> None:
    """No plan: no events, the gauge reads zero for the known policies."""
    got = EventCounter().count(None, [], policies=["p"])
    assert (dict(got.decisions), dict(got.actions), dict(got.matching)) == ({}, {}, {"p": 0})

"""Metric events from successive plans: a ticket's step counted once, the matching gauge."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.model.document import Document
from worker.model.outcome import Outcome
from worker.model.people import Person
from worker.model.plan import CommentAction, Decision, Plan, ReassignAction
from worker.telemetry.events import EventCounter

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
        assert dict(got.matching or {}) == matching, n


def test_a_failed_cycle_changes_nothing() -> None:
    """No plan: no events, the gauge reads zero for the known policies."""
    got = EventCounter().count(None, [], policies=["p"])
    assert (dict(got.decisions), dict(got.actions), got.matching) == ({}, {}, {"p": 0})


def test_an_incremental_cycle_keeps_what_it_did_not_read() -> None:
    """A partial read decides only the tickets it read: the others stand as last seen, in the
    gauge and in what counts as new (the next full read counts nothing twice)."""
    counter = EventCounter()
    full = _plan(_d("A", "p", "waiting"), _d("B", "p", "waiting"),
                 _d("D", "dry", "act", step=0, mode="dry-run", actions=(COMMENT,)))
    got = counter.count(full, [], policies=["p", "dry"])
    assert got.matching == {"p": 2, "dry": 1}
    # A was read and no longer matches; B and D were not read
    got = counter.count(_plan(), [], policies=["p", "dry"], read=frozenset({"A"}))
    assert (dict(got.decisions), got.matching) == ({}, {"p": 1, "dry": 1})
    got = counter.count(_plan(), [], policies=["p", "dry"], read=frozenset())
    assert (dict(got.decisions), got.matching) == ({}, {"p": 1, "dry": 1})
    # B read again, now handled: one new decision
    got = counter.count(_plan(_d("B", "p", "handled")), [], policies=["p", "dry"],
                        read=frozenset({"B"}))
    assert (dict(got.decisions), got.matching) == ({"p": {"handled": 1}}, {"p": 1, "dry": 1})
    got = counter.count(_plan(_d("B", "p", "handled"),
                              _d("D", "dry", "act", step=0, mode="dry-run", actions=(COMMENT,))),
                        [], policies=["p", "dry"])
    assert (dict(got.decisions), dict(got.actions)) == ({}, {})


def test_the_gauge_waits_for_a_full_read() -> None:
    """A process whose first cycles read incrementally does not know the whole backlog: the
    gauge is not claimed (None) until a full read."""
    counter = EventCounter()
    partial = _plan(_d("A", "p", "waiting"))
    assert counter.count(partial, [], policies=["p"], read=frozenset({"A"})).matching is None
    assert counter.count(partial, [], policies=["p"]).matching == {"p": 1}

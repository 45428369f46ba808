"""Metrics that count events, not cycles: a ticket's step is counted once, when it is new.

Every cycle re-plans every candidate ticket, so a ticket waiting for its grace period, or
matched by a dry-run policy, shows up in each cycle's plan. Counting each plan would make
``decisions_total`` grow with the schedule instead of with what happened. An
:class:`EventCounter` remembers, per (ticket, policy), what the last cycle decided, and counts
a decision only when that changes; real writes (applied, failed...) are events each time.
The gauge of tickets currently matching each policy is read from the same memory.

An incremental cycle (:mod:`worker.read.incremental`) plans only the tickets it read: the others'
decisions stand as last seen, so the memory keeps them, and the gauge counts each ticket as it
was last read. That is known only once a full read seeded the memory in this process: until
then the gauge is left as it is (None). A ticket that left the search (handed back, closed) is
not returned by an incremental read, so it counts until the next full read.

The memory is the decisions as last seen (the matches, never the whole backlog), kept in the
process: a restart counts each current decision once more, as Prometheus counters restart
from zero anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from worker.model.outcome import Outcome
from worker.model.plan import Plan
from worker.model.vocabulary import MATCHED_VERDICTS

#: outcome statuses that are not writes, so they count only when the decision is new
_NOT_WRITES = frozenset({"dry-run", "skipped"})

Key = tuple[str, str]  # (issue, policy)


@dataclass(frozen=True, slots=True)
class CycleEvents:
    """What one cycle adds to the counters, and the gauge's current values."""

    #: policy -> verdict -> decisions new this cycle
    decisions: Mapping[str, Mapping[str, int]]
    #: (policy, action kind, outcome) -> actions
    actions: Mapping[tuple[str, str, str], int]
    #: policy -> tickets its conditions match now (waiting, handled... included); None while
    #: this process has not seen a full read
    matching: Mapping[str, int] | None


class EventCounter:
    """Turns successive plans into events (see the module docstring). Not thread-safe: one
    per cycle runner, whose cycles never overlap."""

    def __init__(self) -> None:
        self._last: dict[Key, tuple[str, str, int | None]] = {}
        #: a full read has seeded ``_last``: it holds every ticket's decisions
        self._whole = False

    def count(
        self,
        the_plan: Plan | None,
        results: Iterable[Outcome],
        *,
        policies: Iterable[str] = (),
        read: frozenset[str] | None = None,
    ) -> CycleEvents:
        """The events of one cycle's plan and outcomes (remembered for the next call).

        ``read``: the tickets the plan decided when the cycle read only part of the scope (an
        incremental read); None when it read everything.
        """
        matching: dict[str, set[str]] = {p: set() for p in policies}
        if the_plan is None:
            return CycleEvents({}, {}, dict.fromkeys(matching, 0))
        current: dict[Key, tuple[str, str, int | None]] = (
            {} if read is None else {k: v for k, v in self._last.items() if k[0] not in read}
        )
        decisions: dict[str, Counter[str]] = {}
        new: set[Key] = set()
        for d in the_plan.decisions:
            key = (d.issue, d.policy)
            value = (d.verdict, d.mode, d.step)
            current[key] = value
            if self._last.get(key) != value:
                new.add(key)
                decisions.setdefault(d.policy, Counter())[d.verdict] += 1
        self._last = current
        self._whole = self._whole or read is None
        for (issue, policy), (verdict, _, _) in current.items():
            if verdict in MATCHED_VERDICTS:
                matching.setdefault(policy, set()).add(issue)
        by_issue: dict[str, str] = {}
        for o in results:
            by_issue.setdefault(o.issue, o.status)
        actions: Counter[tuple[str, str, str]] = Counter()
        for d in the_plan.decisions:
            if d.verdict != "act" or not d.actions:
                continue
            if d.mode == "dry-run":
                status = "dry-run"
            else:
                found = by_issue.get(d.issue)
                if found is None:
                    continue  # deferred by the budget or dropped by the breaker
                status = found
            if status in _NOT_WRITES and (d.issue, d.policy) not in new:
                continue  # the same dry-run match as last cycle: not a new event
            for action in d.actions:
                actions[(d.policy, action.kind, status)] += 1
        return CycleEvents(
            decisions={p: dict(c) for p, c in sorted(decisions.items())},
            actions=dict(actions),
            matching={p: len(v) for p, v in sorted(matching.items())} if self._whole else None,
        )

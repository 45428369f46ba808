"""Writes that start while the tickets are still read: only when no limit counts the whole
cycle, and then exactly the plan's writes, each handed out as its ticket is planned."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from hypothesis import given
from policy_factories import CONFIG, DEALS, DIRECTORY, NOW, default_policies, snap
from test_policy_properties import SETTINGS, ticket_lists

from worker.model.issue import IssueSnapshot
from worker.model.plan import IssueWrite
from worker.policy import Breaker, Policies, Safety, load_policies_text, plan
from worker.policy.plan import writes_wait_for_read
from worker.policy.summary import summarize


def _lifted(policies: Policies) -> Policies:
    """Every limit lifted by name, as a file saying ``unlimited`` does."""
    return replace(
        policies,
        safety=Safety(max_actions_per_cycle=None,
                      breaker=Breaker(max_matches=None, max_percent=100, min_scope=20)),
        policies=tuple(replace(p, breaker=None, max_actions_per_cycle=None)
                       for p in policies.policies),
    )


def _first_enforcing(policies: Policies, **changes: object) -> Policies:
    first = next(i for i, p in enumerate(policies.policies) if p.mode == "enforce")
    edited = list(policies.policies)
    edited[first] = replace(edited[first], **changes)  # type: ignore[arg-type]
    return replace(policies, policies=tuple(edited))


LIFTED = _lifted(default_policies())


@pytest.mark.parametrize(
    ("policies", "why"),
    [
        (default_policies(), "breaker counts the whole cycle's matches"),
        (LIFTED, None),
        (replace(LIFTED, safety=replace(LIFTED.safety, max_actions_per_cycle=10**7)),
         "the action budget per cycle is served in issue-key order"),
        (replace(LIFTED, safety=replace(LIFTED.safety, breaker=Breaker(None, 99.5, 20))),
         "breaker counts the whole cycle's matches"),
        (replace(LIFTED, safety=replace(LIFTED.safety, breaker=Breaker(10**7, 100, 20))),
         "breaker counts the whole cycle's matches"),
        (_first_enforcing(LIFTED, max_actions_per_cycle=5), "has an action budget per cycle"),
        (_first_enforcing(LIFTED, breaker=Breaker(25, 100, 20)),
         "breaker counts the whole cycle's matches"),
        # a dry-run policy never writes: its limits hold no enforcing write back
        (replace(LIFTED, policies=tuple(
            replace(p, breaker=Breaker(1, 1, 1)) if p.mode == "dry-run" else p
            for p in LIFTED.policies)), None),
    ],
    ids=["shipped", "lifted", "budget-number", "percent-below-100", "matches-number",
         "policy-budget", "policy-breaker", "dry-run-breaker"],
)
def test_writes_wait_for_the_read_while_a_limit_can_bind(policies: Policies,
                                                         why: str | None) -> None:
    """A budget or a breaker that can bind counts the whole cycle: the writes wait."""
    found = writes_wait_for_read(policies)
    assert (found is None) == (why is None)
    if why is not None:
        assert found is not None
        assert why in found


def _recording(batch: list[IssueSnapshot], log: list[str]) -> Iterator[IssueSnapshot]:
    for s in batch:
        log.append(f"read {s.key}")
        yield s


@SETTINGS
@given(ticket_lists)
def test_each_write_is_handed_out_as_its_ticket_is_planned(batch: list[IssueSnapshot]) -> None:
    """With every limit lifted, each write is handed out before the next ticket is read,
    and the plan holds exactly the writes handed out (equal, field by field)."""
    log: list[str] = []
    handed: list[IssueWrite] = []

    def on_write(write: IssueWrite) -> None:
        log.append(f"write {write.issue}")
        handed.append(write)

    result = plan(_recording(batch, log), DIRECTORY, DEALS, LIFTED, NOW, keep_no_match=False,
                  on_write=on_write)
    assert sorted(handed, key=lambda w: w.issue) == sorted(result.writes, key=lambda w: w.issue)
    assert result == plan(batch, DIRECTORY, DEALS, LIFTED, NOW, keep_no_match=False)
    for write in handed:  # before any later ticket is read
        between = log[log.index(f"read {write.issue}") + 1 : log.index(f"write {write.issue}")]
        assert not [e for e in between if e.startswith("read")]


@SETTINGS
@given(ticket_lists)
def test_with_limits_nothing_is_handed_out(batch: list[IssueSnapshot]) -> None:
    """The shipped limits can bind: the writes come with the plan only."""
    handed: list[IssueWrite] = []
    result = plan(batch, DIRECTORY, DEALS, default_policies(), NOW, on_write=handed.append)
    assert handed == []
    assert result == plan(batch, DIRECTORY, DEALS, default_policies(), NOW)


def test_unlimited_in_the_file() -> None:
    """``unlimited`` lifts the budget and the breaker's count; the summary says so."""
    text = CONFIG.read_text(encoding="utf-8").replace(
        "max_actions_per_cycle: 50", "max_actions_per_cycle: unlimited").replace(
        "max_matches: 25", "max_matches: unlimited").replace(
        "max_percent: 50", "max_percent: 100")
    policies = load_policies_text(text, base_dir=CONFIG.parent)
    assert policies.safety.max_actions_per_cycle is None
    assert policies.safety.breaker.max_matches is None
    assert "no action budget per cycle; breaker at 100% of scope" in summarize(policies)[0]
    batch = [snap(f"ACME-{n}", issue_type="Statement of Work") for n in range(1, 81)]
    assert len(plan(batch, DIRECTORY, DEALS, policies, NOW).writes) == 80

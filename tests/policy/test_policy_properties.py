"""Property tests of the planner: determinism, exemptions, idempotence, breaker and budget."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_factories import (
    CONFIG,
    DANA,
    DEALS,
    DIRECTORY,
    LEE,
    MARCO,
    NOW,
    OLGA,
    PRIYA,
    SAM,
    default_policies,
    snap,
)

from worker.model.issue import Comment, IssueSnapshot, MalformedIssue
from worker.model.state import BotState, PolicyState, StepRecord
from worker.policy import Breaker, Policies, Safety, load_policies_text, plan

P1 = "sales-deliverable-before-signature"
CHASE = "Can you get this done? Any update by EOD?"


@st.composite
def tickets(draw: st.DrawFn) -> IssueSnapshot:
    """A ticket from the example site's world, possibly already handled by the bot."""
    project = draw(st.sampled_from(["ACME", "GLOBEX", "SALES", "NOPE"]))
    number = draw(st.integers(1, 400))
    state = BotState()
    stage = draw(st.sampled_from(["new", "commented", "reassigned"]))
    flagged = NOW - timedelta(days=draw(st.integers(0, 6)), hours=draw(st.integers(0, 23)))
    if stage != "new":
        steps = (StepRecord(0, flagged, ("comment",)),)
        if stage == "reassigned":
            steps += (StepRecord(1, flagged + timedelta(days=2), ("reassign", "label")),)
        state = BotState(
            {
                P1: PolicyState(
                    first_flagged_at=flagged,
                    steps=steps,
                    reassigned_to=SAM.id if stage == "reassigned" else None,
                )
            }
        )
    author = draw(st.sampled_from([SAM, DANA, PRIYA]))
    comments = (
        (Comment("c", author, NOW - timedelta(days=1), CHASE),) if draw(st.booleans()) else ()
    )
    return snap(
        f"{project}-{number}",
        issue_type=draw(st.sampled_from(["Task", "Statement of Work", "Proposal", "Escalation"])),
        summary=draw(
            st.sampled_from(["Contractor onboarding", "Send the quote", "Kickoff", "MSA redlines"])
        ),
        labels=tuple(draw(st.sets(st.sampled_from(["sow", "handoff-exception", "pricing"])))),
        assignee=draw(st.sampled_from([PRIYA, MARCO, SAM, OLGA, LEE, None])),
        reporter=draw(st.sampled_from([SAM, DANA, PRIYA, OLGA])),
        status_category=draw(st.sampled_from(["new", "indeterminate", "done"])),
        fields=draw(
            st.sampled_from(
                [{}, {"Account": "Initech"}, {"Contract status": "Draft"}, {"Account": "Globex"}]
            )
        ),
        comments=comments,
        state=state,
    )


ticket_lists = st.lists(tickets(), max_size=40, unique_by=lambda t: t.key)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(ticket_lists, st.randoms(use_true_random=False))
def test_plan_is_deterministic_and_order_independent(
    batch: list[IssueSnapshot], rnd: random.Random
) -> None:
    """The same tickets in any order give the same plan."""
    inputs: list[IssueSnapshot | MalformedIssue] = [*batch, MalformedIssue("ACME-999", "bad")]
    first = plan(inputs, DIRECTORY, DEALS, default_policies(), NOW)
    rnd.shuffle(inputs)
    assert plan(inputs, DIRECTORY, DEALS, default_policies(), NOW) == first


@SETTINGS
@given(ticket_lists)
def test_exempt_tickets_never_get_actions(batch: list[IssueSnapshot]) -> None:
    """A ticket labelled handoff-exception gets no action from any default policy."""
    result = plan(batch, DIRECTORY, DEALS, default_policies(), NOW)
    exempt = {t.key for t in batch if "handoff-exception" in t.labels}
    for decision in result.decisions:
        if decision.issue in exempt:
            assert decision.actions == ()
    assert not any(w.issue in exempt and w.actions for w in result.writes)


@SETTINGS
@given(ticket_lists)
def test_replanning_the_planned_state_writes_nothing(batch: list[IssueSnapshot]) -> None:
    """After the plan's state is stored, planning again at the same time writes nothing."""
    policies = default_policies()
    first = plan(batch, DIRECTORY, DEALS, policies, NOW)
    states = {w.issue: w.state for w in first.writes}
    again = [replace(t, state=states.get(t.key, t.state)) for t in batch]
    assert plan(again, DIRECTORY, DEALS, policies, NOW).writes == ()


@SETTINGS
@given(ticket_lists, st.integers(0, 6), st.integers(0, 4))
def test_rows_never_contradict_themselves(
    batch: list[IssueSnapshot], budget: int, later_days: int
) -> None:
    """``act`` always plans a step; every other verdict plans none and says why."""
    policies = _tight(default_policies(), max_matches=25, budget=budget)
    first = plan(batch, DIRECTORY, DEALS, policies, NOW)
    states = {w.issue: w.state for w in first.writes}
    again = [replace(t, state=states.get(t.key, t.state)) for t in batch]
    for result in (first, plan(again, DIRECTORY, DEALS, policies,
                               NOW + timedelta(days=later_days))):
        for d in result.decisions:
            if d.verdict == "act":
                assert d.step is not None
                assert "nothing more to do" not in (d.reason or "")
                assert "due" not in (d.reason or "")
            else:
                assert d.actions == ()
                assert d.step is None
                assert d.reason, d
            if d.verdict == "handled":
                assert "nothing more to do" in (d.reason or "")
            if d.verdict == "deferred":
                assert (d.reason or "").startswith("deferred: budget")


def _tight(policies: Policies, *, max_matches: int, budget: int) -> Policies:
    breaker = Breaker(max_matches=max_matches, max_percent=100, min_scope=1)
    return replace(policies, safety=Safety(max_actions_per_cycle=budget, breaker=breaker))


@SETTINGS
@given(ticket_lists, st.integers(1, 5), st.integers(0, 6))
def test_breaker_and_budget_bound_the_plan(
    batch: list[IssueSnapshot], max_matches: int, budget: int
) -> None:
    """No policy acts on more tickets than its breaker allows; writes fit the budget."""
    policies = _tight(default_policies(), max_matches=max_matches, budget=budget)
    result = plan(batch, DIRECTORY, DEALS, policies, NOW)
    for policy in policies.policies:
        acted = [d for d in result.decisions if d.policy == policy.id and d.actions]
        assert len(acted) <= max_matches
        if policy.id in result.breakers:
            assert acted == []
            assert all(
                d.reason == result.breakers[policy.id]
                for d in result.decisions
                if d.policy == policy.id and d.verdict == "breaker"
            )
    assert sum(len(w.actions) for w in result.writes) <= budget


def test_breaker_reason_names_the_counts() -> None:
    """A tripped breaker plans nothing and says how many matched against which limit."""
    batch = [snap(f"ACME-{n}", issue_type="Statement of Work") for n in range(1, 41)]
    result = plan(batch, DIRECTORY, DEALS, default_policies(), NOW)
    assert result.breakers[P1] == "breaker tripped: 40 matches > max 25 (100% of 40 in scope)"
    assert result.writes == ()
    assert {d.verdict for d in result.decisions if d.policy == P1} == {"breaker"}


def test_budget_defers_in_key_order() -> None:
    """Beyond the cycle budget, tickets are deferred in natural key order and counted."""
    batch = [snap(f"ACME-{n}", issue_type="Statement of Work") for n in (10, 2, 1)]
    policies = _tight(default_policies(), max_matches=25, budget=2)
    result = plan(batch, DIRECTORY, DEALS, policies, NOW)
    assert [w.issue for w in result.writes] == ["ACME-1", "ACME-2"]
    assert result.deferred == {P1: 1}
    deferred = next(d for d in result.decisions if d.issue == "ACME-10" and d.policy == P1)
    assert (deferred.reason or "").startswith("deferred: budget")


def test_human_override_is_recorded_once_and_respected() -> None:
    """A PM taking a reassigned ticket back is recorded, and the bot then stays out."""
    state = BotState(
        {
            P1: PolicyState(
                first_flagged_at=NOW - timedelta(days=5),
                steps=(
                    StepRecord(0, NOW - timedelta(days=5), ("comment",)),
                    StepRecord(1, NOW - timedelta(days=3), ("reassign", "label")),
                ),
                reassigned_to=SAM.id,
            )
        }
    )
    ticket = snap(issue_type="Statement of Work", assignee=MARCO, state=state, updated=NOW)
    result = plan([ticket], DIRECTORY, DEALS, default_policies(), NOW)
    (write,) = result.writes
    assert write.actions == ()
    recorded = write.state.for_policy(P1)
    assert recorded.overridden_at == NOW
    assert recorded.overridden_by == MARCO.id
    again = plan([replace(ticket, state=write.state)], DIRECTORY, DEALS, default_policies(), NOW)
    assert again.writes == ()
    assert all(d.actions == () for d in again.decisions)


def test_stale_search_is_not_an_override() -> None:
    """A ticket not updated since our reassignment (a stale search) is not an override."""
    state = BotState(
        {
            P1: PolicyState(
                first_flagged_at=NOW - timedelta(days=2),
                steps=(
                    StepRecord(0, NOW - timedelta(days=2), ("comment",)),
                    StepRecord(1, NOW, ("reassign", "label")),
                ),
                reassigned_to=SAM.id,
            )
        }
    )
    ticket = snap(issue_type="Statement of Work", state=state, updated=NOW - timedelta(hours=1))
    assert plan([ticket], DIRECTORY, DEALS, default_policies(), NOW).writes == ()


def test_keep_no_match_false_drops_only_no_match() -> None:
    """Without no-match decisions the plan keeps every other decision and the same writes."""
    batch = [snap(f"ACME-{n}", issue_type="Task" if n % 2 else "Proposal") for n in range(1, 9)]
    full = plan(batch, DIRECTORY, DEALS, default_policies(), NOW)
    lean = plan(batch, DIRECTORY, DEALS, default_policies(), NOW, keep_no_match=False)
    assert lean.writes == full.writes
    assert lean.decisions == tuple(d for d in full.decisions if d.verdict != "no-match")


FIRST_MATCH = """\
version: 1
policies:
  - id: first
    description: first
    mode: {mode}
    continue: {cont}
    conditions:
      - assignee_in: pm
    actions:
      - label: first
  - id: second
    description: second
    mode: enforce
    conditions:
      - assignee_in: pm
    actions:
      - flag: true
  - id: disabled
    description: never evaluated
    mode: "off"
    conditions:
      - assignee_in: pm
    actions:
      - flag: true
"""


@pytest.mark.parametrize(
    ("mode", "cont", "second_acts"),
    [("enforce", "false", False), ("enforce", "true", True), ("dry-run", "false", True)],
)
def test_first_match_wins(mode: str, cont: str, second_acts: bool) -> None:
    """The first enforcing match claims a ticket unless it continues; dry-run never claims."""
    text = FIRST_MATCH.format(mode=mode, cont=cont)
    policies = load_policies_text(text, base_dir=CONFIG.parent)
    result = plan([snap()], DIRECTORY, DEALS, policies, NOW)
    by_policy = {d.policy: d for d in result.decisions}
    assert set(by_policy) == {"first", "second"}  # `off` policies are not evaluated
    assert bool(by_policy["second"].actions) is second_acts
    if not second_acts:
        assert by_policy["second"].reason == "already handled by policy first"
    kinds = [a.kind for w in result.writes for a in w.actions]
    expected = (["label"] if mode == "enforce" else []) + (["flag"] if second_acts else [])
    assert kinds == expected

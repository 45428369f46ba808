"""One opt-out for every policy: checked before any condition, from one setting."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from policy_factories import CONFIG, DEALS, DIRECTORY, NOW, PRIYA, SAM, default_policies, snap

from worker.model.issue import LabelAdded
from worker.policy import PolicyError, explain, load_policies_text, plan, warnings

TEMPLATES = CONFIG.parent

FILE = """\
version: 1
{opt_out}
policies:
  - id: bare
    description: a policy without `exempt:`
    mode: enforce
    continue: true
    conditions:
      - assignee_in: pm
    actions:
      - comment: sales-deliverable
  - id: stubborn
    description: acts whatever the label says
    mode: dry-run
    ignore_opt_out: true
    conditions:
      - assignee_in: pm
    actions:
      - comment: sales-deliverable
"""


def _load(opt_out: str = "") -> object:
    return load_policies_text(FILE.format(opt_out=opt_out), filename="p.yaml", base_dir=TEMPLATES)


@pytest.mark.parametrize(
    ("opt_out", "labels", "bare", "stubborn"),
    [
        ("", (), "act", "act"),
        ("", ("handoff-exception",), "exempt", "act"),
        ("", ("Handoff-Exception",), "exempt", "act"),
        ("", ("keep-with-pm",), "act", "act"),
        ("opt_out: {labels: [keep-with-pm]}", ("keep-with-pm",), "exempt", "act"),
        ("opt_out: {labels: [keep-with-pm]}", ("handoff-exception",), "act", "act"),
        ("opt_out: {labels: [a, b]}", ("sow", "b"), "exempt", "act"),
    ],
)
def test_opt_out_table(opt_out: str, labels: tuple[str, ...], bare: str, stubborn: str) -> None:
    """A policy without `exempt:` leaves an opted-out ticket alone; `ignore_opt_out` acts."""
    policies = _load(opt_out)
    result = plan([snap(labels=labels)], DIRECTORY, DEALS, policies, NOW)  # type: ignore[arg-type]
    verdicts = {d.policy: d.verdict for d in result.decisions}
    assert verdicts == {"bare": bare, "stubborn": stubborn}
    if bare == "exempt":
        assert result.writes == ()
        (decision,) = [d for d in result.decisions if d.policy == "bare"]
        assert decision.reason is not None
        assert decision.reason.startswith("opted out by label ")


def test_opt_out_comes_before_the_conditions() -> None:
    """An opted-out ticket is exempt even when a condition would not hold (no evaluation)."""
    result = plan([snap(labels=("handoff-exception",), assignee=SAM)], DIRECTORY, DEALS,
                  default_policies(), NOW)
    assert {d.verdict for d in result.decisions} == {"exempt"}
    assert all(d.evidence[0].condition == "opt_out" for d in result.decisions)


def test_validate_warns_about_ignore_opt_out() -> None:
    """`ignore_opt_out: true` loads, with a warning naming the policy and its line."""
    (line,) = warnings(_load())  # type: ignore[arg-type]
    assert line.startswith("<string>:12: warning: policy stubborn has `ignore_opt_out: true`")
    assert "handoff-exception" in line


def test_an_empty_opt_out_list_is_refused() -> None:
    """Comments always promise a label, so the list cannot be empty."""
    with pytest.raises(PolicyError) as info:
        _load("opt_out: {labels: []}")
    assert info.value.problems[0].path == "opt_out.labels"


def test_explain_says_who_added_the_label() -> None:
    """explain names who added the opt-out label and when, from the changelog."""
    added = LabelAdded("handoff-exception", PRIYA, datetime(2026, 10, 29, 15, tzinfo=UTC))
    ticket = snap(labels=("sow", "handoff-exception"), labels_added=(added,))
    found = explain(ticket, DIRECTORY, DEALS, default_policies(), NOW)
    assert {d.reason for d in found.decisions} == {
        "opted out by label handoff-exception (added by Priya Raman on 2026-10-29)"
    }
    without = explain(replace(ticket, labels_added=()), DIRECTORY, DEALS, default_policies(), NOW)
    assert {d.reason for d in without.decisions} == {"opted out by label handoff-exception"}


def test_comments_promise_the_configured_label() -> None:
    """The comment templates print the opt-out label from the file, not a fixed word."""
    policies = _load("opt_out: {labels: [keep-with-pm]}")
    result = plan([snap(issue_type="Statement of Work")], DIRECTORY, DEALS, policies, NOW)  # type: ignore[arg-type]
    (comment,) = [a for d in result.decisions if d.policy == "bare" for a in d.actions]
    text = comment.document.plain_text()  # type: ignore[union-attr]
    assert "add the label keep-with-pm and I will leave it alone" in text
    assert "handoff-exception" not in text

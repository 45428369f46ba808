"""One write per ticket carries one comment, whatever matched (issue 15, finding 1)."""

from __future__ import annotations

from dataclasses import replace

from tests.policy.policy_factories import CONFIG, DEALS, DIRECTORY, NOW, snap
from worker.model.plan import CommentAction
from worker.policy import load_policies_text, plan

TWO_COMMENTERS = """\
version: 1
policies:
  - id: first
    description: first
    mode: enforce
    continue: true
    conditions:
      - assignee_in: pm
    actions:
      - comment: engaged-before-signature
  - id: second
    description: second
    mode: enforce
    conditions:
      - assignee_in: pm
    actions:
      - comment: sales-deliverable
        label: second
"""


def _comments(result: object) -> list[CommentAction]:
    writes = result.writes  # type: ignore[attr-defined]
    return [a for w in writes for a in w.actions if isinstance(a, CommentAction)]


def test_two_policies_commenting_on_one_ticket_give_one_comment() -> None:
    """Both policies' words land, as paragraphs of a single comment; both steps recorded."""
    policies = load_policies_text(TWO_COMMENTERS, base_dir=CONFIG.parent)
    result = plan([snap()], DIRECTORY, DEALS, policies, NOW)
    [write] = result.writes
    [comment] = _comments(result)
    first = next(d for d in result.decisions if d.policy == "first")
    second = next(d for d in result.decisions if d.policy == "second")
    parts = [a for d in (first, second) for a in d.actions if isinstance(a, CommentAction)]
    assert comment.document.blocks == parts[0].document.blocks + parts[1].document.blocks
    assert [a.kind for a in write.actions].count("comment") == 1
    assert {p: write.state.for_policy(p).last_step for p in ("first", "second")} == {
        "first": 0, "second": 0}


def test_the_same_ticket_listed_twice_plans_one_write_with_one_comment() -> None:
    """A ticket that reaches the planner twice is acted on once (the first occurrence)."""
    policies = load_policies_text(TWO_COMMENTERS, base_dir=CONFIG.parent)
    ticket = snap()
    result = plan([ticket, replace(ticket)], DIRECTORY, DEALS, policies, NOW)
    assert [w.issue for w in result.writes] == [ticket.key]
    assert len(_comments(result)) == 1

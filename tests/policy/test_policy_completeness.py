"""Which partial tickets are worth reading in full: only those where a condition that reads
the missing comments or changelog can still change a policy's verdict (pure, a table)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.policy.policy_factories import CONFIG, DEALS, DIRECTORY, NOW, snap
from worker.policy import load_policies_text
from worker.policy.completeness import Completeness

CHASE = """\
version: 1
policies:
  - id: chase
    description: Sales chasing a PM
    mode: enforce
    conditions:
      - assignee_in: pm
      - {cond}
      - comments_by: {{people: sales, keywords: [any update]}}
    exempt:
      - {exempt}
    actions:
      - label: chased
"""


@pytest.mark.parametrize(
    ("cond", "exempt", "changes", "needed"),
    [
        # nothing else decides: the comments do
        ("issue_type_in: [Statement of Work]", "labels_any: [x]", {}, {"comments"}),
        # a plain condition is already false: no read
        ("issue_type_in: [Contract]", "labels_any: [x]", {}, set()),
        # matched or not, an exemption already holds: no read
        ("issue_type_in: [Statement of Work]", "labels_any: [sow]", {"labels": ("sow",)},
         set()),
        # complete comments: nothing to read
        ("issue_type_in: [Statement of Work]", "labels_any: [x]",
         {"comments_complete": True}, set()),
        # an `any` with a true branch needs nothing more
        ("any: [{issue_type_in: [Statement of Work]}, {idle_for: 3d}]", "labels_any: [x]",
         {"changelog_complete": False}, {"comments"}),
    ],
)
def test_reads_only_where_the_verdict_can_change(cond: str, exempt: str,
                                                 changes: dict[str, object],
                                                 needed: set[str]) -> None:
    """A table of tickets whose search answer left comments out."""
    policies = load_policies_text(CHASE.format(cond=cond, exempt=exempt),
                                  base_dir=CONFIG.parent)
    ticket = replace(snap(issue_type="Statement of Work"), comments_complete=False)
    ticket = replace(ticket, **changes)  # type: ignore[arg-type]
    assert Completeness(policies, DIRECTORY, DEALS, NOW).needed(ticket) == needed

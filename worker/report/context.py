"""What the report takes from outside the store: the policies' plain names, which policies
hand a ticket back (deliverables) and which only give a heads-up, and where Jira is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from worker.policy.actions import ReassignSpec
from worker.policy.config import Policies

#: the two groups of flagged tickets, by what is expected of them
HANDBACK = "hand back"
HEADS_UP = "heads-up"
#: what each group means, for the report's readers
GROUP_WORDS: Mapping[str, str] = {
    HANDBACK: "deliverables to hand back to Sales (the bot reassigns them if they stay)",
    HEADS_UP: "heads-up comments (nothing is expected to move)",
}
#: the words in a Sales comment that "approve" a PM's work (the second sign), as shipped in
#: the default dry-run policy's keywords
APPROVAL_PHRASES: tuple[str, ...] = ("great job", "well done", "nice work", "approved")


@dataclass(frozen=True, slots=True)
class ReportContext:
    """The report's view of the policy file and the site (all optional: a report from the
    store alone shows policy ids, no links, and every policy as a deliverable)."""

    #: policy id -> its description (shown instead of the id)
    names: Mapping[str, str] = field(default_factory=dict)
    #: the policies whose ladder ends by handing the ticket back (a reassign step)
    handback: frozenset[str] | None = None
    #: Jira's base URL, for links to tickets and comments
    jira_url: str | None = None

    def name(self, policy: str) -> str:
        """The policy's plain name (its description), else its id."""
        return self.names.get(policy) or policy

    def group(self, policy: str) -> str:
        """:data:`HANDBACK` or :data:`HEADS_UP` (unknown policies count as deliverables)."""
        if self.handback is None or policy in self.handback:
            return HANDBACK
        return HEADS_UP

    def ticket_url(self, issue: str) -> str | None:
        """The ticket's page in Jira."""
        return f"{self.jira_url.rstrip('/')}/browse/{issue}" if self.jira_url else None

    def comment_url(self, issue: str, comment_id: str) -> str | None:
        """A link that opens the ticket at one comment."""
        base = self.ticket_url(issue)
        return f"{base}?focusedCommentId={comment_id}" if base and comment_id else base


def context_from(policies: Policies | None, jira_url: str | None) -> ReportContext:
    """The context for a policy file (None: the store alone) and a Jira URL."""
    if policies is None:
        return ReportContext(jira_url=jira_url)
    return ReportContext(
        names={p.id: p.description for p in policies.policies if p.description},
        handback=frozenset(p.id for p in policies.policies
                           if any(isinstance(a, ReassignSpec) for s in p.steps
                                  for a in s.actions)),
        jira_url=jira_url,
    )

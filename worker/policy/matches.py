"""What the planner keeps while it plans: a policy's match on a ticket, the evaluation of
one policy on one ticket, and the tally of decisions, matches, scope counts and rechecks.

Matches are mutable while planning (the limits may defer or stop them); everything the plan
hands out is frozen (:class:`worker.model.plan.Plan`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from worker.model.issue import IssueSnapshot
from worker.model.plan import Action, Decision, Evidence, Subject
from worker.model.state import BotState
from worker.model.vocabulary import Verdict
from worker.policy.actions import CommentSpec
from worker.policy.config import Policy
from worker.policy.context import StepContext, TicketContext

_KEY = re.compile(r"^(.*?)-(\d+)$")


def issue_sort_key(key: str) -> tuple[str, int, str]:
    """Natural order of issue keys: ACME-2 before ACME-10."""
    m = _KEY.match(key)
    return (m.group(1), int(m.group(2)), key) if m else (key, -1, key)


@dataclass(frozen=True, slots=True)
class Held:
    """What the plan still needs of a matched ticket once it is decided: its text, comments
    and fields are let go (kept whole, 5,000 matches were 20 MB of the peak at 100,000
    tickets)."""

    key: str
    id: str
    updated: datetime
    state: BotState

    @classmethod
    def of(cls, snapshot: IssueSnapshot) -> Held:
        """The parts of ``snapshot`` the plan's decisions and writes use."""
        return cls(snapshot.key, snapshot.id, snapshot.updated, snapshot.state)


@dataclass(slots=True)
class Match:
    """A ticket a policy matched, with what its due step would do (mutable while planning)."""

    #: the ticket as read, then only what the plan still needs once it is decided
    snapshot: IssueSnapshot | Held
    policy: Policy
    order: int
    evidence: tuple[Evidence, ...]
    skey: tuple[str, int, str] = ("", 0, "")
    step: int | None = None
    actions: tuple[Action, ...] = ()
    reason: str | None = None
    verdict: Verdict = "act"
    override_by: str | None = None
    planned: bool = False
    #: the step's actions, comments not rendered yet
    pending: tuple[Action | CommentSpec, ...] = ()
    later: tuple[TicketContext, StepContext] | None = None
    subject: Subject | None = None
    #: the step and date this step's comment announces (stored as a promise)
    promise: tuple[int, datetime] | None = None
    #: how a stored promise compares with the file's date for the due step
    promise_vs_file: Literal["kept", "later"] | None = None
    #: the next ladder step (index from 0) and when it falls due (only while it is in the
    #: future: a waiting ticket)
    due_step: int | None = None
    due_at: datetime | None = None


@dataclass(slots=True)
class Evaluation:
    """What one policy made of one ticket: the verdict, its evidence and reason, and the match when
    it matched (``claims``: an enforcing policy took the ticket)."""

    verdict: Verdict
    evidence: tuple[Evidence, ...] = ()
    reason: str | None = None
    in_scope: bool = True
    match: Match | None = None
    claims: bool = False


@dataclass(slots=True)
class Tally:
    """The plan so far: decisions (sortable by issue, then policy order), matches, tickets in scope
    per policy, and the earliest recheck per ticket."""

    decisions: list[tuple[tuple[str, int, str], int, Decision]] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    scope_counts: dict[str, int] = field(default_factory=dict)
    #: issue key -> earliest moment time alone can change what the ticket gets
    rechecks: dict[str, datetime] = field(default_factory=dict)

    def recheck(self, issue: str, at: datetime | None) -> None:
        """Keep the earliest recheck time per issue."""
        if at is not None:
            known = self.rechecks.get(issue)
            if known is None or at < known:
                self.rechecks[issue] = at

    def decide(
        self,
        skey: tuple[str, int, str],
        order: int,
        issue: str,
        policy: Policy,
        verdict: Verdict,
        *,
        reason: str | None = None,
        evidence: tuple[Evidence, ...] = (),
        subject: Subject | None = None,
    ) -> None:
        """Record a decision that plans no action (kept sortable by issue, then policy order)."""
        self.decisions.append(
            (
                skey,
                order,
                Decision(
                    issue=issue,
                    policy=policy.id,
                    mode=policy.mode,
                    verdict=verdict,
                    evidence=evidence,
                    reason=reason,
                    subject=subject,
                ),
            )
        )


def subject_of(ctx: TicketContext) -> Subject:
    """Who and what a decision is about: the assignee, the customer, the account executive."""
    deal = ctx.deal().deal
    if deal is not None:
        return Subject(
            assignee=ctx.snapshot.assignee,
            customer=deal.account,
            account_executive=deal.account_executive,
            deal_page_id=deal.page_id,
            deal_page_url=deal.page_url,
            summary=ctx.snapshot.summary,
        )
    # No deal page: the ticket's own account field still names the customer.
    name = ctx.plan.policies.deals.account_field
    value = ctx.snapshot.fields.get(name) if name else None
    if isinstance(value, tuple):
        value = value[0] if value else None
    return Subject(assignee=ctx.snapshot.assignee, customer=value or None,
                   summary=ctx.snapshot.summary)

"""``explain``: everything the bot thinks about one ticket, for ``python -m worker explain``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from worker.model.deals import Deal, DealRead
from worker.model.issue import IssueSnapshot
from worker.model.people import Directory, Person
from worker.model.plan import Decision
from worker.model.state import PolicyState
from worker.model.vocabulary import ContractState
from worker.policy.config import Policies
from worker.policy.context import PlanContext, TicketContext
from worker.policy.ladder import next_step_words, step_due
from worker.policy.plan import plan_with_context


@dataclass(frozen=True, slots=True)
class NextStep:
    """A policy's next ladder step for the ticket, in words, and when it is due."""

    policy: str
    words: str
    due_at: datetime | None


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why the bot does (or does not) act on one ticket."""

    issue: str
    decisions: tuple[Decision, ...]
    deal: Deal | None
    deal_evidence: str
    deal_found_by: str | None
    contract_state: ContractState
    sales_owner: Person | None
    sales_owner_why: str
    states: Mapping[str, PolicyState]
    next_steps: tuple[NextStep, ...]


def explain(
    snapshot: IssueSnapshot,
    directory: Directory,
    deals: DealRead | Sequence[Deal],
    policies: Policies,
    now: datetime,
) -> Explanation:
    """Every policy's decision on ``snapshot`` (all evidence), the deal, the owner, next steps."""
    pctx = PlanContext(policies, directory, deals, now)
    result = plan_with_context([snapshot], policies, pctx, keep_no_match=True, full=True)
    tctx = TicketContext(snapshot, pctx)
    finding = tctx.deal()
    owner = tctx.sales_owner()
    steps: list[NextStep] = []
    for decision in result.decisions:
        policy = next(p for p in policies.policies if p.id == decision.policy)
        state = snapshot.state.for_policy(policy.id)
        if decision.verdict not in ("act", "waiting", "handled", "deferred"):
            steps.append(
                NextStep(policy.id, f"nothing ({decision.reason or decision.verdict})", None)
            )
            continue
        index = decision.step if decision.step is not None else state.last_step + 1
        words = next_step_words(policy, index, tctx)
        if words is None:
            steps.append(NextStep(policy.id, "nothing: every step is done", None))
            continue
        due = now if decision.step is not None else step_due(policy, index, state, tctx)
        mode = "would " if policy.mode == "dry-run" else ""
        when = "now" if due <= now else f"on {due.astimezone(pctx.tz):%A %d %B %H:%M}"
        suffix = f" ({decision.reason})" if decision.reason and due <= now else ""
        steps.append(NextStep(policy.id, f"{mode}{words} {when}{suffix}", due))
    return Explanation(
        issue=snapshot.key,
        decisions=result.decisions,
        deal=finding.deal,
        deal_evidence=finding.evidence,
        deal_found_by=finding.found_by,
        contract_state=finding.state,
        sales_owner=owner.person,
        sales_owner_why=owner.why,
        states={p.id: snapshot.state.for_policy(p.id) for p in policies.policies},
        next_steps=tuple(steps),
    )

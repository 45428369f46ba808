"""One policy on one ticket: in scope, exempt, matched, taken back by a person, or skipped
because the deal cannot be trusted (the three answers: a deal page the worker cannot read
plans nothing and says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from zoneinfo import ZoneInfo

from worker.model.issue import IssueSnapshot
from worker.model.plan import Evidence
from worker.model.state import PolicyState
from worker.policy.conditions import Condition
from worker.policy.config import Policy
from worker.policy.context import TicketContext
from worker.policy.ladder import (
    plan_step,
)
from worker.policy.matches import Evaluation, Match
from worker.policy.scope import scope_context, scope_matches, walk
from worker.policy.sections import PM_SET


def evaluate_all(
    conds: Sequence[Condition], snapshot: IssueSnapshot, ctx: TicketContext, *, full: bool
) -> tuple[bool, tuple[Evidence, ...]]:
    """All conditions hold? With ``full=False`` stop at the first that does not."""
    out: list[Evidence] = []
    ok = True
    for cond in conds:
        ev = cond.evidence(snapshot, ctx)
        out.append(ev)
        if not ev.result:
            ok = False
            if not full:
                break
    return ok, tuple(out)


def evaluate(
    policy: Policy,
    order: int,
    snapshot: IssueSnapshot,
    ctx: TicketContext,
    *,
    full: bool,
    fast: bool = False,
) -> Evaluation:
    """Evaluate ``policy`` on one ticket: scope, exemptions, conditions, a person taking the ticket
    back, an untrusted deal; a match gets its due step planned."""
    plan = ctx.plan
    in_scope = True
    if policy.scope_query is not None:
        if plan.scope_ctx is None:
            plan.scope_ctx = scope_context(now=plan.now, tz=plan.tz, groups=plan.directory.groups)
        try:
            in_scope = scope_matches(policy.scope_query, snapshot, plan.scope_ctx)
        except ValueError as exc:
            return Evaluation("skip", reason=str(exc), in_scope=False)
        if not in_scope:
            return Evaluation("no-match", reason="outside the policy's scope", in_scope=False)
    if not policy.ignore_opt_out:
        opted = opt_out_evidence(snapshot, plan.policies.opt_out_labels, plan.tz)
        if opted is not None:
            return Evaluation("exempt", (opted,), opted.detail)
    if snapshot.state_doubt is not None:
        # Anyone who may edit the ticket may write the bot's property: a state no
        # installation of the bot can be shown to have written decides nothing (neither a
        # step done nor an opt-out); the ticket is a skip with the reason, never a guess.
        return Evaluation("skip", reason=snapshot.state_doubt)
    state = snapshot.state.for_policy(policy.id)
    if state.reverted_at is not None:
        who = state.reverted_by or "a person"
        return Evaluation(
            "exempt",
            reason=f"reverted: the bot's change was undone on "
            f"{state.reverted_at.astimezone(plan.tz):%Y-%m-%d} at the request of {who}; "
            "the bot stays out",
            claims=True,
        )
    if state.overridden_at is not None:
        who = state.overridden_by or "a person"
        return Evaluation(
            "exempt",
            reason=f"human override: {who} took the ticket back on "
            f"{state.overridden_at.astimezone(plan.tz):%Y-%m-%d}; the bot stays out",
            claims=True,
        )
    if policy.mode == "enforce" and _taken_back(snapshot, state, ctx):
        assignee = snapshot.assignee
        assert assignee is not None
        match = Match(
            snapshot,
            policy,
            order,
            (),
            verdict="exempt",
            override_by=assignee.id,
            reason=f"human override: {assignee.display_name} took the ticket back "
            "after the bot reassigned it; the bot stays out from now on",
        )
        return Evaluation("exempt", reason=match.reason, match=match, claims=True)
    doubt = _untrusted_deal(policy, snapshot, ctx)
    if doubt is not None:
        return doubt
    if fast and not all(c.test(snapshot, ctx) for c in policy.conditions):
        # The decision will be dropped: no need for words about why it did not match.
        return Evaluation("no-match")
    ok, evidence = evaluate_all(policy.conditions, snapshot, ctx, full=full)
    if not ok:
        failed = next(e for e in evidence if not e.result)
        return Evaluation("no-match", evidence, failed.detail)
    for cond in policy.exempt:
        if fast and not cond.test(snapshot, ctx):
            continue
        ev = cond.evidence(snapshot, ctx)
        if ev.result:
            return Evaluation("exempt", (*evidence, ev), f"exempt: {ev.detail}")
    match = Match(snapshot, policy, order, evidence)
    plan_step(match, ctx)
    claims = policy.mode == "enforce" and not policy.continue_
    return Evaluation("act", evidence, match.reason, match=match, claims=claims)


def opt_out_evidence(
    snapshot: IssueSnapshot, labels: Sequence[str], tz: ZoneInfo
) -> Evidence | None:
    """The evidence that the ticket carries an opt-out label (with who added it and when,
    when the changelog says), or None."""
    if not snapshot.labels:  # most tickets: no set to build
        return None
    wanted = {label.casefold() for label in labels}
    found = next((lab for lab in snapshot.labels if lab.casefold() in wanted), None)
    if found is None:
        return None
    detail = f"opted out by label {found}"
    added = snapshot.label_added(found)
    if added is not None:
        who = added.by.display_name if added.by is not None else "someone"
        detail += f" (added by {who} on {added.at.astimezone(tz):%Y-%m-%d})"
    return Evidence("opt_out", True, detail)


def _untrusted_deal(
    policy: Policy, snapshot: IssueSnapshot, ctx: TicketContext
) -> Evaluation | None:
    """``skip`` when the policy depends on the contract and the ticket's deal pages cannot be
    trusted (unreadable, conflicting, or the read failed) while everything else matches.

    Never a guess: the bot does nothing and says why, naming the page.
    """
    if not policy.needs_deals:
        return None
    finding = ctx.deal()
    if finding.state not in ("unreadable", "conflicting"):
        return None
    for cond in policy.conditions:
        if "deals" not in cond.needs() and not cond.test(snapshot, ctx):
            return None  # no match whatever the contract says: the normal path explains it
    evidence = Evidence("contract", False, finding.evidence)
    return Evaluation("skip", (evidence,), f"contract {finding.state}: {finding.evidence}")


def _taken_back(snapshot: IssueSnapshot, state: PolicyState, ctx: TicketContext) -> bool:
    """A person gave the ticket back to a PM after the bot reassigned it.

    The ticket must have changed after our reassignment: a stale search result (old assignee,
    old ``updated``) overlaid with our newer state must not look like an override.
    """
    assignee = snapshot.assignee
    if not state.reassigned_to or assignee is None or assignee.id == state.reassigned_to:
        return False
    reassigned_at = max((s.at for s in state.steps if "reassign" in s.actions), default=None)
    if reassigned_at is None or snapshot.updated <= reassigned_at:
        return False
    return ctx.plan.is_member(PM_SET, assignee)


def timed_conditions(policy: Policy) -> tuple[Condition, ...]:
    """The policy's conditions (nested ones too) whose result can change with time alone."""
    return tuple(
        c for c in walk(policy.conditions + policy.exempt)
        if type(c).changes_at is not Condition.changes_at
    )  # fmt: skip

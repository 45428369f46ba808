"""The pure planner: snapshots + people + deals + policies + now -> Plan.

Per ticket, policies run in file order. A ticket is claimed by the first *enforce* policy
that matches it (unless that policy says ``continue: true``); later policies then get a
``no-match`` decision with the reason "already handled by policy X". Dry-run policies never
claim a ticket: they report, and never change what enforcing policies do.

Per policy, the breaker counts the tickets the policy would act on this cycle (a ladder step
is due); tickets already fully handled or waiting for a later step do not count. The percent
limit applies only when the policy's scope holds at least ``breaker.min_scope`` tickets.

The budget (``max_actions_per_cycle``) counts planned actions. Per policy it applies in every
mode; the global budget counts only enforce-mode actions (a dry-run policy never starves an
enforcing one). Tickets are served in issue-key order; a step that does not fit is deferred
whole, never split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from worker.model import (
    Action,
    BotState,
    CommentAction,
    Deal,
    DealRead,
    Decision,
    Directory,
    Document,
    Evidence,
    IssueSnapshot,
    IssueWrite,
    LabelAction,
    MalformedIssue,
    Plan,
    PolicyState,
    ReassignAction,
    StepRecord,
    Subject,
    Verdict,
)
from worker.policy.actions import Blocked, CommentSpec
from worker.policy.conditions import Condition
from worker.policy.config import Policies, Policy
from worker.policy.context import PlanContext, StepContext, TicketContext
from worker.policy.durations import parse_duration
from worker.policy.scope import scope_context, scope_matches, walk
from worker.policy.sections import PM_SET
from worker.policy.templates import TemplateRenderError

_KEY = re.compile(r"^(.*?)-(\d+)$")


def issue_sort_key(key: str) -> tuple[str, int, str]:
    """Natural order of issue keys: ACME-2 before ACME-10."""
    m = _KEY.match(key)
    return (m.group(1), int(m.group(2)), key) if m else (key, -1, key)


@dataclass(slots=True)
class _Match:
    """A ticket a policy matched, with what its due step would do (mutable while planning)."""

    snapshot: IssueSnapshot
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
    #: when the next ladder step falls due (only while it is in the future)
    due_at: datetime | None = None


@dataclass(slots=True)
class _Outcome:
    verdict: Verdict
    evidence: tuple[Evidence, ...] = ()
    reason: str | None = None
    in_scope: bool = True
    match: _Match | None = None
    claims: bool = False


@dataclass(slots=True)
class _Acc:
    decisions: list[tuple[tuple[str, int, str], int, Decision]] = field(default_factory=list)
    matches: list[_Match] = field(default_factory=list)
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


def _evaluate(
    policy: Policy,
    order: int,
    snapshot: IssueSnapshot,
    ctx: TicketContext,
    *,
    full: bool,
    fast: bool = False,
) -> _Outcome:
    plan = ctx.plan
    in_scope = True
    if policy.scope_query is not None:
        if plan.scope_ctx is None:
            plan.scope_ctx = scope_context(now=plan.now, tz=plan.tz, groups=plan.directory.groups)
        try:
            in_scope = scope_matches(policy.scope_query, snapshot, plan.scope_ctx)
        except ValueError as exc:
            return _Outcome("skip", reason=str(exc), in_scope=False)
        if not in_scope:
            return _Outcome("no-match", reason="outside the policy's scope", in_scope=False)
    if not policy.ignore_opt_out:
        opted = opt_out_evidence(snapshot, plan.policies.opt_out_labels, plan.tz)
        if opted is not None:
            return _Outcome("exempt", (opted,), opted.detail)
    if snapshot.state_doubt is not None:
        # Anyone who may edit the ticket may write the bot's property: a state no
        # installation of the bot can be shown to have written decides nothing (neither a
        # step done nor an opt-out); the ticket is a skip with the reason, never a guess.
        return _Outcome("skip", reason=snapshot.state_doubt)
    state = snapshot.state.for_policy(policy.id)
    if state.reverted_at is not None:
        who = state.reverted_by or "a person"
        return _Outcome(
            "exempt",
            reason=f"reverted: the bot's change was undone on "
            f"{state.reverted_at.astimezone(plan.tz):%Y-%m-%d} at the request of {who}; "
            "the bot stays out",
            claims=True,
        )
    if state.overridden_at is not None:
        who = state.overridden_by or "a person"
        return _Outcome(
            "exempt",
            reason=f"human override: {who} took the ticket back on "
            f"{state.overridden_at.astimezone(plan.tz):%Y-%m-%d}; the bot stays out",
            claims=True,
        )
    if policy.mode == "enforce" and _taken_back(snapshot, state, ctx):
        assignee = snapshot.assignee
        assert assignee is not None
        match = _Match(
            snapshot,
            policy,
            order,
            (),
            verdict="exempt",
            override_by=assignee.id,
            reason=f"human override: {assignee.display_name} took the ticket back "
            "after the bot reassigned it; the bot stays out from now on",
        )
        return _Outcome("exempt", reason=match.reason, match=match, claims=True)
    doubt = _untrusted_deal(policy, snapshot, ctx)
    if doubt is not None:
        return doubt
    if fast and not all(c.test(snapshot, ctx) for c in policy.conditions):
        # The decision will be dropped: no need for words about why it did not match.
        return _Outcome("no-match")
    ok, evidence = evaluate_all(policy.conditions, snapshot, ctx, full=full)
    if not ok:
        failed = next(e for e in evidence if not e.result)
        return _Outcome("no-match", evidence, failed.detail)
    for cond in policy.exempt:
        if fast and not cond.test(snapshot, ctx):
            continue
        ev = cond.evidence(snapshot, ctx)
        if ev.result:
            return _Outcome("exempt", (*evidence, ev), f"exempt: {ev.detail}")
    match = _Match(snapshot, policy, order, evidence)
    _plan_step(match, ctx)
    claims = policy.mode == "enforce" and not policy.continue_
    return _Outcome("act", evidence, match.reason, match=match, claims=claims)


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


def _untrusted_deal(policy: Policy, snapshot: IssueSnapshot, ctx: TicketContext) -> _Outcome | None:
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
    return _Outcome("skip", (evidence,), f"contract {finding.state}: {finding.evidence}")


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


def next_step_words(policy: Policy, index: int, ctx: TicketContext) -> str | None:
    """What ladder step ``index`` will do, in words (None past the last step)."""
    if index >= len(policy.steps):
        return None
    return " and ".join(spec.words(ctx) for spec in policy.steps[index].actions)


def file_due(policy: Policy, index: int, state: PolicyState, ctx: TicketContext) -> datetime:
    """When ladder step ``index`` is due by the policy file alone."""
    start = state.first_flagged_at or ctx.now
    plan = ctx.plan
    return policy.steps[index].after.add_to(start, tz=plan.tz, holidays=plan.policies.holidays)


def step_due(policy: Policy, index: int, state: PolicyState, ctx: TicketContext) -> datetime:
    """When ladder step ``index`` is due: the file's date, never earlier than a date a
    comment promised for that step (a later file date wins, with no new comment)."""
    due = file_due(policy, index, state, ctx)
    if state.promised_step == index and state.promised_at is not None:
        return max(due, state.promised_at)
    return due


#: how long a step Jira refused waits before it is tried again
REFUSED_RETRY = parse_duration("1 business day")


def refused_retry(state: PolicyState, index: int, ctx: TicketContext) -> datetime | None:
    """When step ``index``, refused by Jira earlier, may be tried again (one business day
    after the refusal), or None when that step was not refused."""
    if state.refused_step != index or state.refused_at is None:
        return None
    plan = ctx.plan
    return REFUSED_RETRY.add_to(state.refused_at, tz=plan.tz, holidays=plan.policies.holidays)


def _announces_date(policy: Policy, index: int, ctx: TicketContext) -> bool:
    """Whether step ``index`` posts a comment whose template can print the next step's date."""
    templates = ctx.plan.policies.templates
    return any(
        isinstance(spec, CommentSpec)
        and spec.template in templates
        and "next_step_at" in templates[spec.template].variables
        for spec in policy.steps[index].actions
    )


def _plan_step(match: _Match, ctx: TicketContext) -> None:
    policy = match.policy
    state = match.snapshot.state.for_policy(policy.id)
    index = state.last_step + 1
    if index >= len(policy.steps):
        match.verdict = "handled"
        match.reason = f"all {len(policy.steps)} step(s) done; nothing more to do"
        return
    due = step_due(policy, index, state, ctx)
    if state.promised_step == index and state.promised_at is not None:
        by_file = file_due(policy, index, state, ctx)
        if state.promised_at > by_file:
            match.promise_vs_file = "kept"
        elif state.promised_at < by_file:
            match.promise_vs_file = "later"
    retry = refused_retry(state, index, ctx)
    if retry is not None and retry > due:
        due = retry
        if due > ctx.now:
            match.verdict = "waiting"
            match.due_at = due
            refused_on = (state.refused_at or ctx.now).astimezone(ctx.plan.tz)
            match.reason = (
                f"step {index + 1} ({next_step_words(policy, index, ctx)}) was refused by Jira "
                f"on {refused_on:%Y-%m-%d %H:%M} ({state.refused_reason or 'no reason given'}); "
                f"tried again {due.astimezone(ctx.plan.tz):%Y-%m-%d %H:%M}"
            )
            return
    if due > ctx.now:
        match.verdict = "waiting"
        match.due_at = due
        when = due.astimezone(ctx.plan.tz)
        kept = " (the date a comment promised)" if match.promise_vs_file == "kept" else ""
        match.reason = (
            f"step {index + 1} ({next_step_words(policy, index, ctx)}) is due "
            f"{when:%Y-%m-%d %H:%M}{kept}"
        )
        return
    following = index + 1
    after_at = None
    if following < len(policy.steps):
        first = state.first_flagged_at or ctx.now
        after_at = policy.steps[following].after.add_to(
            first, tz=ctx.plan.tz, holidays=ctx.plan.policies.holidays
        )
        if _announces_date(policy, index, ctx):
            match.promise = (following, after_at)
    step_ctx = StepContext(
        policy_id=policy.id,
        policy_description=policy.description,
        step=index,
        evidence=match.evidence,
        next_step=next_step_words(policy, following, ctx),
        next_step_at=after_at,
    )
    planned: list[Action | CommentSpec] = []
    for spec in policy.steps[index].actions:
        if isinstance(spec, CommentSpec):
            # Rendering is the costly part: done only for steps that survive breaker and budget.
            planned.append(spec)
            continue
        try:
            result: Action | Blocked | None = spec.plan(ctx, step_ctx)
        except TemplateRenderError as exc:  # a reassignment's note broke on this ticket
            result = Blocked(f"the note failed: {exc}")
        if isinstance(result, Blocked):
            # Matched, but the step cannot be planned: a person has to look (never "act").
            match.verdict = "skip"
            match.reason = f"step {index + 1} not planned: {result.reason}"
            match.promise = None
            return
        if result is not None:
            planned.append(result)
    match.step = index
    match.pending = tuple(planned)
    match.later = (ctx, step_ctx)
    match.planned = True
    match.reason = None


def _render(match: _Match) -> None:
    if match.later is None:
        return
    ctx, step_ctx = match.later
    match.later = None
    try:
        match.actions = tuple(
            p.render(ctx, step_ctx) if isinstance(p, CommentSpec) else p for p in match.pending
        )
    except TemplateRenderError as exc:
        # This ticket's data broke the template: skip it (no half step), plan the others.
        match.verdict = "skip"
        match.planned = False
        match.actions = ()
        match.reason = f"step {(match.step or 0) + 1} not planned: the comment failed: {exc}"


def plan(
    snapshots: Iterable[IssueSnapshot | MalformedIssue],
    directory: Directory,
    deals: DealRead | Sequence[Deal],
    policies: Policies,
    now: datetime,
    *,
    keep_no_match: bool = True,
    scope_sizes: Mapping[str, int] | None = None,
    on_write: Callable[[IssueWrite], None] | None = None,
) -> Plan:
    """Decide, for every ticket and active policy, what to do now. Pure and deterministic.

    ``scope_sizes`` (policy id -> tickets in scope) is given when ``snapshots`` are only part
    of the scope (an incremental read): the breaker's percentage is taken against the larger
    of it and what was counted here.

    ``on_write`` gets each ticket's write as soon as the ticket is planned, while the rest
    is still being read, when :func:`writes_wait_for_read` says no limit can change it;
    otherwise it is never called. Either way the plan returned holds every write, equal to
    the ones handed out.
    """
    planner = _Planner(
        policies,
        PlanContext(policies, directory, deals, now),
        keep_no_match=keep_no_match,
        full=False,
        scope_sizes=scope_sizes or {},
        on_write=on_write if writes_wait_for_read(policies) is None else None,
    )
    for snap in snapshots:
        planner.add(snap)
    return planner.finish()


def writes_wait_for_read(policies: Policies) -> str | None:
    """Why the writes must wait until every ticket is read, or None when each ticket's
    write is final as soon as that ticket is planned.

    A ticket's decision depends on the ticket, the people, the deals, the policies and the
    time, all known before the tickets are read, except for the limits that count over the
    whole cycle: the budget (which tickets are served first) and the breaker (a policy that
    matches too many plans nothing at all, before any write). Only when none of them can
    bind may a write start before the last ticket is read.
    """
    safety = policies.safety
    for policy in policies.policies:
        if policy.mode != "enforce":
            continue  # dry-run policies never write, and never hold an enforcing one back
        limits = policy.breaker or safety.breaker
        if limits.binds:
            return f"policy {policy.id}'s breaker counts the whole cycle's matches"
        if policy.max_actions_per_cycle is not None:
            return f"policy {policy.id} has an action budget per cycle"
        if safety.max_actions_per_cycle is not None:
            return "the action budget per cycle is served in issue-key order"
    return None


def _plan(
    snapshots: Iterable[IssueSnapshot | MalformedIssue],
    policies: Policies,
    pctx: PlanContext,
    *,
    keep_no_match: bool,
    full: bool,
    scope_sizes: Mapping[str, int] | None = None,
) -> Plan:
    planner = _Planner(policies, pctx, keep_no_match=keep_no_match, full=full,
                       scope_sizes=scope_sizes or {})
    for snap in snapshots:
        planner.add(snap)
    return planner.finish()


class _Planner:
    """One plan, ticket by ticket: :meth:`add` each snapshot, then :meth:`finish`."""

    def __init__(
        self,
        policies: Policies,
        pctx: PlanContext,
        *,
        keep_no_match: bool,
        full: bool,
        scope_sizes: Mapping[str, int],
        on_write: Callable[[IssueWrite], None] | None = None,
    ) -> None:
        self.policies = policies
        self.pctx = pctx
        self.keep_no_match = keep_no_match
        self.full = full
        self.scope_sizes = scope_sizes
        self.on_write = on_write
        self.active = [(i, p) for i, p in enumerate(policies.policies) if p.mode != "off"]
        self.acc = _Acc(scope_counts={p.id: 0 for _, p in self.active})
        # Time-based conditions decide the rechecks: an enforcing policy's for its writes, a
        # dry-run policy's so that what it would have done is recorded when it becomes true
        # (the report's "would have"), not at the next full read or never (a ticket changed
        # meanwhile).
        self.timed = {p.id: _timed(p) for _, p in self.active}

    def add(self, snap: IssueSnapshot | MalformedIssue) -> None:
        """Decide one ticket for every active policy (limits are applied by :meth:`finish`)."""
        acc, keep_no_match = self.acc, self.keep_no_match
        skey = issue_sort_key(snap.key)
        if isinstance(snap, MalformedIssue):
            for order, policy in self.active:
                acc.decide(skey, order, snap.key, policy, "skip", reason=snap.reason)
            return
        tctx = TicketContext(snap, self.pctx)
        claimed_by: str | None = None
        first_match = len(acc.matches)
        for order, policy in self.active:
            if claimed_by is not None:
                if keep_no_match:
                    acc.decide(
                        skey, order, snap.key, policy, "no-match",
                        reason=f"already handled by policy {claimed_by}",
                    )  # fmt: skip
                continue
            out = _evaluate(policy, order, snap, tctx, full=self.full, fast=not keep_no_match)
            if out.in_scope:
                acc.scope_counts[policy.id] += 1
                for cond in self.timed.get(policy.id, ()):
                    acc.recheck(snap.key, cond.changes_at(snap, tctx))
            if out.claims:
                claimed_by = policy.id
            if out.match is not None:
                out.match.skey = skey
                out.match.subject = subject_of(tctx)
                acc.matches.append(out.match)
            elif out.verdict != "no-match":
                acc.decide(
                    skey, order, snap.key, policy, out.verdict,
                    reason=out.reason, evidence=out.evidence, subject=subject_of(tctx),
                )  # fmt: skip
            elif keep_no_match:
                acc.decide(
                    skey, order, snap.key, policy, out.verdict,
                    reason=out.reason, evidence=out.evidence,
                )  # fmt: skip
        if self.on_write is not None and len(acc.matches) > first_match:
            # No limit can bind (see writes_wait_for_read): this ticket's write is final.
            mine = acc.matches[first_match:]
            for m in mine:
                if m.planned:
                    _render(m)  # what finish() would do; done once
            for write in _writes(mine, self.pctx.now):
                self.on_write(write)

    def finish(self) -> Plan:
        """Apply the breaker and the budget, render the comments, and return the plan."""
        acc, pctx, policies = self.acc, self.pctx, self.policies
        counted = dict(acc.scope_counts)
        for pid, known in self.scope_sizes.items():
            if pid in acc.scope_counts:
                acc.scope_counts[pid] = max(acc.scope_counts[pid], known)
        breakers = _breakers(acc, policies, self.active)
        deferred = _budget(acc, policies, breakers)
        for m in acc.matches:
            if m.policy.mode != "enforce":
                continue
            acc.recheck(m.snapshot.key, m.due_at)
            if m.verdict in ("breaker", "deferred"):
                # Held back: the next cycle looks again. (A write that lands changes the
                # ticket's `updated`; one that does not land is rechecked by the cycle from
                # its outcome.)
                acc.recheck(m.snapshot.key, pctx.now)
        for m in acc.matches:
            if m.planned:
                _render(m)
        for m in acc.matches:
            acc.decisions.append(
                (
                    m.skey,
                    m.order,
                    Decision(
                        issue=m.snapshot.key,
                        policy=m.policy.id,
                        mode=m.policy.mode,
                        verdict=m.verdict,
                        actions=m.actions if m.planned else (),
                        evidence=m.evidence,
                        reason=m.reason,
                        step=m.step if m.planned else None,
                        subject=m.subject,
                    ),
                )
            )
        acc.decisions.sort(key=lambda d: (d[0], d[1]))
        promises: dict[str, set[str]] = {}
        for m in acc.matches:
            if m.promise_vs_file is not None:
                promises.setdefault(m.promise_vs_file, set()).add(m.snapshot.key)
        return Plan(
            now=pctx.now,
            decisions=tuple(d for _, _, d in acc.decisions),
            writes=_writes(acc.matches, pctx.now),
            breakers=breakers,
            deferred=deferred,
            promises={k: len(v) for k, v in sorted(promises.items())},
            rechecks=acc.rechecks,
            scope_sizes=counted,
        )


def _timed(policy: Policy) -> tuple[Condition, ...]:
    """The policy's conditions (nested ones too) whose result can change with time alone."""
    return tuple(
        c for c in walk(policy.conditions + policy.exempt)
        if type(c).changes_at is not Condition.changes_at
    )  # fmt: skip


def _breakers(acc: _Acc, policies: Policies, active: list[tuple[int, Policy]]) -> dict[str, str]:
    due: dict[str, int] = {p.id: 0 for _, p in active}
    for m in acc.matches:
        if m.planned:
            due[m.policy.id] += 1
    tripped: dict[str, str] = {}
    for _, policy in active:
        limits = policy.breaker or policies.safety.breaker
        n, scope = due[policy.id], acc.scope_counts[policy.id]
        pct = 100.0 * n / scope if scope else 0.0
        if limits.max_matches is not None and n > limits.max_matches:
            tripped[policy.id] = (
                f"breaker tripped: {n} matches > max {limits.max_matches} "
                f"({pct:.0f}% of {scope} in scope)"
            )
        elif scope >= limits.min_scope and pct > limits.max_percent:
            tripped[policy.id] = (
                f"breaker tripped: {n} matches are {pct:.0f}% of {scope} in "
                f"scope > max {limits.max_percent:g}%"
            )
    for m in acc.matches:
        if m.policy.id in tripped and m.verdict == "act":
            m.verdict = "breaker"
            m.planned = False
            m.reason = tripped[m.policy.id]
    return tripped


def _budget(acc: _Acc, policies: Policies, breakers: dict[str, str]) -> dict[str, int]:
    acc.matches.sort(key=lambda m: (m.skey, m.order))
    budget = policies.safety.max_actions_per_cycle
    left_global = budget if budget is not None else 10**18  # unlimited: never runs out
    left: dict[str, int] = {}
    deferred: dict[str, int] = {}
    for m in acc.matches:
        if not m.planned or not m.pending:
            continue
        pid = m.policy.id
        cost = len(m.pending)
        if pid not in left:
            limit = m.policy.max_actions_per_cycle
            left[pid] = limit if limit is not None else cost * 10**9
        enforce = m.policy.mode == "enforce"
        if cost > left[pid] or (enforce and cost > left_global):
            m.planned = False
            m.verdict = "deferred"
            m.reason = f"deferred: budget ({cost} action(s) wait for the next cycle)"
            deferred[pid] = deferred.get(pid, 0) + cost
            continue
        left[pid] -= cost
        if enforce:
            left_global -= cost
    return deferred


def _writes(matches: list[_Match], now: datetime) -> tuple[IssueWrite, ...]:
    by_issue: dict[str, list[_Match]] = {}
    for m in matches:
        if m.policy.mode != "enforce":
            continue
        if m.planned or m.override_by is not None:
            by_issue.setdefault(m.snapshot.key, []).append(m)
    writes: list[IssueWrite] = []
    for key in sorted(by_issue, key=issue_sort_key):
        # One match per policy: a ticket listed twice must not act twice (first one wins).
        first: dict[str, _Match] = {}
        for m in by_issue[key]:
            first.setdefault(m.policy.id, m)
        group = sorted(first.values(), key=lambda m: m.order)
        snap = group[0].snapshot
        states = dict(snap.state.policies)
        merged: list[Action] = []
        for m in group:
            old = snap.state.for_policy(m.policy.id)
            if m.override_by is not None:
                states[m.policy.id] = replace(old, overridden_at=now, overridden_by=m.override_by)
                continue
            reassign = next((a for a in m.actions if isinstance(a, ReassignAction)), None)
            added = tuple(
                lab for a in m.actions if isinstance(a, LabelAction) for lab in a.add
            )
            record = StepRecord(
                step=m.step or 0,
                at=now,
                actions=tuple(a.kind for a in m.actions),
                previous_assignee=reassign.previous.id
                if reassign is not None and reassign.previous is not None
                else None,
                labels_added=added,
            )
            states[m.policy.id] = replace(
                old,
                first_flagged_at=old.first_flagged_at or now,
                steps=(*old.steps, record),
                reassigned_to=reassign.to.id if reassign is not None else old.reassigned_to,
                promised_step=m.promise[0] if m.promise else old.promised_step,
                promised_at=m.promise[1] if m.promise else old.promised_at,
                refused_step=None,
                refused_at=None,
                refused_reason=None,
            )
            merged.extend(m.actions)
        writes.append(
            IssueWrite(
                issue=key,
                issue_id=snap.id,
                actions=_merge_actions(merged),
                state=BotState(policies=dict(sorted(states.items()))),
                policies=tuple(m.policy.id for m in group),
                seen_updated=snap.updated,
            )
        )
    return tuple(writes)


def _merge_actions(actions: list[Action]) -> tuple[Action, ...]:
    # One edit per issue: one assignee (the first policy's), one label change, one flag, and
    # one comment whatever matched (several policies' words become paragraphs of one comment).
    out: list[Action] = []
    label_at: int | None = None
    comment_at: int | None = None
    seen_reassign = seen_flag = False
    for action in actions:
        if isinstance(action, CommentAction):
            if comment_at is not None:
                prev = out[comment_at]
                assert isinstance(prev, CommentAction)
                out[comment_at] = _one_comment(prev, action)
                continue
            comment_at = len(out)
        elif isinstance(action, ReassignAction):
            if seen_reassign:
                continue
            seen_reassign = True
        elif isinstance(action, LabelAction):
            if label_at is not None:
                prev = out[label_at]
                assert isinstance(prev, LabelAction)
                out[label_at] = LabelAction(
                    add=tuple(dict.fromkeys(prev.add + action.add)),
                    remove=tuple(dict.fromkeys(prev.remove + action.remove)),
                )
                continue
            label_at = len(out)
        elif action.kind == "flag":
            if seen_flag:
                continue
            seen_flag = True
        out.append(action)
    return tuple(out)


def _one_comment(first: CommentAction, second: CommentAction) -> CommentAction:
    """Two comments for one ticket as one: the second's blocks follow the first's.

    When only one of them is restricted, the merged comment keeps the restriction: showing a
    restricted text to everyone costs more than restricting a public one.
    """
    return CommentAction(
        document=Document(blocks=first.document.blocks + second.document.blocks),
        template=f"{first.template}+{second.template}",
        visibility=first.visibility or second.visibility,
    )

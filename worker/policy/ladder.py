"""The ladder: when each step of a policy falls due on a ticket, and what its due step does.

A step is due by the policy file (``after`` from the first flag, in business time), never
earlier than a date an earlier comment promised; a step Jira refused waits one business day.
:func:`plan_step` fills a match with its due step's actions; :func:`render_step` renders its
comment once the limits have kept it.
"""

from __future__ import annotations

from datetime import datetime

from worker.model.plan import Action
from worker.model.state import PolicyState
from worker.policy.actions import Blocked, CommentSpec
from worker.policy.config import Policy
from worker.policy.context import StepContext, TicketContext
from worker.policy.durations import parse_duration
from worker.policy.matches import Match
from worker.policy.templates import TemplateRenderError


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


def plan_step(match: Match, ctx: TicketContext) -> None:
    """Fill ``match`` with its due ladder step (actions, promise, next due date), or say why
    nothing is due yet (waiting, handled, refused and waiting a business day)."""
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
            match.due_step, match.due_at = index, due
            refused_on = (state.refused_at or ctx.now).astimezone(ctx.plan.tz)
            match.reason = (
                f"step {index + 1} ({next_step_words(policy, index, ctx)}) was refused by Jira "
                f"on {refused_on:%Y-%m-%d %H:%M} ({state.refused_reason or 'no reason given'}); "
                f"tried again {due.astimezone(ctx.plan.tz):%Y-%m-%d %H:%M}"
            )
            return
    if due > ctx.now:
        match.verdict = "waiting"
        match.due_step, match.due_at = index, due
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


def render_step(match: Match) -> None:
    """Render the comments of a step the limits kept. A template this ticket's data breaks
    skips the ticket, with the reason (never half a step)."""
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

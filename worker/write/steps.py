"""What a write does to the bot's state on the ticket, as pure functions.

Whether a stored state already holds a write's steps (:func:`step_landed`) or is one the write
builds on (:func:`state_consistent`), and the state as it lands when Jira refused part of a
write: an assignee, the labels, or the whole reassigning step.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from worker.model.people import Person
from worker.model.plan import IssueWrite, ReassignAction
from worker.model.state import BotState
from worker.state.recent import marks_more


def step_landed(stored: object, write: IssueWrite) -> bool:
    """Whether the stored property already holds this write's steps, for every policy."""
    try:
        state = BotState.from_json(stored)
    except ValueError:
        return False
    return all(
        state.for_policy(pid).last_step >= write.state.for_policy(pid).last_step
        and not marks_more(write.state.for_policy(pid), state.for_policy(pid))
        for pid in write.policies
    )


def state_consistent(stored: BotState, write: IssueWrite) -> bool:
    """Whether the stored state is one this write builds on: for each of the write's policies
    the stored steps are the first steps of the new state, and no human override is stored."""
    for pid in write.policies:
        have, new = stored.for_policy(pid), write.state.for_policy(pid)
        if have.overridden_at is not None and new.overridden_at is None:
            return False
        if [s.step for s in new.steps[: len(have.steps)]] != [s.step for s in have.steps]:
            return False
    return True


def with_assignee(
    write: IssueWrite, action: ReassignAction, assigned: Person | None, *, now: datetime
) -> IssueWrite:
    """The write with ``reassigned_to`` naming who really holds the ticket now, and the
    note addressed to that person (none when nobody got it)."""
    if assigned is not None and assigned.id == action.to.id:
        return write
    if assigned is None:  # nobody got it: no assignee, no note, nothing to undo later
        kept = tuple(a for a in write.actions if a is not action)
    else:
        fixed = replace(action, to=assigned, note=action.fallback_note, fallback_note=None)
        kept = tuple(fixed if a is action else a for a in write.actions)
    write = replace(write, actions=kept)
    if assigned is None:
        write = replace(write, state=new_steps(write, now, previous_assignee=None))
    policies = {
        pid: (
            replace(ps, reassigned_to=assigned.id if assigned else None)
            if pid in write.policies and ps.reassigned_to == action.to.id
            else ps
        )
        for pid, ps in write.state.policies.items()
    }
    return replace(write, state=BotState(policies=policies))


def refused_state(
    write: IssueWrite, action: ReassignAction, *, reason: str, now: datetime
) -> BotState:
    """The state as it stands when Jira refused this write's reassignment: the steps this
    write adds are taken back (nothing of them went out), and each policy whose step held
    the reassignment records the refusal (step, time, Jira's reason)."""
    policies = dict(write.state.policies)
    for pid in write.policies:
        ps = policies.get(pid)
        if ps is None or not ps.steps or ps.steps[-1].at != now:
            continue
        step = ps.steps[-1]
        kept = replace(
            ps,
            steps=ps.steps[:-1],
            reassigned_to=None if ps.reassigned_to == action.to.id else ps.reassigned_to,
        )
        if "reassign" in step.actions:
            kept = replace(kept, refused_step=step.step, refused_at=now, refused_reason=reason)
        policies[pid] = kept
    return BotState(policies=policies, by=write.state.by)


def without_labels(write: IssueWrite, *, now: datetime) -> IssueWrite:
    """The write as it lands when Jira refused the labels: no label added, and the state
    records none (``revert`` must never remove a label the bot did not add)."""
    actions = tuple(a for a in write.actions if a.kind != "label")
    return replace(write, actions=actions, state=new_steps(write, now, labels_added=()))


def new_steps(write: IssueWrite, now: datetime, **changes: Any) -> BotState:
    """The write's state with ``changes`` applied to the steps this write adds (recorded at
    ``now``, the plan's time; an override adds none, and older steps stay as they were)."""
    policies = dict(write.state.policies)
    for pid in write.policies:
        ps = policies.get(pid)
        if ps is not None and ps.steps and ps.steps[-1].at == now:
            policies[pid] = replace(ps, steps=(*ps.steps[:-1], replace(ps.steps[-1], **changes)))
    return BotState(policies=policies)

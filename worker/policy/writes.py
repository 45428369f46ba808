"""From matches to writes: one :class:`~worker.model.plan.IssueWrite` per ticket, holding every
enforcing policy's actions (comments merged into one) and the bot's new state.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from worker.model.document import Document
from worker.model.plan import Action, CommentAction, IssueWrite, LabelAction, ReassignAction
from worker.model.state import BotState, StepRecord
from worker.policy.matches import Match, issue_sort_key


def writes_of(matches: list[Match], now: datetime) -> tuple[IssueWrite, ...]:
    """One write per ticket from the enforcing policies' planned matches (and the overrides to
    record), in issue-key order; a policy listed twice on a ticket acts once."""
    by_issue: dict[str, list[Match]] = {}
    for m in matches:
        if m.policy.mode != "enforce":
            continue
        if m.planned or m.override_by is not None:
            by_issue.setdefault(m.snapshot.key, []).append(m)
    writes: list[IssueWrite] = []
    for key in sorted(by_issue, key=issue_sort_key):
        # One match per policy: a ticket listed twice must not act twice (first one wins).
        first: dict[str, Match] = {}
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

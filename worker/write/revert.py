"""Undo: the write that puts a ticket back the way it was before the bot changed it (pure).

What the bot changed is recorded on the ticket itself (each :class:`~worker.model.state.StepRecord`
keeps the previous assignee and the labels it added), so a revert needs nothing but a fresh
read of the ticket. The revert is one :class:`~worker.model.plan.IssueWrite` run by the ordinary
executor, so it is exactly-once like every other write: the comment, the assignee, the labels
and the ``reverted_at`` mark in our state land in one edit or not at all.

The assignee is put back only while the ticket is still with the person the bot gave it to;
if someone has moved it since, the revert leaves it and says so. The labels the bot added are
removed when still present. A reverted policy treats the ticket as a human override: the bot
does not act on it again for that cause.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from worker.atlassian.comments import StampedComment
from worker.model.document import Document, Inline, Mention, Paragraph, Text
from worker.model.issue import IssueSnapshot
from worker.model.people import Person
from worker.model.plan import Action, CommentAction, IssueWrite, LabelAction, ReassignAction
from worker.model.state import BotState, PolicyState

#: the template name the revert comment is recorded under (it is built here, not from a file)
REVERT_TEMPLATE = "revert"
UNDONE = "Handoff Guard's change on {key} was undone at the request of {reason}"
LEFT_ALONE = "I will leave this ticket alone for {policies}."
#: what a taken-back comment is rewritten to (without ``--delete-comments``)
WITHDRAWN = "Withdrawn by an admin: {reason}"
_WITHDRAWN_HEAD = WITHDRAWN.split("{", 1)[0]


@dataclass(frozen=True, slots=True)
class RevertPlan:
    """What reverting one ticket would do: the write (None when there is nothing to undo)
    and each finding in words, for the CLI."""

    issue: str
    write: IssueWrite | None
    notes: tuple[str, ...]


def _changed_policies(
    state: BotState, commented: frozenset[str] = frozenset()
) -> dict[str, PolicyState]:
    """Policies whose steps changed the assignee or added labels, or whose comments are
    taken back (``commented``), and are not reverted."""
    return {
        pid: ps
        for pid, ps in sorted(state.policies.items())
        if ps.reverted_at is None
        and (pid in commented
             or any(s.previous_assignee is not None or s.labels_added for s in ps.steps))
    }


@dataclass(frozen=True, slots=True)
class CommentTakeBack:
    """One bot comment to take back: rewritten into a retraction, or deleted."""

    issue: str
    comment_id: str
    created: datetime
    verb: Literal["withdraw", "delete"]
    policies: tuple[str, ...]


def withdrawal(reason: str) -> Document:
    """The body a withdrawn comment is rewritten to."""
    return Document((Paragraph((Text(WITHDRAWN.format(reason=reason)),)),))


def comments_to_take_back(
    issue: str,
    comments: Iterable[StampedComment],
    *,
    bot_id: str,
    at: datetime | None,
    delete: bool,
) -> tuple[list[CommentTakeBack], list[str]]:
    """The bot's comments on ``issue`` to take back, and notes for the CLI (pure).

    Only comments the bot wrote and stamped count (never a person's, never a revert's own
    comment); with ``at`` (``revert --run``), only those of the cycle that ran at that site
    time. A comment already withdrawn is left as it is (exactly once) unless it is to be
    deleted.
    """
    found: list[CommentTakeBack] = []
    notes: list[str] = []
    for c in comments:
        stamp = c.stamp
        if stamp is None or not stamped_by_bot(c, bot_id=bot_id, at=at):
            continue
        templates = stamp.get("templates")
        if isinstance(templates, list) and REVERT_TEMPLATE in templates:
            continue
        if not delete and c.text.startswith(_WITHDRAWN_HEAD):
            notes.append(f"comment {c.id} already withdrawn")
            continue
        policies = stamp.get("policies")
        found.append(CommentTakeBack(
            issue=issue, comment_id=c.id, created=c.created,
            verb="delete" if delete else "withdraw",
            policies=tuple(str(p) for p in policies) if isinstance(policies, list) else (),
        ))
    return found, notes


def stamped_by_bot(comment: StampedComment, *, bot_id: str, at: datetime | None) -> bool:
    """Whether the bot wrote ``comment`` and stamped it (with ``at``: in the cycle that ran at
    that site time)."""
    if comment.author_id != bot_id or comment.stamp is None:
        return False
    return at is None or _stamped_at(comment.stamp) == at


def _stamped_at(stamp: Mapping[str, object]) -> datetime | None:
    value = stamp.get("at")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def plan_revert(
    snapshot: IssueSnapshot,
    *,
    now: datetime,
    reason: str,
    people: Mapping[str, Person],
    taken_back: Iterable[CommentTakeBack] = (),
) -> RevertPlan:
    """The write that undoes the bot's recorded changes on ``snapshot`` (see module doc).

    ``people`` names users by id (the directory), so the comment can mention them.
    ``taken_back`` are the comments the revert withdraws or deletes: their policies count
    as changed (marked reverted, so the bot does not comment again for that cause).
    """
    key = snapshot.key
    comments = list(taken_back)
    changed = _changed_policies(snapshot.state,
                                frozenset(p for c in comments for p in c.policies))
    if not changed:
        done = [
            f"{pid} was reverted on {ps.reverted_at:%Y-%m-%d} at the request of {ps.reverted_by}"
            for pid, ps in sorted(snapshot.state.policies.items())
            if ps.reverted_at is not None
        ]
        why = "; ".join(done) if done else "the bot recorded no assignee or label change here"
        if comments:  # the policy is reverted already; comments of it are still up
            return RevertPlan(key, None, (_comment_note(comments),))
        return RevertPlan(key, None, (f"nothing to undo: {why}",))

    def person(user_id: str) -> Person:
        return people.get(user_id) or Person(id=user_id, display_name=user_id)

    actions: list[Action] = []
    notes: list[str] = []
    said: list[tuple[Inline, ...]] = []
    steps = sorted((s for ps in changed.values() for s in ps.steps), key=lambda s: s.at)
    reassign_steps = [s for s in steps if s.previous_assignee is not None]
    if reassign_steps:
        # The first reassignment says who had the ticket before the bot touched it.
        previous = person(reassign_steps[0].previous_assignee or "")
        given_to = next(
            (ps.reassigned_to for ps in changed.values() if ps.reassigned_to), None
        )
        holder = snapshot.assignee
        if given_to is not None and holder is not None and holder.id == given_to:
            actions.append(
                ReassignAction(to=previous, target="revert", previous=holder)
            )
            notes.append(f"assignee {holder.display_name} -> {previous.display_name}")
            said.append((Text("it is back with "), Mention(previous)))
        else:
            now_with = holder.display_name if holder is not None else "nobody"
            bot_gave = person(given_to).display_name if given_to else "the sales owner"
            notes.append(
                f"assignee left as is: the ticket is now with {now_with}, not with "
                f"{bot_gave} to whom the bot gave it"
            )
            said.append((Text(f"the assignee stays as it is (it is now with {now_with})"),))
    have = {label.casefold(): label for label in snapshot.labels}
    added = dict.fromkeys(lab for s in steps for lab in s.labels_added)
    remove = tuple(have[lab.casefold()] for lab in added if lab.casefold() in have)
    if remove:
        actions.append(LabelAction(remove=remove))
        word = "label" if len(remove) == 1 else "labels"
        notes.append(f"{word} {', '.join(remove)} removed")
        said.append((Text(f"the {word} {', '.join(remove)} {'is' if len(remove) == 1 else 'are'}"
                          " removed"),))
    gone = [lab for lab in added if lab.casefold() not in have]
    if gone:
        notes.append(f"label(s) {', '.join(gone)} already gone")
    if comments:
        notes.append(_comment_note(comments))
        verb = "deleted" if comments[0].verb == "delete" else "withdrawn"
        word = "comment" if len(comments) == 1 else "comments"
        said.append((Text(f"its {word} {'is' if len(comments) == 1 else 'are'} {verb}"),))
    policies = tuple(changed)
    document = _comment(key, reason, said, policies)
    actions.insert(0, CommentAction(document=document, template=REVERT_TEMPLATE))
    state = dict(snapshot.state.policies)
    for pid, ps in changed.items():
        state[pid] = replace(ps, reverted_at=now, reverted_by=reason)
    write = IssueWrite(
        issue=key,
        issue_id=snapshot.id,
        actions=tuple(actions),
        state=BotState(policies=dict(sorted(state.items()))),
        policies=policies,
        seen_updated=snapshot.updated,
    )
    return RevertPlan(key, write, tuple(notes))


def _comment_note(comments: list[CommentTakeBack]) -> str:
    verb = "deleted" if comments[0].verb == "delete" else "withdrawn"
    ids = ", ".join(c.comment_id for c in comments)
    return f"{len(comments)} comment{'' if len(comments) == 1 else 's'} {verb} ({ids})"


def _comment(
    key: str, reason: str, said: list[tuple[Inline, ...]], policies: tuple[str, ...]
) -> Document:
    inlines: list[Inline] = [Text(UNDONE.format(key=key, reason=reason))]
    if said:
        inlines.append(Text(": "))
        for n, part in enumerate(said):
            if n:
                inlines.append(Text("; " if n < len(said) - 1 else " and "))
            inlines.extend(part)
    inlines.append(Text("."))
    names = ", ".join(policies)
    left = LEFT_ALONE.format(policies=("the policy " if len(policies) == 1 else "the policies ")
                             + names)
    return Document((Paragraph(tuple(inlines)), Paragraph((Text(left),))))

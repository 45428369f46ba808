"""Undo: the write that puts a ticket back the way it was before the bot changed it (pure).

What the bot changed is recorded on the ticket itself (each :class:`~worker.model.StepRecord`
keeps the previous assignee and the labels it added), so a revert needs nothing but a fresh
read of the ticket. The revert is one :class:`~worker.model.IssueWrite` run by the ordinary
executor, so it is exactly-once like every other write: the comment, the assignee, the labels
and the ``reverted_at`` mark in our state land in one edit or not at all.

The assignee is put back only while the ticket is still with the person the bot gave it to;
if someone has moved it since, the revert leaves it and says so. The labels the bot added are
removed when still present. A reverted policy treats the ticket as a human override: the bot
does not act on it again for that cause.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from worker.model import (
    Action,
    BotState,
    CommentAction,
    Document,
    Inline,
    IssueSnapshot,
    IssueWrite,
    LabelAction,
    Mention,
    Paragraph,
    Person,
    PolicyState,
    ReassignAction,
    Text,
)

#: the template name the revert comment is recorded under (it is built here, not from a file)
REVERT_TEMPLATE = "revert"
UNDONE = "Handoff Guard's change on {key} was undone at the request of {reason}"
LEFT_ALONE = "I will leave this ticket alone for {policies}."


@dataclass(frozen=True, slots=True)
class RevertPlan:
    """What reverting one ticket would do: the write (None when there is nothing to undo)
    and each finding in words, for the CLI."""

    issue: str
    write: IssueWrite | None
    notes: tuple[str, ...]


def _changed_policies(state: BotState) -> dict[str, PolicyState]:
    """Policies whose steps changed the assignee or added labels, and are not reverted."""
    return {
        pid: ps
        for pid, ps in sorted(state.policies.items())
        if ps.reverted_at is None
        and any(s.previous_assignee is not None or s.labels_added for s in ps.steps)
    }


def plan_revert(
    snapshot: IssueSnapshot,
    *,
    now: datetime,
    reason: str,
    people: Mapping[str, Person],
) -> RevertPlan:
    """The write that undoes the bot's recorded changes on ``snapshot`` (see module doc).

    ``people`` names users by id (the directory), so the comment can mention them.
    """
    key = snapshot.key
    changed = _changed_policies(snapshot.state)
    if not changed:
        done = [
            f"{pid} was reverted on {ps.reverted_at:%Y-%m-%d} at the request of {ps.reverted_by}"
            for pid, ps in sorted(snapshot.state.policies.items())
            if ps.reverted_at is not None
        ]
        why = "; ".join(done) if done else "the bot recorded no assignee or label change here"
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

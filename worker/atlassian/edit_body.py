"""The body of one edit-issue request: every action for a ticket and the bot's new state in
one atomic edit, in the flavor's dialect (ADF and accountId on Cloud, wiki markup and
username on Data Center)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from worker.atlassian.markup import to_adf, to_wiki
from worker.model.document import Document
from worker.model.people import Person
from worker.model.plan import (
    Action,
    CommentAction,
    FlagAction,
    LabelAction,
    ReassignAction,
    Visibility,
)
from worker.model.state import BotState
from worker.model.vocabulary import Flavor

#: the flag field's one option (Jira's own name)
FLAGGED_OPTION = "Impediment"


def edit_body(
    actions: Sequence[Action],
    state: BotState,
    *,
    flavor: Flavor,
    property_key: str,
    flagged_field_id: str | None,
    include_assignee: bool = True,
    drop_fields: frozenset[str] = frozenset(),
    comment_property: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of one edit-issue request carrying every action and our new state.

    ``drop_fields`` names fields the site refused (a field not on the edit screen); they are
    left out so the rest, above all the comment and our state, still lands atomically.
    ``comment_property`` is stamped on each comment as the comment property ``property_key``:
    the edit answers no comment id, and the stamp is how ``revert`` finds the comments of a
    write whose ids were never named (:mod:`worker.write.posted`).
    """
    fields: dict[str, Any] = {}
    update: dict[str, list[dict[str, Any]]] = {}
    comments = comments_by_audience(actions)
    for action in actions:
        if isinstance(action, ReassignAction):
            if include_assignee and "assignee" not in drop_fields:
                fields["assignee"] = assignee_value(action.to, flavor)
        elif isinstance(action, LabelAction):
            if "labels" not in drop_fields:
                ops = [{"add": label} for label in action.add]
                ops += [{"remove": label} for label in action.remove]
                if ops:
                    update.setdefault("labels", []).extend(ops)
        elif (
            isinstance(action, FlagAction)
            and flagged_field_id is not None
            and flagged_field_id not in drop_fields
        ):
            fields[flagged_field_id] = [{"value": FLAGGED_OPTION}] if action.on else None
    for audience, document in comments.items():
        rendered = (to_adf(document) if flavor == "cloud"
                    else to_wiki(document, mentions="username"))
        comment: dict[str, Any] = {"body": rendered}
        if audience is not None:
            comment["visibility"] = {"type": audience[0], "value": audience[1]}
        if comment_property is not None:
            comment["properties"] = [{"key": property_key, "value": dict(comment_property)}]
        update.setdefault("comment", []).append({"add": comment})
    body: dict[str, Any] = {"properties": [{"key": property_key, "value": state.to_json()}]}
    if fields:
        body["fields"] = fields
    if update:
        body["update"] = update
    return body


#: who reads a comment: None for everyone who sees the ticket, else (type, value)
Audience = tuple[str, str] | None


def comments_by_audience(actions: Sequence[Action]) -> dict[Audience, Document]:
    """The comments the edit for ``actions`` posts, one per audience: what the same readers
    see goes out as a single comment (a policy's words and the note to the new owner),
    whatever matched. The note to the new owner rides in the same edit; when the assignee
    field is dropped, the executor has already assigned and put the right note here."""
    comments: dict[Audience, Document] = {}

    def add(document: Document, visibility: Visibility | None) -> None:
        audience = None if visibility is None else (visibility.type, visibility.value)
        before = comments.get(audience)
        comments[audience] = (document if before is None
                              else Document(blocks=before.blocks + document.blocks))

    for action in actions:
        if isinstance(action, CommentAction):
            add(action.document, action.visibility)
        elif isinstance(action, ReassignAction) and action.note is not None:
            add(action.note, None)
    return comments


def comment_count(actions: Sequence[Action]) -> int:
    """How many comments the edit for ``actions`` posts (recorded until their ids are named)."""
    return len(comments_by_audience(actions))


def assignee_value(person: Person, flavor: Flavor) -> dict[str, str]:
    """The JSON that names an assignee: ``accountId`` on Cloud, ``name`` on Data Center."""
    return {"accountId": person.id} if flavor == "cloud" else {"name": person.id}

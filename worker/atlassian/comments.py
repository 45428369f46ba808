"""The bot's own comments on one issue: list them with their stamp, rewrite or delete one.

Every comment the bot posts carries a comment property (key: the issue property's key) with
what wrote it: ``{"at": <the cycle's site time>, "policies": [...], "templates": [...]}``
(:func:`worker.model.outcome.comment_stamp`). The edit-issue request that posts a comment (with our
state, atomically) answers 204 with no comment id; the next cycle's search answer names the
ids (:mod:`worker.write.posted`), and ``revert`` reads those comments by id
(:func:`read_comment`). For writes recorded without them, the comment list with
``expand=properties`` gives the ids by their stamp.

Jira lets only a comment's author (or an admin) edit or delete it: a 403 here is a refusal
to report, not something to retry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.atlassian.jira import JiraGateway
from worker.atlassian.markup import to_adf, to_wiki
from worker.atlassian.snapshots import body_text, parse_jira_time, person_from_json
from worker.atlassian.transport import AtlassianHTTPError, UnexpectedBodyError
from worker.model.document import Document

#: comments per page when listing one issue's comments
PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class StampedComment:
    """A comment as listed: its id, author, text, and the bot's stamp (None: not ours)."""

    id: str
    author_id: str | None
    created: datetime
    text: str
    stamp: Mapping[str, Any] | None


def list_comments(jira: JiraGateway, key: str, *, property_key: str) -> list[StampedComment]:
    """Every comment of ``key``, oldest first, each with its ``property_key`` stamp."""
    path = f"{jira.api}/issue/{key}/comment"
    found: list[StampedComment] = []
    while True:
        page = jira.transport.call(
            "GET", path, params={"startAt": len(found), "maxResults": PAGE_SIZE,
                                 "expand": "properties"})
        found += _page(page, path, jira, property_key)
        total = page.get("total") if isinstance(page, dict) else None
        if not isinstance(total, int) or len(found) >= total or not page.get("comments"):
            return found


def read_comment(
    jira: JiraGateway, key: str, comment_id: str, *, property_key: str
) -> StampedComment | None:
    """One comment of ``key`` by id, with its stamp; None when it is gone (404)."""
    path = f"{jira.api}/issue/{key}/comment/{comment_id}"
    try:
        item = jira.transport.call("GET", path, params={"expand": "properties"})
    except AtlassianHTTPError as exc:
        if exc.status == 404:
            return None
        raise
    return _comment(item, path, jira, property_key)


def _page(page: object, path: str, jira: JiraGateway, property_key: str
          ) -> list[StampedComment]:
    items = page.get("comments") if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise UnexpectedBodyError(f"{path}: no comment list in the answer")
    return [_comment(item, path, jira, property_key) for item in items]


def _comment(item: object, path: str, jira: JiraGateway, property_key: str) -> StampedComment:
    if not isinstance(item, dict):
        raise UnexpectedBodyError(f"{path}: a comment is not an object")
    author = person_from_json(item.get("author"), jira.flavor)
    return StampedComment(
        id=str(item.get("id", "")),
        author_id=None if author is None else author.id,
        created=parse_jira_time(item.get("created")),
        text=body_text(item.get("body")),
        stamp=_stamp(item.get("properties"), property_key),
    )


def _stamp(properties: object, property_key: str) -> Mapping[str, Any] | None:
    if not isinstance(properties, list):
        return None
    for entry in properties:
        if isinstance(entry, dict) and entry.get("key") == property_key:
            value = entry.get("value")
            return value if isinstance(value, dict) else None
    return None


def rewrite_comment(jira: JiraGateway, key: str, comment_id: str, document: Document) -> None:
    """Replace a comment's body (ADF on Cloud, wiki markup on Data Center). Sending the same
    body twice changes nothing, so a lost answer may be retried."""
    body = to_adf(document) if jira.flavor == "cloud" else to_wiki(document, mentions="username")
    jira.transport.call("PUT", f"{jira.api}/issue/{key}/comment/{comment_id}",
                        body={"body": body}, idempotent=True)


def delete_comment(jira: JiraGateway, key: str, comment_id: str) -> bool:
    """Delete a comment; False when it was already gone (404: deleted by an earlier try)."""
    try:
        jira.transport.call("DELETE", f"{jira.api}/issue/{key}/comment/{comment_id}",
                            idempotent=True)
    except AtlassianHTTPError as exc:
        if exc.status == 404:
            return False
        raise
    return True

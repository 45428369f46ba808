"""The events Jira sends for the writes of one request, built after the request ran.

Each write the REST API commits while a webhook listens is kept by the world as (before,
after, who); after the request, :func:`emit` turns them into Jira's events, for every enabled
webhook that subscribes to the event and whose JQL filter matches the issue as it is now:

* a new issue: ``jira:issue_created``;
* new changelog entries or comments: ``jira:issue_updated`` (``issue_event_type_name``
  ``issue_commented`` for a comment alone, ``issue_assigned`` for an assignment alone,
  ``issue_generic`` for a transition alone, else ``issue_updated``), and a ``comment_created``
  per new comment;
* a property alone changes neither (Jira sends ``issue_property_set``, not simulated).

Bodies are Jira's webhook shape: ``timestamp`` (Unix ms), ``webhookEvent``, ``user`` and the
issue in REST v2's shape (wiki markup), with ``changelog`` or ``comment``.
"""

from __future__ import annotations

import json
from typing import Any

import structlog

from worker.jql import JqlError, parse_jql
from worker.sandbox.jira_api import issue_view, jql_context
from worker.sandbox.render import comment_json, issue_json, select_fields, user_json
from worker.sandbox.site import Comment, History, Issue
from worker.sandbox.webhooks import Event, Webhook, now_ms
from worker.sandbox.world import World

log = structlog.get_logger(__name__)

#: a changelog made only of this field is this kind of update
_ONLY_FIELD = {"assignee": "issue_assigned", "status": "issue_generic"}


def emit(world: World, base: str) -> None:
    """Send the events of the writes the world kept, and forget them (the caller holds the
    site lock)."""
    changes, world.changes = world.changes, []
    if not changes:
        return
    hooks = [h for h in world.webhooks.webhooks() if h.enabled]
    events: list[Event] = []
    for before, after, actor in changes:
        for name, body in _events(world, base, before, after, actor):
            for hook in hooks:
                if name in hook.events and _matches(world, hook, after):
                    events.append(Event(hook, name, after.key, body))
    world.webhooks.send(events)


def _events(world: World, base: str, before: Issue | None, after: Issue,
            actor: str | None) -> list[tuple[str, bytes]]:
    """(event name, body) for one write."""
    user = world.user(actor)
    common: dict[str, Any] = {"timestamp": now_ms()}
    if user is not None:
        common["user"] = user_json(world, user, base, api=2)
    issue = issue_json(world, after, base, api=2,
                       fields=select_fields(world, [], default="*navigable"))
    if before is None:
        return [("jira:issue_created", _dump({**common, "webhookEvent": "jira:issue_created",
                                               "issue_event_type_name": "issue_created",
                                               "issue": issue}))]
    histories: list[History] = after.changelog[len(before.changelog):]
    seen = {c.id for c in before.comments}
    comments: list[Comment] = [c for c in after.comments if c.id not in seen]
    if not histories and not comments:
        return []
    update: dict[str, Any] = {**common, "webhookEvent": "jira:issue_updated",
                              "issue_event_type_name": _kind(histories, comments),
                              "issue": issue}
    if histories:
        update["changelog"] = {"id": histories[-1].id, "items": [
            {"field": it.get("field"), "fieldtype": "jira", "from": it.get("from"),
             "fromString": it.get("fromString"), "to": it.get("to"),
             "toString": it.get("toString")} for h in histories for it in h.items]}
    if comments:
        update["comment"] = comment_json(world, after, comments[-1], base, api=2)
    out = [("jira:issue_updated", _dump(update))]
    for comment in comments:
        out.append(("comment_created", _dump({
            **common, "webhookEvent": "comment_created",
            "comment": comment_json(world, after, comment, base, api=2),
            "issue": {"id": after.id, "key": after.key,
                      "self": f"{base}/rest/api/2/issue/{after.id}",
                      "fields": {"summary": after.summary}},
        })))
    return out


def _kind(histories: list[History], comments: list[Comment]) -> str:
    fields = {str(it.get("field")) for h in histories for it in h.items}
    if not fields:
        return "issue_commented" if comments else "issue_updated"
    if len(fields) == 1 and not comments:
        return _ONLY_FIELD.get(next(iter(fields)), "issue_updated")
    return "issue_updated"


def _matches(world: World, hook: Webhook, issue: Issue) -> bool:
    """Whether the webhook's JQL filter takes the issue as it is now (none: every issue)."""
    if hook.jql is None:
        return True
    ctx = jql_context(world)
    try:
        return parse_jql(hook.jql, ctx).matches(issue_view(world, issue), ctx)
    except JqlError as exc:  # Jira validates the filter at registration; be loud here
        log.warning("sandbox.webhook_filter_failed", webhook=hook.id, error=str(exc))
        return False


def _dump(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()

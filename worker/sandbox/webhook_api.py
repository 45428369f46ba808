"""Jira's webhook registration endpoints as the sandbox serves them.

* ``POST /rest/webhooks/1.0/webhook`` (Cloud and Data Center): an admin webhook, with
  ``name``, ``url``, ``events``, ``filters: {"issue-related-events-section": JQL}``,
  ``excludeBody`` and ``secret``; 201 with the webhook (its ``self`` names its id). A JQL
  filter that does not parse is refused (400). ``GET`` lists them; ``GET``/``DELETE``
  ``.../webhook/{id}`` reads or removes one.
* ``POST|GET|DELETE /rest/api/{2,3}/webhook`` (Cloud only): dynamic webhooks, which only
  Connect and OAuth 2.0 apps may use; the API token the bot logs in with gets 403, as on
  Jira Cloud.
"""

from __future__ import annotations

from worker.jql import JqlError, parse_jql
from worker.sandbox.context import Ctx, Reply
from worker.sandbox.errors import ApiError, bad_request
from worker.sandbox.jira_api import jql_context
from worker.sandbox.webhooks import WebhookError, parse_webhook

APPS_ONLY = "Only Connect and OAuth 2.0 apps can use this operation."


def register(ctx: Ctx) -> Reply:
    """``POST /rest/webhooks/1.0/webhook``."""
    raw = ctx.body_object()
    try:
        parse_webhook(raw, webhook_id=0)  # checked before anything is kept
    except WebhookError as exc:
        raise bad_request(str(exc)) from exc
    filters = raw.get("filters")
    jql = filters.get("issue-related-events-section") if isinstance(filters, dict) else None
    if isinstance(jql, str) and jql.strip():
        try:
            parse_jql(jql, jql_context(ctx.world))
        except JqlError as exc:
            raise bad_request(f"The JQL filter is not valid: {exc}") from exc
    hook = ctx.world.webhooks.register(raw)
    return 201, hook.to_json(ctx.base)


def list_all(ctx: Ctx) -> Reply:
    """``GET /rest/webhooks/1.0/webhook``."""
    return 200, [h.to_json(ctx.base) for h in ctx.world.webhooks.webhooks()]


def get_one(ctx: Ctx, webhook_id: int) -> Reply:
    """``GET /rest/webhooks/1.0/webhook/{id}``."""
    hook = ctx.world.webhooks.get(webhook_id)
    if hook is None:
        raise ApiError(404, f"No webhook with id {webhook_id}.")
    return 200, hook.to_json(ctx.base)


def delete_one(ctx: Ctx, webhook_id: int) -> Reply:
    """``DELETE /rest/webhooks/1.0/webhook/{id}`` (204)."""
    if not ctx.world.webhooks.delete(webhook_id):
        raise ApiError(404, f"No webhook with id {webhook_id}.")
    return 204, None


def dynamic(ctx: Ctx) -> Reply:
    """``/rest/api/{2,3}/webhook``: apps only (403 for an API-token caller)."""
    raise ApiError(403, APPS_ONLY)

"""The sandbox's control API (``/_sandbox/*``): not Atlassian's, loopback only, no auth.

Calls here are neither logged in the request log nor subject to fault rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request

from worker.sandbox.faults import FaultError, parse_rule
from worker.sandbox.site import SiteError, format_time, parse_time
from worker.sandbox.webhooks import WebhookError
from worker.sandbox.world import World, parse_duration


class ControlError(ValueError):
    """A control call with a bad body (answered 400 with ``{"error": message}``)."""


def _body(request: Request) -> Mapping[str, Any]:
    value = request.get_json(silent=True)
    if value is None and request.get_data():
        raise ControlError("the body is not JSON")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ControlError("the body must be a JSON object")
    return value


def handle(world: World, request: Request, action: str) -> tuple[int, Any]:
    """Serve one control call (the caller holds the site lock)."""
    method = request.method
    if action == "site" and method == "GET":
        return 200, world.site.to_dict()
    if action == "reset" and method == "POST":
        world.reset()
        return 200, {"now": format_time(world.now)}
    if action == "clock":
        if method == "POST":
            body = _body(request)
            if ("now" in body) == ("advance" in body):
                raise ControlError('give exactly one of "now" (ISO time) or "advance" ("3d")')
            if "now" in body:
                try:
                    world.site.now = parse_time(body["now"], where="now")
                except SiteError as exc:
                    raise ControlError(str(exc)) from exc
            else:
                try:
                    world.site.now = world.now + parse_duration(str(body["advance"]))
                except ValueError as exc:
                    raise ControlError(str(exc)) from exc
        elif method != "GET":
            return 405, {"error": "use GET or POST"}
        return 200, {"now": format_time(world.now)}
    if action == "faults":
        if method == "POST":
            rules = _body(request).get("rules")
            if not isinstance(rules, list):
                raise ControlError('the body must be {"rules": [...]}')
            try:
                parsed = [parse_rule(r) for r in rules]
            except FaultError as exc:
                raise ControlError(str(exc)) from exc
            world.faults.extend(parsed)
        elif method == "DELETE":
            world.faults.clear()
        elif method != "GET":
            return 405, {"error": "use GET, POST or DELETE"}
        return 200, {"rules": [r.to_dict() for r in world.faults]}
    if action == "requests":
        if method == "DELETE":
            world.log.clear()
        elif method != "GET":
            return 405, {"error": "use GET or DELETE"}
        return 200, {"requests": [r.to_dict() for r in world.log]}
    if action == "webhooks":
        return _webhooks(world, request)
    return 404, {"error": f"no control call {method} /_sandbox/{action}"}


def _webhooks(world: World, request: Request) -> tuple[int, Any]:
    """``GET``: the webhooks and the delivery log; ``POST``: register one (Jira's admin
    body); ``DELETE``: forget them all."""
    hub = world.webhooks
    base = request.host_url.rstrip("/")
    if request.method == "POST":
        try:
            hook = hub.register(_body(request))
        except WebhookError as exc:
            raise ControlError(str(exc)) from exc
        return 201, hook.to_json(base)
    if request.method == "DELETE":
        hub.clear()
    elif request.method != "GET":
        return 405, {"error": "use GET, POST or DELETE"}
    return 200, {"webhooks": [h.to_json(base) for h in hub.webhooks()],
                 "deliveries": [d.to_dict() for d in hub.deliveries()]}

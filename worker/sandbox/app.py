"""The sandbox's WSGI application: routing, auth, faults, the request log, ``Date``.

Jira routes live under ``/rest/api/{2,3}``, Confluence under ``/wiki/rest/api``, the control
API under ``/_sandbox``. One lock guards the site for the whole of a request (latency faults
sleep outside it so a slow request does not stall the others).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import socket
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import structlog
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from worker.sandbox import (
    assignable,
    confluence_api,
    confluence_attachments,
    control,
    jira_api,
    webhook_api,
    webhook_events,
)
from worker.sandbox.context import NO_SHAPE, Ctx, PageShape, Reply
from worker.sandbox.errors import NOT_AUTHENTICATED, ApiError
from worker.sandbox.faults import FaultRule, default_body, echoed_credentials
from worker.sandbox.render import http_date
from worker.sandbox.site import User
from worker.sandbox.world import LoggedRequest, World

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

log = structlog.get_logger(__name__)

J = "/rest/api/<version:api>"
W = "/wiki/rest/api"


class _ApiVersion(BaseConverter):
    """``2``, ``3`` or ``latest``. Jira serves ``latest`` as version 2 (wiki markup strings,
    not ADF) on Cloud and Data Center alike; the pycontribs ``jira`` client and
    atlassian-python-api's default ``api_version`` both call it."""

    regex = r"(?:2|3|latest)"

    def to_python(self, value: str) -> int:
        return 2 if value == "latest" else int(value)

    def to_url(self, value: object) -> str:
        return str(value)


_RULES: list[tuple[str, str, tuple[str, ...]]] = [
    (f"{J}/search/jql", "search_jql", ("GET", "POST")),
    (f"{J}/search/approximate-count", "approximate_count", ("POST",)),
    (f"{J}/search", "search", ("GET", "POST")),
    (f"{J}/issue", "create_issue", ("POST",)),
    (f"{J}/issue/bulkfetch", "bulkfetch", ("POST",)),
    (f"{J}/issue/<key>", "issue", ("GET", "PUT")),
    (f"{J}/issue/<key>/changelog", "changelog", ("GET",)),
    (f"{J}/issue/<key>/comment", "comments", ("GET", "POST")),
    (f"{J}/issue/<key>/comment/<comment_id>", "comment", ("GET", "PUT", "DELETE")),
    (f"{J}/issue/<key>/assignee", "assign", ("PUT",)),
    (f"{J}/issue/<key>/properties", "properties", ("GET",)),
    (f"{J}/issue/<key>/properties/<path:prop>", "property", ("GET", "PUT", "DELETE")),
    (f"{J}/issue/<key>/transitions", "transitions", ("GET", "POST")),
    (f"{J}/myself", "myself", ("GET",)),
    (f"{J}/serverInfo", "server_info", ("GET",)),
    (f"{J}/field", "fields", ("GET",)),
    (f"{J}/user", "user", ("GET",)),
    (f"{J}/user/search", "user_search", ("GET",)),
    (f"{J}/user/assignable/search", "assignable_search", ("GET",)),
    (f"{J}/project", "projects", ("GET",)),
    (f"{J}/users/search", "users_search", ("GET",)),
    (f"{J}/group/member", "group_member", ("GET",)),
    ("/rest/applinks/1.0/listApplicationlinks", "applinks", ("GET",)),
    (f"{J}/webhook", "dynamic_webhook", ("GET", "POST", "DELETE")),
    ("/rest/webhooks/1.0/webhook", "admin_webhooks", ("GET", "POST")),
    ("/rest/webhooks/1.0/webhook/<int:webhook_id>", "admin_webhook", ("GET", "DELETE")),
    (f"{W}/content/search", "wiki_content_search", ("GET",)),
    (f"{W}/search", "wiki_search", ("GET",)),
    (f"{W}/content", "wiki_create", ("GET", "POST")),
    (f"{W}/content/<page_id>", "wiki_content", ("GET", "PUT")),
    (f"{W}/content/<page_id>/label", "wiki_labels", ("GET", "POST")),
    (f"{W}/content/<page_id>/child/attachment", "wiki_attachments", ("GET", "POST", "PUT")),
    (f"{W}/content/<page_id>/child/attachment/<attachment_id>/data", "wiki_attachment_data",
     ("POST",)),
    ("/wiki/download/attachments/<page_id>/<filename>", "wiki_download", ("GET",)),
    (f"{W}/user", "wiki_user", ("GET",)),
]

URL_MAP = Map([Rule(path, endpoint=name, methods=list(methods)) for path, name, methods in _RULES],
              converters={"version": _ApiVersion})

#: endpoints only Jira Cloud serves (Data Center answers 404)
_CLOUD_ONLY = frozenset({"search_jql", "approximate_count", "changelog", "bulkfetch",
                         "dynamic_webhook"})

_JIRA: dict[str, Callable[..., Reply]] = {
    "search_jql": jira_api.search_jql,
    "create_issue": jira_api.create_issue,
    "bulkfetch": jira_api.bulkfetch,
    "changelog": jira_api.get_changelog,
    "approximate_count": jira_api.approximate_count,
    "myself": jira_api.myself,
    "server_info": jira_api.server_info,
    "fields": jira_api.fields,
    "user": jira_api.get_user,
    "user_search": jira_api.search_users,
    "assignable_search": assignable.assignable_users,
    "projects": assignable.list_projects,
    "users_search": jira_api.list_users,
    "group_member": jira_api.group_members,
    "applinks": jira_api.application_links,
    "dynamic_webhook": webhook_api.dynamic,
}
_BY_METHOD: dict[tuple[str, str], Callable[..., Reply]] = {
    ("issue", "GET"): jira_api.get_issue,
    ("issue", "PUT"): jira_api.edit_issue,
    ("comments", "GET"): jira_api.get_comments,
    ("comments", "POST"): jira_api.add_comment,
    ("comment", "GET"): jira_api.get_comment,
    ("comment", "PUT"): jira_api.edit_comment,
    ("comment", "DELETE"): jira_api.delete_comment,
    ("assign", "PUT"): jira_api.assign,
    ("properties", "GET"): jira_api.list_properties,
    ("property", "GET"): jira_api.get_property,
    ("property", "PUT"): jira_api.put_property,
    ("property", "DELETE"): jira_api.delete_property,
    ("transitions", "GET"): jira_api.get_transitions,
    ("transitions", "POST"): jira_api.do_transition,
    ("wiki_content_search", "GET"): confluence_api.content_search,
    ("wiki_search", "GET"): confluence_api.site_search,
    ("wiki_create", "GET"): confluence_api.list_content,
    ("wiki_create", "POST"): confluence_api.create_content,
    ("wiki_attachments", "GET"): confluence_attachments.list_attachments,
    ("wiki_attachments", "POST"): confluence_attachments.create_attachments,
    ("wiki_attachments", "PUT"): confluence_attachments.put_attachments,
    ("wiki_attachment_data", "POST"): confluence_attachments.update_attachment_data,
    ("wiki_download", "GET"): confluence_attachments.download,
    ("wiki_content", "GET"): confluence_api.get_content,
    ("wiki_content", "PUT"): confluence_api.update_content,
    ("wiki_labels", "GET"): confluence_api.get_labels,
    ("wiki_labels", "POST"): confluence_api.add_labels,
    ("wiki_user", "GET"): confluence_api.get_user,
    ("admin_webhooks", "GET"): webhook_api.list_all,
    ("admin_webhooks", "POST"): webhook_api.register,
    ("admin_webhook", "GET"): webhook_api.get_one,
    ("admin_webhook", "DELETE"): webhook_api.delete_one,
}


class DroppedConnectionError(ConnectionAbortedError):
    """Raised after the socket was shut down on purpose; werkzeug treats it as a client
    that went away and writes nothing."""


class SandboxApp:
    """The WSGI application around one :class:`World`."""

    def __init__(self, world: World) -> None:
        self.world = world

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse
                 ) -> Iterable[bytes]:
        request = Request(environ)
        # Read the whole body before answering (even a fault's answer): connections are kept
        # alive, and an unread body would be taken for the next request.
        request.get_data(cache=True)
        if request.path.startswith("/_sandbox/"):
            response = self._control(request)
        else:
            response = self._api(request, environ)
        return response(environ, start_response)

    # ------------------------------------------------------------------ control

    def _control(self, request: Request) -> Response:
        action = request.path.removeprefix("/_sandbox/").strip("/")
        with self.world.lock:
            try:
                status, body = control.handle(self.world, request, action)
            except control.ControlError as exc:
                status, body = 400, {"error": str(exc)}
            response = _json(status, body)
            response.headers["Date"] = http_date(self.world.now)
        return response

    # ------------------------------------------------------------------ API

    def _api(self, request: Request, environ: WSGIEnvironment) -> Response:
        world = self.world
        entry = LoggedRequest(request.method, request.path,
                              request.query_string.decode("latin-1"), None)
        with world.lock:
            world.log.append(entry)
            latency_ms, fault, shape = self._faults(request)
        if latency_ms:
            time.sleep(latency_ms / 1000)
        if fault is not None and fault.drop == "before":
            entry.fault = "drop-before"
            _drop(environ)
        if fault is not None and fault.status is not None:
            entry.status, entry.fault = fault.status, "status"
            return self._fault_response(request, fault)
        with world.lock:
            try:
                response = self._dispatch(request, shape=shape)
            finally:
                # the writes this request made, as Jira's events (sent by another thread)
                webhook_events.emit(world, request.host_url.rstrip("/"))
            entry.status = response.status_code
            entry.search = _search_summary(request)
            if shape.repeat or shape.omit or shape.issue_errors:
                entry.fault = "shape"
            response.headers["Date"] = http_date(world.now)
        if fault is not None and fault.drop == "after":
            entry.fault = "drop-after"
            _drop(environ)
        return response

    def _faults(self, request: Request) -> tuple[int, FaultRule | None, PageShape]:
        """Fire the matching rules: latencies, page shifts and omissions add up; the first
        status or drop rule wins."""
        latency_ms = repeat = 0
        omit: tuple[str, ...] = ()
        issue_errors: tuple[str, ...] = ()
        for rule in self.world.faults:
            if not rule.matches(request.method, request.path):
                continue
            rule.fire()
            latency_ms += rule.latency_ms
            repeat += rule.repeat
            omit += rule.omit
            issue_errors += rule.issue_errors
            if rule.status is not None or rule.drop is not None:
                break
        else:
            rule = None
        return latency_ms, rule, PageShape(repeat=repeat, omit=frozenset(omit),
                                           issue_errors=frozenset(issue_errors))

    def _fault_response(self, request: Request, rule: FaultRule) -> Response:
        assert rule.status is not None
        body = rule.body if rule.body is not None else default_body(rule.status)
        if rule.echo_auth:
            body = echoed_credentials(rule.status, request.headers.get("Authorization", ""))
        if isinstance(body, str):
            response = Response(body, status=rule.status, content_type="text/plain")
        else:
            response = _json(rule.status, body)
        if rule.retry_after is not None:
            response.headers["Retry-After"] = rule.retry_after
            if rule.retry_after_as == "date":
                with self.world.lock:
                    when = self.world.now + timedelta(seconds=int(rule.retry_after))
                response.headers["Retry-After"] = http_date(when)
        if rule.status == 429:
            response.headers["X-RateLimit-Limit"] = "100"
            response.headers["X-RateLimit-Remaining"] = "0"
            response.headers["RateLimit-Reason"] = "jira-burst-based"
        for key, value in rule.headers.items():
            response.headers[key] = value
        with self.world.lock:
            response.headers["Date"] = http_date(self.world.now)
        return response

    def _dispatch(self, request: Request, *, shape: PageShape = NO_SHAPE) -> Response:
        world = self.world
        wiki = request.path.startswith("/wiki/")
        adapter = URL_MAP.bind_to_environ(request.environ)
        try:
            endpoint, args = adapter.match()
        except (NotFound, MethodNotAllowed) as exc:
            return _not_found(request, wiki=wiki, status=exc.code or 404)
        except HTTPException as exc:
            return _not_found(request, wiki=wiki, status=exc.code or 404)
        args = dict(args)
        api = int(args.pop("api", 1))
        if not wiki and not world.cloud and (api == 3 or endpoint in _CLOUD_ONLY):
            return _not_found(request, wiki=False, status=404)
        user = self._login(request)
        if user is None:
            error = ApiError(401, NOT_AUTHENTICATED)
            response = _json(401, error.confluence_body() if wiki else error.jira_body())
            response.headers["WWW-Authenticate"] = 'Basic realm="protected-area"'
            return response
        ctx = Ctx(request, world, request.host_url.rstrip("/"), api, user, shape=shape)
        try:
            status, body = self._call(endpoint, request.method, ctx, args)
        except ApiError as error:
            response = _json(error.status, error.confluence_body() if wiki
                             else error.jira_body())
            for key, value in error.headers.items():
                response.headers[key] = value
            return response
        return _json(status, body)

    def _call(self, endpoint: str, method: str, ctx: Ctx, args: dict[str, Any]) -> Reply:
        if endpoint == "search":
            return jira_api.search_removed(ctx) if ctx.world.cloud else jira_api.search_dc(ctx)
        handler = _JIRA.get(endpoint) or _BY_METHOD[(endpoint, method)]
        return handler(ctx, **args)

    def _login(self, request: Request) -> User | None:
        """Who the credentials belong to: the bot, or an active site-file user with an
        ``api_token`` (Basic email:token on Cloud, Bearer token on Data Center); else None."""
        site = self.world.site
        accounts: list[tuple[User, str | None, str]] = [
            (self.world.bot_user(), site.bot.email, site.bot.api_token)]
        accounts += [(u, u.email, u.api_token) for u in site.users
                     if u.api_token is not None and u.active]
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if self.world.cloud:
            if scheme.lower() != "basic":
                return None
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None
            email, _, token = decoded.partition(":")
            return next((u for u, e, t in accounts if e == email and t == token), None)
        if scheme.lower() != "bearer":
            return None
        return next((u for u, _, t in accounts if t == value.strip()), None)


def _json(status: int, body: Any) -> Response:
    if isinstance(body, Response):  # a download: the handler made the response itself
        return body
    if body is None:
        return Response(status=status)
    return Response(json.dumps(body), status=status, content_type="application/json")


def _not_found(request: Request, *, wiki: bool, status: int) -> Response:
    if wiki:
        return _json(status, {"statusCode": status, "message": f"null for uri: {request.url}"})
    if status == 405:
        return _json(405, {"errorMessages": [f"Method {request.method} is not allowed here."],
                           "errors": {}})
    return _json(status, {"message": f"null for uri: {request.url}", "status-code": status})


def _drop(environ: WSGIEnvironment) -> None:
    """Close the client's connection with no response and stop the handler."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            log.debug("sandbox.drop_failed")
    raise DroppedConnectionError("sandbox fault: connection dropped")


#: Jira's issue searches (Cloud's and Data Center's, GET or POST)
_ISSUE_SEARCH = re.compile(r"/rest/api/(2|3|latest)/search(/jql)?$")


def _search_summary(request: Request) -> dict[str, Any] | None:
    """For the request log: what an issue search asked for (None for anything else)."""
    if not _ISSUE_SEARCH.search(request.path):
        return None
    if request.method == "POST":
        body = request.get_json(silent=True)
        params: dict[str, Any] = body if isinstance(body, dict) else {}
    else:
        params = {k: request.args.get(k) for k in ("jql", "fields", "reconcileIssues")}
    jql = params.get("jql")
    return {"jql": jql if isinstance(jql, str) else None,
            "fields": len(jira_api.as_list(params.get("fields"))),
            "reconcile": len(jira_api.as_list(params.get("reconcileIssues")))}


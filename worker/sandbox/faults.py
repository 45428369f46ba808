"""Fault rules: make chosen requests fail the way Atlassian's do (status with Retry-After,
latency, a dropped connection before or after the request is applied), or answer a search
page shifted the way real paging shifts (``repeat``).

A rule matches on optional ``method`` and ``path`` (a regular expression searched in the
request path) and fires ``times`` times (default: forever).

``echo_auth: true`` makes a status answer echo the request's credentials back, as misconfigured
proxies and debugging gateways do: the ``Authorization`` header verbatim, its decoded
``user:token`` form, and the header again as JSON. Nothing the worker prints may show them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_KEYS = frozenset({"method", "path", "status", "retry_after", "retry_after_as", "body",
                   "latency_ms", "drop", "times", "headers", "repeat", "omit",
                   "issue_errors", "echo_auth"})


class FaultError(ValueError):
    """A fault rule that cannot be used (the message says why)."""


@dataclass(slots=True)
class FaultRule:
    """One fault rule (``times`` counts down as it fires; None means forever)."""

    method: str | None
    path: re.Pattern[str] | None
    status: int | None
    retry_after: str | None
    #: "date": send ``retry_after`` seconds as an HTTP date (site clock + seconds)
    retry_after_as: str
    body: Any
    latency_ms: int
    drop: str | None
    times: int | None
    headers: Mapping[str, str]
    #: search pages only: the page starts this many issues earlier than asked, so the last
    #: issues of the previous page come again (Data Center: an issue entered the scope ahead
    #: of the offset; Cloud: a page lists an issue twice). On a first page its own first
    #: issues are listed twice.
    repeat: int = 0
    #: search pages and bulkfetch answers: keys left out of every issue (``["properties"]``:
    #: some Data Center versions answer without the ``properties`` object)
    omit: tuple[str, ...] = ()
    #: bulkfetch only: issues (by key) answered in ``issueErrors`` (a retriable error) instead
    #: of ``issues``
    issue_errors: tuple[str, ...] = ()
    #: the answer's body echoes the request's Authorization header (see the module doc)
    echo_auth: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Does this rule apply to a request (and has it firings left)?"""
        if self.times is not None and self.times <= 0:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        return self.path is None or self.path.search(path) is not None

    def fire(self) -> None:
        """Count one firing."""
        if self.times is not None:
            self.times -= 1

    def to_dict(self) -> dict[str, Any]:
        """The rule as given (with what is left of ``times``)."""
        out: dict[str, Any] = {"method": self.method,
                               "path": None if self.path is None else self.path.pattern,
                               "status": self.status, "retry_after": self.retry_after,
                               "retry_after_as": (None if self.retry_after_as == "seconds"
                                                  else self.retry_after_as),
                               "body": self.body, "latency_ms": self.latency_ms,
                               "drop": self.drop, "times": self.times,
                               "repeat": self.repeat, "omit": list(self.omit),
                               "issue_errors": list(self.issue_errors),
                               "echo_auth": self.echo_auth or None}
        return {k: v for k, v in out.items() if v not in (None, 0) or k == "times"}


def parse_rule(raw: object) -> FaultRule:
    """Validate one rule from ``POST /_sandbox/faults``."""
    if not isinstance(raw, Mapping):
        raise FaultError(f"a fault rule must be an object, got {raw!r}")
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise FaultError(f"unknown key(s) in fault rule: {', '.join(unknown)}")
    method = raw.get("method")
    if method is not None and not isinstance(method, str):
        raise FaultError("method must be a string")
    path = raw.get("path")
    try:
        pattern = None if path is None else re.compile(str(path))
    except re.error as exc:
        raise FaultError(f"path is not a regular expression: {exc}") from exc
    status = raw.get("status")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        raise FaultError(f"status must be an HTTP status code, got {status!r}")
    retry_after = raw.get("retry_after")
    if retry_after is not None:
        if isinstance(retry_after, bool) or not isinstance(retry_after, int | float | str):
            raise FaultError("retry_after must be seconds or an HTTP date string")
        retry_after = (str(int(retry_after)) if isinstance(retry_after, int | float)
                       else retry_after)
    latency = raw.get("latency_ms", 0)
    if isinstance(latency, bool) or not isinstance(latency, int | float) or latency < 0:
        raise FaultError(f"latency_ms must be a number >= 0, got {latency!r}")
    drop = raw.get("drop")
    if drop not in (None, "before", "after"):
        raise FaultError(f"drop must be 'before' or 'after', got {drop!r}")
    if status is not None and drop is not None:
        raise FaultError("a rule either answers a status or drops the connection, not both")
    repeat = raw.get("repeat", 0)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 0:
        raise FaultError(f"repeat must be a whole number >= 0, got {repeat!r}")
    if repeat and (status is not None or drop is not None):
        raise FaultError("repeat shifts a search page: it takes no status or drop")
    omit = raw.get("omit") or []
    if not isinstance(omit, list) or not all(isinstance(k, str) for k in omit):
        raise FaultError(f"omit must be a list of issue keys to leave out, got {omit!r}")
    issue_errors = raw.get("issue_errors") or []
    if not isinstance(issue_errors, list) or not all(isinstance(k, str) for k in issue_errors):
        raise FaultError(f"issue_errors must be a list of issue keys, got {issue_errors!r}")
    if (status is None and drop is None and not latency and not repeat and not omit
            and not issue_errors):
        raise FaultError("a rule needs status, latency_ms, drop, repeat, omit or issue_errors")
    if retry_after is not None and status is None:
        raise FaultError("retry_after needs a status")
    retry_after_as = raw.get("retry_after_as", "seconds")
    if retry_after_as not in ("seconds", "date"):
        raise FaultError(f"retry_after_as must be 'seconds' or 'date', got {retry_after_as!r}")
    if retry_after_as == "date" and (retry_after is None or not retry_after.isdigit()):
        raise FaultError("retry_after_as: date needs retry_after in seconds")
    times = raw.get("times")
    if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                              or times < 1):
        raise FaultError(f"times must be a positive integer, got {times!r}")
    headers = raw.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise FaultError("headers must be an object")
    echo_auth = raw.get("echo_auth", False)
    if not isinstance(echo_auth, bool):
        raise FaultError("echo_auth must be true or false")
    if echo_auth and status is None:
        raise FaultError("echo_auth needs a status")
    return FaultRule(
        method=None if method is None else method.upper(), path=pattern, status=status,
        retry_after=retry_after, retry_after_as=retry_after_as, body=raw.get("body"),
        latency_ms=int(latency), drop=drop,
        times=times, headers={str(k): str(v) for k, v in headers.items()}, repeat=repeat,
        omit=tuple(omit), issue_errors=tuple(issue_errors), echo_auth=echo_auth,
    )


def default_body(status: int) -> dict[str, Any]:
    """What Jira answers for a status when the rule gives no body."""
    messages = {
        429: "Rate limit exceeded.",
        500: "Internal server error.",
        502: "Bad gateway.",
        503: "Service unavailable. Please try again later.",
        504: "Gateway timeout.",
    }
    return {"errorMessages": [messages.get(status, f"Simulated failure ({status}).")],
            "errors": {}}


def echoed_credentials(status: int, authorization: str) -> dict[str, Any]:
    """An error body that repeats the request's credentials (``echo_auth``)."""
    decoded = ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (ValueError, binascii.Error):
            decoded = value
    else:
        decoded = value
    return {
        "errorMessages": [
            f"Request rejected by the gateway. Authorization: {authorization}",
            f"credentials {decoded} are not allowed from this network",
        ],
        "errors": {},
        "request": {"headers": {"Authorization": authorization}},
        "status": status,
    }

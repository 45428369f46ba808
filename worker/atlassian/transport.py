"""One request primitive over an atlassian-python-api client: retries, counting, typed errors.

The library's ``request(..., advanced_mode=True)`` gives us the raw response; everything
above it (which statuses are errors, what a body must look like) is decided here, once.

A write (every request that changes the site) passes the transport's :data:`WriteGate` as
the last thing before it leaves the process: after pacing, before each attempt (retries
included), after the executor journaled it. A closed gate (the leader lease's local deadline
passed, see :meth:`worker.state.lease.Fence.gate`) abandons it with :class:`WriteAbandonedError`:
nothing was sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
import requests
import structlog

from worker.atlassian import retry
from worker.atlassian.pacing import WritePacer

if TYPE_CHECKING:
    # At run time the class comes through worker.atlassian.library (see there why).
    from atlassian.rest_client import AtlassianRestAPI

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RequestCounts:
    """Requests sent and retries made by this process; subtract two snapshots for a cycle."""

    requests: int = 0
    retries: int = 0

    def __sub__(self, other: RequestCounts) -> RequestCounts:
        return RequestCounts(self.requests - other.requests, self.retries - other.retries)


@dataclass(slots=True)
class Counters:
    """Mutable per-process counters shared by every transport of one connection (and by the
    writers in flight: increments take a lock)."""

    requests: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, *, requests: int = 0, retries: int = 0) -> None:
        """Add to the counters (safe from several threads)."""
        with self._lock:
            self.requests += requests
            self.retries += retries

    def snapshot(self) -> RequestCounts:
        """The counts now, as an immutable value."""
        return RequestCounts(self.requests, self.retries)


class AtlassianHTTPError(Exception):
    """A final non-2xx answer (after retries), with Atlassian's error messages."""

    def __init__(
        self,
        *,
        status: int,
        method: str,
        path: str,
        messages: tuple[str, ...],
        field_errors: dict[str, str],
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.messages = messages
        self.field_errors = field_errors
        detail = "; ".join(messages + tuple(f"{k}: {v}" for k, v in field_errors.items()))
        super().__init__(f"{method} {path} -> {status}: {detail or 'no error message'}")


class OutcomeUnknownError(Exception):
    """A write was sent but no answer came back (connection dropped, timeout).

    It may or may not have been applied; never resend without re-reading state first.
    ``in_flight`` is True after a read timeout: the server may still be working on it, so
    even a re-read that shows nothing does not prove it will not land.
    """

    def __init__(self, *, method: str, path: str, cause: BaseException) -> None:
        self.method = method
        self.path = path
        self.in_flight = isinstance(cause, requests.ReadTimeout)
        super().__init__(f"{method} {path}: no answer ({type(cause).__name__})")


#: the last look before a write leaves the process: None to send it, else the reason not to
#: (``lease_deadline``)
WriteGate = Callable[[], "str | None"]


class WriteAbandonedError(Exception):
    """A write the gate stopped before it left the process (``reason``): nothing was sent."""

    def __init__(self, reason: str, *, method: str, path: str) -> None:
        self.reason = reason
        self.method = method
        self.path = path
        super().__init__(f"{reason}: {method} {path} not sent")


def is_write(method: str, *, idempotent: bool | None) -> bool:
    """Whether a request changes the site: any method but GET, except a POST marked
    idempotent (a search or a bulk fetch sent as POST)."""
    return method != "GET" and not (method == "POST" and idempotent)


class TransportFailedError(Exception):
    """An idempotent request got no answer even after retries."""


#: what to check when something other than Atlassian's REST API answers (exit code 2)
SITE_HINT_HTML = "is JIRA_URL the site's base URL? an SSO page answered"
SITE_HINT_NOT_FOUND = "is JIRA_URL the site's base URL? it has no Jira REST API"


class UnexpectedBodyError(Exception):
    """A 2xx answer whose body is not the JSON we asked for (a wrong URL serving HTML, an SSO
    login page): the site as configured cannot be reached, whatever answered."""


def expect_dict(value: object, what: str) -> dict[str, Any]:
    """An answer that must be a JSON object, or :class:`UnexpectedBodyError` naming ``what``."""
    if not isinstance(value, dict):
        raise UnexpectedBodyError(f"{what}: expected a JSON object, got {type(value).__name__}")
    return value


class OffSiteURLError(Exception):
    """An absolute URL (taken from a response) that is not on the configured site: never
    requested, because every request carries the bot's credentials."""


def default_port(scheme: str, port: int | None) -> int | None:
    """The port a URL really uses (80/443 when it names none)."""
    if port is not None:
        return port
    return {"http": 80, "https": 443}.get(scheme.lower())


def same_site(url: str, site_url: str) -> bool:
    """True when ``url`` has the scheme, host and port of ``site_url``."""
    a, b = urlsplit(url), urlsplit(site_url)
    return (a.scheme.lower(), (a.hostname or "").lower(), default_port(a.scheme, a.port)) == (
        b.scheme.lower(),
        (b.hostname or "").lower(),
        default_port(b.scheme, b.port),
    )


def _looks_like_html(response: requests.Response) -> bool:
    kind = response.headers.get("Content-Type", "").lower()
    return "html" in kind or response.content.lstrip()[:1] == b"<"


def _error_details(response: requests.Response) -> tuple[tuple[str, ...], dict[str, str]]:
    try:
        body = response.json()
    except ValueError:
        return ((response.reason or "").strip(),) if response.reason else (), {}
    if not isinstance(body, dict):
        return (), {}
    messages = tuple(str(m) for m in body.get("errorMessages", ()) if m)
    errors = body.get("errors")
    field_errors = {str(k): str(v) for k, v in errors.items()} if isinstance(errors, dict) else {}
    if not messages and isinstance(body.get("message"), str):
        messages = (body["message"],)
    return messages, field_errors


def answered_at(response: requests.Response) -> datetime | None:
    """The answer's ``Date`` header as an aware time (None when absent or unreadable)."""
    value = response.headers.get("Date")
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(slots=True)
class Transport:
    """Sends requests through one library client under the retry policy."""

    client: AtlassianRestAPI
    service: str  # "jira" | "confluence": names the retry log event
    counters: Counters = field(default_factory=Counters)
    policy: retry.RetryPolicy = retry.DEFAULT_POLICY
    #: paces writes (requests that are not idempotent) and holds them after a 429
    pacer: WritePacer | None = None
    #: checked by every write as it leaves (None: this process acts alone)
    gate: WriteGate | None = None
    #: the ``Date`` of the last successful answer (the site's clock, to the second)
    last_date: datetime | None = None

    def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        absolute: bool = False,
    ) -> Any:
        """Send one request; return its JSON body (None for 204).

        ``idempotent`` defaults to True for GET only. Raises :class:`AtlassianHTTPError` for a
        final non-2xx answer, :class:`OutcomeUnknownError` when a non-idempotent request got no
        answer, :class:`TransportFailedError` when an idempotent one never got one.
        """
        return self._send(method, path, params=params, body=body, idempotent=idempotent,
                          absolute=absolute)

    def upload(
        self,
        path: str,
        *,
        files: dict[str, Any],
        form: dict[str, str],
        headers: dict[str, str],
        method: str = "POST",
    ) -> Any:
        """Send a multipart upload (never retried blindly: it is not idempotent).

        ``files`` is ``{"file": (name, bytes, media type)}``; ``headers`` replace the client's
        JSON ``Content-Type`` so that ``requests`` sets the multipart boundary. Errors as
        :meth:`call`.
        """
        return self._send(method, path, files=files, form=form, headers=headers,
                          idempotent=False)

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotent: bool | None = None,
        absolute: bool = False,
        files: dict[str, Any] | None = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        safe = method == "GET" if idempotent is None else idempotent
        if absolute and not same_site(path, self.client.url):
            where = urlsplit(path)
            log.error(f"{self.service}.link_refused", host=where.hostname, port=where.port)
            raise OffSiteURLError(
                f"{method}: refused a URL off the configured site ({where.scheme}://"
                f"{where.hostname}:{default_port(where.scheme, where.port)})"
            )

        pacer = None if safe else self.pacer
        gated = is_write(method, idempotent=idempotent)

        def send() -> requests.Response:
            if pacer is not None:
                pacer.acquire()
            # The last moment before the bytes leave: after pacing, journaling and any wait
            # before this attempt. Whatever came before may have taken long.
            gate = self.gate
            if gated and gate is not None and (reason := gate()) is not None:
                log.warning(f"{self.service}.write_abandoned", method=method, path=path,
                            reason=reason)
                raise WriteAbandonedError(reason, method=method, path=path)
            self.counters.count(requests=1)
            response: requests.Response = self.client.request(
                method,
                path,
                # A dict: the library JSON-encodes it once (a str would be encoded twice);
                # with ``files`` it sends ``data`` as multipart form fields instead.
                data=form if files is not None else body,
                params=params,
                absolute=absolute,
                advanced_mode=True,
                files=files,
                headers=headers,
            )
            if pacer is not None and response.status_code in retry.REFUSED_STATUSES:
                pacer.refused(
                    retry_after_s=retry.parse_retry_after(response.headers.get("Retry-After")),
                    reason=response.headers.get("RateLimit-Reason"),
                )
            return response

        def counted_retry() -> None:
            self.counters.count(retries=1)

        try:
            response = retry.call_with_retry(
                send,
                service=self.service,
                method=method,
                path=path,
                idempotent=safe,
                policy=self.policy,
                on_retry=counted_retry,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            if safe:
                raise TransportFailedError(f"{method} {path}: {type(exc).__name__}") from exc
            raise OutcomeUnknownError(method=method, path=path, cause=exc) from exc
        if not 200 <= response.status_code < 300:
            messages, field_errors = _error_details(response)
            raise AtlassianHTTPError(
                status=response.status_code,
                method=method,
                path=path,
                messages=messages,
                field_errors=field_errors,
            )
        self.last_date = answered_at(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            # orjson decodes a 600 kB search page in two thirds of json's time; it reads the
            # bytes as UTF-8, which is what Atlassian sends (and the library assumes).
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            if _looks_like_html(response):
                raise UnexpectedBodyError(
                    f"{method} {path}: answer is an HTML page, not JSON ({SITE_HINT_HTML})"
                ) from exc
            raise UnexpectedBodyError(f"{method} {path}: answer is not JSON") from exc

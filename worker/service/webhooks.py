"""The signed webhook fast path's front door: which requests to ``/webhooks/jira`` count.

Jira (Cloud, or Data Center 10 and later) sends an admin webhook's events signed when the
webhook was saved with a secret: ``X-Hub-Signature: sha256=<hex>``, the HMAC-SHA256 of the raw
body keyed on the secret. An event is only a hint that some tickets changed: what is kept of
it is the issue keys, which a cycle then reads the usual way and plans with the full policy
(:mod:`worker.service.hints`). Nothing else in the body is trusted, so a lost or forged
event changes nothing but how soon the bot looks.

A request is accepted (202) only when every check passes, in this order, each refusal counted
under its ``result``:

====================  ======  ====================================================
result                status  why
====================  ======  ====================================================
``method``            405     not a POST
``standby``           503     this replica does not hold the leader lease (``Retry-After``:
                              Jira sends it again, maybe to the leader)
``rate_limited``      429     more than the rate bound (a token bucket; ``Retry-After``)
``content_type``      415     not ``application/json``
``too_large``         413     the body is over the size bound (not read past it)
``unsigned``          401     no ``X-Hub-Signature``
``bad_signature``     401     not ``sha256=`` + the HMAC of this body with the secret
``malformed``         400     not a JSON object with Jira's ``timestamp`` (Unix ms)
``stale``             401     ``timestamp`` outside the replay window of this clock
``duplicate``         200     this exact body was accepted before (a replay or a retry)
``ignored``           200     signed and fresh, but no issue event this bot uses
====================  ======  ====================================================

The replay check keys on the body's digest, not on ``X-Atlassian-Webhook-Identifier``: only
the body is signed, so a header can be changed by whoever replays it. Digests are kept for
the replay window (older bodies are refused as stale anyway), at most
``rate * window`` of them. The secret, the signature and the body are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import structlog
from werkzeug.wrappers import Request, Response

log = structlog.get_logger(__name__)

Result = Literal["accepted", "method", "standby", "rate_limited", "content_type",
                 "too_large", "unsigned", "bad_signature", "malformed", "stale", "duplicate",
                 "ignored"]
RESULTS: tuple[Result, ...] = ("accepted", "method", "standby", "rate_limited", "content_type",
                               "too_large", "unsigned", "bad_signature", "malformed", "stale",
                               "duplicate", "ignored")
_STATUS: dict[Result, int] = {
    "accepted": 202, "method": 405, "standby": 503, "rate_limited": 429, "content_type": 415,
    "too_large": 413, "unsigned": 401, "bad_signature": 401, "malformed": 400, "stale": 401,
    "duplicate": 200, "ignored": 200,
}
#: the events whose issue the bot may have to act on (others, e.g. a deletion, are ignored)
ISSUE_EVENTS = frozenset({"jira:issue_created", "jira:issue_updated", "comment_created",
                          "comment_updated"})
#: a Jira issue key (project key, dash, number)
_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,254}-[1-9][0-9]{0,17}")
SIGNATURE_HEADER = "X-Hub-Signature"
IDENTIFIER_HEADER = "X-Atlassian-Webhook-Identifier"

#: what a standby asks Jira to wait before sending the event again
STANDBY_RETRY_S = 5
DEFAULT_MAX_BODY_BYTES = 1 << 20
DEFAULT_RATE_PER_S = 20.0
DEFAULT_BURST = 100
DEFAULT_REPLAY_WINDOW_S = 600.0


@dataclass(frozen=True, slots=True)
class GateSettings:
    """The bounds of the front door (the secret is passed on its own)."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    rate_per_s: float = DEFAULT_RATE_PER_S
    burst: int = DEFAULT_BURST
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the front door says about one request."""

    result: Result
    #: the issue key the event names (accepted only)
    issue: str | None = None
    #: why, for the log and the answer (never the secret, the signature or the body)
    reason: str = ""
    retry_after_s: int | None = None

    @property
    def status(self) -> int:
        """The HTTP status to answer."""
        return _STATUS[self.result]


def expected_signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex>``: what Jira sends in ``X-Hub-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def signature_matches(secret: bytes, body: bytes, header: str) -> bool:
    """Whether ``header`` is the signature of ``body`` (constant time)."""
    return hmac.compare_digest(expected_signature(secret, body).encode(),
                               header.strip().encode("utf-8", errors="replace"))


def event_issue(payload: Mapping[str, object]) -> tuple[str | None, str]:
    """The issue key an event names, or None with the reason it is of no use to the bot."""
    name = payload.get("webhookEvent")
    if name not in ISSUE_EVENTS:
        return None, f"not an issue event the bot uses ({str(name)[:40]!r})"
    issue = payload.get("issue")
    key = issue.get("key") if isinstance(issue, Mapping) else None
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        return None, "the event names no readable issue key"
    return key, ""


def is_json(content_type: str | None) -> bool:
    """``application/json`` with or without parameters (Jira adds ``charset=UTF-8``)."""
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


class TokenBucket:
    """``rate_per_s`` requests a second on average, ``burst`` at once (thread-safe)."""

    def __init__(self, *, rate_per_s: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        """One request's token (False: over the bound)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class SeenBodies:
    """Digests of accepted bodies within the replay window, oldest first (thread-safe)."""

    def __init__(self, *, window_s: float, max_entries: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._window_s = window_s
        self._max = max(1, max_entries)
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, digest: bytes) -> bool:
        """Remember ``digest``; False when it was already seen within the window."""
        with self._lock:
            now = self._clock()
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at <= self._window_s and len(self._seen) < self._max:
                    break
                del self._seen[oldest]
            if digest in self._seen:
                return False
            self._seen[digest] = now
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


class WebhookGate:
    """Checks each request against the secret and the bounds (see the module docstring)."""

    def __init__(self, secret: str, settings: GateSettings = GateSettings(), *,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not secret:
            raise ValueError("a webhook secret is required")
        self._secret = secret.encode()
        self.settings = settings
        self._clock = clock
        self._bucket = TokenBucket(rate_per_s=settings.rate_per_s, burst=settings.burst,
                                   clock=monotonic)
        self._seen = SeenBodies(
            window_s=2 * settings.replay_window_s,
            max_entries=int(settings.rate_per_s * 2 * settings.replay_window_s) + settings.burst,
            clock=monotonic)

    def admit(self, *, method: str, content_type: str | None,
              content_length: int | None) -> Verdict | None:
        """The checks that need no body (None: read the body, at most ``max_body_bytes`` + 1
        bytes, and call :meth:`check`)."""
        if method != "POST":
            return Verdict("method", reason="only POST")
        if not self._bucket.take():
            return Verdict("rate_limited", reason="over the rate bound",
                           retry_after_s=max(1, int(1 / max(self.settings.rate_per_s, 1e-3))))
        if not is_json(content_type):
            return Verdict("content_type", reason="the body must be application/json")
        if content_length is not None and content_length > self.settings.max_body_bytes:
            return Verdict("too_large", reason=f"over {self.settings.max_body_bytes} bytes")
        return None

    def check(self, body: bytes, signature: str | None) -> Verdict:
        """The checks on the body read (see the module docstring for the order)."""
        if len(body) > self.settings.max_body_bytes:
            return Verdict("too_large", reason=f"over {self.settings.max_body_bytes} bytes")
        if not signature:
            return Verdict("unsigned", reason=f"no {SIGNATURE_HEADER} header")
        if not signature_matches(self._secret, body, signature):
            return Verdict("bad_signature", reason="the signature does not match the body")
        try:
            payload = json.loads(body)
        except ValueError:
            return Verdict("malformed", reason="the body is not JSON")
        if not isinstance(payload, dict):
            return Verdict("malformed", reason="the body is not a JSON object")
        stamp = payload.get("timestamp")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool):
            return Verdict("malformed", reason="no numeric timestamp")
        age_s = self._clock() - stamp / 1000
        if abs(age_s) > self.settings.replay_window_s:
            return Verdict("stale", reason=f"sent {round(age_s)} s from now, outside the "
                           f"{round(self.settings.replay_window_s)} s window")
        if not self._seen.first_time(hashlib.sha256(body).digest()):
            return Verdict("duplicate", reason="this body was accepted before")
        key, why = event_issue(payload)
        if key is None:
            return Verdict("ignored", reason=why)
        return Verdict("accepted", issue=key)


class WebhookEndpoint:
    """``POST /webhooks/jira``: the front door's verdict, the hinted key queued, counted.

    ``queue`` takes the accepted issue keys (:meth:`worker.hints.HintQueue.add`);
    ``count`` is told each request's result (the metric).
    """

    def __init__(self, gate: WebhookGate, queue: Callable[[list[str]], bool], *,
                 count: Callable[[Result], object] | None = None,
                 standby: Callable[[], bool] = lambda: False) -> None:
        self.gate = gate
        self._queue = queue
        self._count = count
        #: True while this replica cannot run cycles (another one holds the lease)
        self._standby = standby

    def __call__(self, request: Request) -> Response:
        """Answer one request (never raises for what a request holds)."""
        gate = self.gate
        verdict = gate.admit(method=request.method,
                             content_type=request.headers.get("Content-Type"),
                             content_length=request.content_length)
        if verdict is None and self._standby():
            # Before the body is read and remembered: Jira's retry may reach the leader.
            verdict = Verdict("standby", reason="another replica holds the leader lease",
                              retry_after_s=STANDBY_RETRY_S)
        if verdict is None:
            # Read no more than the bound allows, however long the body is.
            body = request.stream.read(gate.settings.max_body_bytes + 1)
            verdict = gate.check(body, request.headers.get(SIGNATURE_HEADER))
        answer: dict[str, object] = {"status": verdict.result}
        if verdict.result == "accepted" and verdict.issue is not None:
            answer["queued"] = self._queue([verdict.issue])
        if self._count is not None:
            self._count(verdict.result)
        identifier = (request.headers.get(IDENTIFIER_HEADER) or "")[:80] or None
        if verdict.result == "accepted":
            log.info("webhook.accepted", issue=verdict.issue, identifier=identifier)
        elif verdict.result in ("duplicate", "ignored"):
            log.info(f"webhook.{verdict.result}", reason=verdict.reason, identifier=identifier)
        else:
            answer["reason"] = verdict.reason
            log.warning("webhook.refused", result=verdict.result, reason=verdict.reason,
                        identifier=identifier, remote=request.remote_addr)
        response = Response(json.dumps(answer), status=verdict.status,
                            content_type="application/json")
        if verdict.retry_after_s is not None:
            response.headers["Retry-After"] = str(verdict.retry_after_s)
        return response

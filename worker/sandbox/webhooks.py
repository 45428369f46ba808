"""Admin webhooks the sandbox keeps and delivers, signed as Jira signs them.

An admin registers a webhook (a URL, the events, a JQL filter, a secret) through Jira's admin
REST API, ``POST /rest/webhooks/1.0/webhook`` (Cloud and Data Center alike; Cloud's
``/rest/api/3/webhook`` registers *dynamic* webhooks for Connect and OAuth 2.0 apps only, and
answers an API-token caller 403), or through the control API (``POST /_sandbox/webhooks``).

Each change made through the REST API is turned into Jira's events by
:mod:`worker.sandbox.webhook_events`; this module queues them and a delivery thread POSTs
them outside the site lock, one at a time in the order of the changes, with the headers Jira
sends: ``Content-Type: application/json; charset=UTF-8``, ``X-Atlassian-Webhook-Identifier``
(one per event) and, for a webhook saved with a secret, ``X-Hub-Signature: sha256=<hex>``
(HMAC-SHA256 of the raw body keyed on the secret). Every delivery is logged for tests
(``GET /_sandbox/webhooks``). Not simulated: Jira's retries of a failed delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import queue
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests

#: the events an admin webhook may subscribe to that the sandbox sends
EVENTS = ("jira:issue_created", "jira:issue_updated", "comment_created")
#: the JQL filter's key in Jira's admin webhook body
JQL_FILTER = "issue-related-events-section"
#: deliveries kept in the log (oldest dropped first)
DELIVERY_LOG_SIZE = 10_000
DELIVERY_TIMEOUT_S = 10.0


class WebhookError(ValueError):
    """A registration body Jira would refuse (answered 400 with the message)."""


@dataclass(frozen=True, slots=True)
class Webhook:
    """One registered admin webhook."""

    id: int
    name: str
    url: str
    events: tuple[str, ...]
    jql: str | None
    secret: str | None = field(repr=False)
    exclude_body: bool = False
    enabled: bool = True

    def to_json(self, base: str) -> dict[str, Any]:
        """As Jira's admin API shows it (the secret is never shown back)."""
        return {
            "self": f"{base}/rest/webhooks/1.0/webhook/{self.id}",
            "name": self.name, "url": self.url, "events": list(self.events),
            "filters": {JQL_FILTER: self.jql or ""}, "excludeBody": self.exclude_body,
            "enabled": self.enabled,
        }


def parse_webhook(raw: object, *, webhook_id: int) -> Webhook:
    """A webhook from an admin registration body; :class:`WebhookError` when Jira would
    refuse it."""
    if not isinstance(raw, Mapping):
        raise WebhookError("The request body must be a JSON object.")
    url = raw.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WebhookError("The webhook needs a URL (http or https).")
    events = raw.get("events")
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise WebhookError("The webhook needs a list of events.")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookError(f"Events the sandbox does not send: {', '.join(unknown)}.")
    filters = raw.get("filters") or {}
    jql = filters.get(JQL_FILTER) if isinstance(filters, Mapping) else None
    if jql is not None and not isinstance(jql, str):
        raise WebhookError("The JQL filter must be a string.")
    secret = raw.get("secret")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise WebhookError("The secret must be a non-empty string.")
    name = raw.get("name")
    return Webhook(
        id=webhook_id, name=str(name) if name else f"webhook {webhook_id}", url=url,
        events=tuple(dict.fromkeys(events)), jql=jql or None, secret=secret,
        exclude_body=bool(raw.get("excludeBody", False)), enabled=bool(raw.get("enabled", True)),
    )


def signature(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature`` value Jira sends for ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class Event:
    """One event ready to send: to which webhook, its name, its issue and its body."""

    webhook: Webhook
    name: str
    issue: str
    body: bytes


@dataclass(slots=True)
class Delivery:
    """What became of one event (the log ``GET /_sandbox/webhooks`` serves)."""

    id: str
    webhook: int
    event: str
    issue: str
    #: when the change was made, in Unix seconds by the machine's clock
    queued_unix_s: float
    sent_unix_s: float | None = None
    status: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {"id": self.id, "webhook": self.webhook, "event": self.event,
                "issue": self.issue, "queued_unix_s": self.queued_unix_s,
                "sent_unix_s": self.sent_unix_s, "status": self.status, "error": self.error}


class WebhookHub:
    """The registered webhooks and the thread that delivers their events (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: dict[int, Webhook] = {}
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(1)
        self._queue: queue.Queue[tuple[Event, Delivery] | None] = queue.Queue()
        self._log: deque[Delivery] = deque(maxlen=DELIVERY_LOG_SIZE)
        self._thread: threading.Thread | None = None
        self._http = requests.Session()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0

    # ------------------------------------------------------------------ registration

    def register(self, raw: object) -> Webhook:
        """Register a webhook from an admin body; raises :class:`WebhookError`."""
        with self._lock:
            hook = parse_webhook(raw, webhook_id=next(self._ids))
            self._hooks[hook.id] = hook
        return hook

    def get(self, webhook_id: int) -> Webhook | None:
        """The webhook by id (None when unknown)."""
        with self._lock:
            return self._hooks.get(webhook_id)

    def delete(self, webhook_id: int) -> bool:
        """Remove a webhook; False when there was none."""
        with self._lock:
            return self._hooks.pop(webhook_id, None) is not None

    def webhooks(self) -> list[Webhook]:
        """Every registered webhook, oldest first."""
        with self._lock:
            return list(self._hooks.values())

    def listening(self) -> bool:
        """Whether any enabled webhook is registered (else no event is even built)."""
        with self._lock:
            return any(h.enabled for h in self._hooks.values())

    def clear(self) -> None:
        """Forget every webhook and the delivery log (the site was reset)."""
        with self._lock:
            self._hooks.clear()
            self._log.clear()

    # ------------------------------------------------------------------ delivery

    def send(self, events: Sequence[Event]) -> None:
        """Queue ``events`` for delivery, in order (the caller may hold the site lock)."""
        if not events:
            return
        now = time.time()
        with self._lock:
            for event in events:
                delivery = Delivery(f"sandbox-{next(self._event_ids)}", event.webhook.id,
                                    event.name, event.issue, queued_unix_s=now)
                self._log.append(delivery)
                self._pending += 1
                self._idle.clear()
                self._queue.put((event, delivery))
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver_all, name="sandbox-webhooks",
                                                daemon=True)
                self._thread.start()

    def deliveries(self) -> list[Delivery]:
        """The delivery log, oldest first."""
        with self._lock:
            return list(self._log)

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until every queued event was sent (True) or ``timeout_s`` passed (False)."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        """Stop the delivery thread (events still queued are dropped)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=DELIVERY_TIMEOUT_S)
        self._http.close()

    def _deliver_all(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            event, delivery = item
            try:
                self._deliver(event, delivery)
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    def _deliver(self, event: Event, delivery: Delivery) -> None:
        hook = event.webhook
        body = b"" if hook.exclude_body else event.body
        headers = {"Content-Type": "application/json; charset=UTF-8",
                   "X-Atlassian-Webhook-Identifier": delivery.id,
                   "User-Agent": "Atlassian Webhook HTTP Client"}
        if hook.secret is not None:
            headers["X-Hub-Signature"] = signature(hook.secret, body)
        delivery.sent_unix_s = time.time()
        try:
            answer = self._http.post(hook.url, data=body, headers=headers,
                                     timeout=DELIVERY_TIMEOUT_S)
        except requests.RequestException as exc:
            delivery.error = type(exc).__name__
            return
        delivery.status = answer.status_code


def now_ms() -> int:
    """Jira's ``timestamp``: when the event was sent, in Unix milliseconds. The machine's
    clock, not the site's: a receiver checks it against its own clock (replay window)."""
    return int(datetime.now(UTC).timestamp() * 1000)

"""The webhook front door: only signed, fresh, bounded, first-seen issue events get in."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from worker.service.hints import HintQueue
from worker.service.webhooks import (
    GateSettings,
    SeenBodies,
    TokenBucket,
    WebhookGate,
    event_issue,
    expected_signature,
    is_json,
)

SECRET = "gate-secret-value"
NOW_S = 1_800_000_000.0


def _body(**overrides: Any) -> bytes:
    payload: dict[str, Any] = {"timestamp": int(NOW_S * 1000), "webhookEvent":
                               "jira:issue_updated", "issue": {"key": "ACME-1"}}
    payload.update(overrides)
    return json.dumps(payload).encode()


def _gate(**settings: Any) -> WebhookGate:
    return WebhookGate(SECRET, GateSettings(**settings), clock=lambda: NOW_S)


def _signed(body: bytes) -> str:
    return expected_signature(SECRET.encode(), body)


@pytest.mark.parametrize(("body", "signature", "result", "status"), [
    (_body(), "good", "accepted", 202),
    (_body(), None, "unsigned", 401),
    (_body(), "sha256=" + "0" * 64, "bad_signature", 401),
    (_body(), "sha1=abc", "bad_signature", 401),
    (b"not json", "good", "malformed", 400),
    (b"[1, 2]", "good", "malformed", 400),
    (_body(timestamp="yesterday"), "good", "malformed", 400),
    (_body(timestamp=int((NOW_S - 601) * 1000)), "good", "stale", 401),
    (_body(timestamp=int((NOW_S + 601) * 1000)), "good", "stale", 401),
    (_body(webhookEvent="jira:issue_deleted"), "good", "ignored", 200),
    (_body(issue={"key": "not a key"}), "good", "ignored", 200),
    (_body(issue="ACME-1"), "good", "ignored", 200),
])
def test_checks_on_the_body(body: bytes, signature: str | None, result: str,
                            status: int) -> None:
    """Each check refuses with its result and status; only a good one is accepted."""
    verdict = _gate().check(body, _signed(body) if signature == "good" else signature)
    assert (verdict.result, verdict.status) == (result, status)
    assert (verdict.issue == "ACME-1") == (result == "accepted")


def test_signed_for_another_body_is_refused() -> None:
    """A signature is good for its own body only (a changed key is a forgery)."""
    signature = _signed(_body())
    assert _gate().check(_body(issue={"key": "ACME-2"}), signature).result == "bad_signature"


def test_replay_is_a_duplicate_whatever_the_headers() -> None:
    """The same body twice: the second is a duplicate (the digest of the signed body counts,
    not the identifier header), and nothing is accepted twice."""
    gate = _gate()
    body = _body()
    assert gate.check(body, _signed(body)).result == "accepted"
    assert gate.check(body, _signed(body)).result == "duplicate"
    assert gate.check(body, _signed(body)).status == 200


@pytest.mark.parametrize(("method", "content_type", "length", "result"), [
    ("POST", "application/json", 10, None),
    ("POST", "application/json; charset=UTF-8", 10, None),
    ("GET", "application/json", 10, "method"),
    ("POST", "text/plain", 10, "content_type"),
    ("POST", None, 10, "content_type"),
    ("POST", "application/x-www-form-urlencoded", 10, "content_type"),
    ("POST", "application/json", 2_000, "too_large"),
    ("POST", "application/json", None, None),
])
def test_checks_before_the_body(method: str, content_type: str | None, length: int | None,
                                result: str | None) -> None:
    """Method, content type and declared size are checked before the body is read."""
    verdict = _gate(max_body_bytes=1_000).admit(method=method, content_type=content_type,
                                                content_length=length)
    assert (None if verdict is None else verdict.result) == result


def test_body_over_the_bound_without_a_length() -> None:
    """A body over the bound is refused even when no Content-Length announced it."""
    body = _body(pad="x" * 2_000)
    assert _gate(max_body_bytes=1_000).check(body, _signed(body)).result == "too_large"


def test_rate_bound() -> None:
    """Past the burst, requests are refused (429 with Retry-After) until tokens refill."""
    now = [0.0]
    bucket = TokenBucket(rate_per_s=2.0, burst=3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert [bucket.take(), bucket.take()] == [True, False]
    gate = _gate(rate_per_s=1.0, burst=1)
    assert gate.admit(method="POST", content_type="application/json",
                      content_length=1) is None
    refused = gate.admit(method="POST", content_type="application/json", content_length=1)
    assert refused is not None
    assert refused.status == 429
    assert refused.retry_after_s == 1


def test_seen_bodies_forget_after_the_window_and_stay_bounded() -> None:
    """Digests older than the window are dropped; at most ``max_entries`` are kept."""
    now = [0.0]
    seen = SeenBodies(window_s=10, max_entries=3, clock=lambda: now[0])
    assert seen.first_time(b"a")
    assert not seen.first_time(b"a")
    now[0] = 11
    assert seen.first_time(b"a")
    for digest in (b"b", b"c", b"d", b"e"):
        seen.first_time(digest)
    assert len(seen) <= 3


@pytest.mark.parametrize(("content_type", "ok"), [
    ("application/json", True), ("Application/JSON; charset=UTF-8", True),
    ("application/jsonp", False), ("", False),
])
def test_is_json(content_type: str, ok: bool) -> None:
    """Only application/json, with or without parameters."""
    assert is_json(content_type) is ok


@pytest.mark.parametrize(("event", "key"), [
    ("jira:issue_created", "ACME-1"), ("jira:issue_updated", "ACME-1"),
    ("comment_created", "ACME-1"), ("comment_updated", "ACME-1"),
    ("jira:issue_deleted", None), ("sprint_started", None),
])
def test_issue_events(event: str, key: str | None) -> None:
    """Only issue and comment events name a ticket to look at."""
    assert event_issue({"webhookEvent": event, "issue": {"key": "ACME-1"}})[0] == key


def test_queue_coalesces_a_flood_into_few_batches() -> None:
    """500 keys added in a burst run in one or two batches, each key once, none twice at
    once; beyond the bound keys are dropped and overflow is called."""
    batches: list[tuple[str, ...]] = []
    running = threading.Lock()
    overflows: list[int] = []

    def run(keys: tuple[str, ...]) -> None:
        assert running.acquire(blocking=False), "two batches at once"
        batches.append(keys)
        time.sleep(0.05)
        running.release()

    queue = HintQueue(run, coalesce_s=0.2, max_keys=300,
                      overflow=lambda: overflows.append(1)).start()
    try:
        for n in range(500):
            queue.add([f"ACME-{n % 400 + 1}"])
        deadline = time.monotonic() + 5
        while not queue.idle() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        queue.stop()
    assert 1 <= len(batches) <= 2
    assert len(batches[0]) == 300
    assert len(set(batches[0])) == 300
    assert queue.dropped == 100  # keys 301-400; the repeats of 1-100 were waiting already
    assert overflows == [1]

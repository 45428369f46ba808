"""The retry policy's decisions: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from structlog.testing import capture_logs

from worker.atlassian import retry
from worker.atlassian.retry import (
    RetryPolicy,
    call_with_retry,
    compute_wait_s,
    is_retryable,
    parse_retry_after,
)


def response(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    """A bare response with a status and headers (what the library hands back)."""
    out = requests.Response()
    out.status_code = status
    out.headers.update(headers or {})
    out._content = b"{}"
    return out


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the sleeps instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(retry, "sleep", recorded.append)
    monkeypatch.setattr(retry, "jitter", random.Random(7))
    return recorded


NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("2", 2.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("Mon, 02 Nov 2026 09:00:30 GMT", 30.0),
        ("Mon, 02 Nov 2026 08:59:00 GMT", 0.0),
        ("soon", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read as delta seconds or an HTTP date, never negative."""
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("attempt", "idempotent", "expected"),
    [
        (response(429), False, True),
        (response(503), False, True),
        (response(500), True, True),
        (response(502), True, True),
        (response(500), False, False),
        (response(504), False, False),
        (response(400), True, False),
        (response(403), True, False),
        (response(404), True, False),
        (response(409), True, False),
        (requests.ConnectionError("reset"), True, True),
        (requests.ConnectionError("reset"), False, False),
        (requests.ReadTimeout("slow"), True, True),
        (requests.ReadTimeout("slow"), False, False),
        (ValueError("bug"), True, False),
    ],
)
def test_is_retryable(
    attempt: requests.Response | BaseException, idempotent: bool, expected: bool
) -> None:
    """429/503 always; other 5xx and transport errors only for idempotent requests."""
    assert is_retryable(attempt, idempotent=idempotent) is expected


@pytest.mark.parametrize(
    ("attempt", "number", "low", "high"),
    [
        (response(429, {"Retry-After": "2"}), 1, 2.0, 2.2),
        (response(503, {"Retry-After": "3"}), 4, 3.0, 3.3),
        (response(429, {"Retry-After": "3600"}), 1, 60.0, 66.0),
        (
            response(
                429,
                {
                    "Retry-After": "Mon, 02 Nov 2026 09:00:10 GMT",
                    "Date": "Mon, 02 Nov 2026 09:00:00 GMT",
                },
            ),
            1,
            10.0,
            11.0,
        ),
        (response(500), 1, 0.25, 0.5),
        (response(500), 3, 1.0, 2.0),
        (response(500), 10, 10.0, 20.0),
        (requests.ConnectionError("x"), 2, 0.5, 1.0),
    ],
)
def test_compute_wait(
    attempt: requests.Response | BaseException, number: int, low: float, high: float
) -> None:
    """Retry-After wins (capped at 60 s, up to 10 % jitter); otherwise jittered exponential."""
    for seed in range(20):
        wait = compute_wait_s(
            attempt, attempt_number=number, policy=RetryPolicy(), rng=random.Random(seed)
        )
        assert low <= wait <= high


def test_retries_429_storm_honouring_retry_after(waits: list[float]) -> None:
    """Three 429s with Retry-After: 2 are waited out (computed, not slept), then success."""
    answers = [response(429, {"Retry-After": "2"})] * 3 + [response(204)]
    calls = iter(answers)
    with capture_logs() as logs:
        result = call_with_retry(
            lambda: next(calls), service="jira", method="PUT", path="/issue/X-1", idempotent=False
        )
    assert result.status_code == 204
    assert len(waits) == 3
    assert all(2.0 <= w <= 2.2 for w in waits)
    events = [e for e in logs if e["event"] == "jira.retry"]
    assert [e["attempt"] for e in events] == [1, 2, 3]
    assert {e["status"] for e in events} == {429}
    assert {e["method"] for e in events} == {"PUT"}


def test_write_5xx_is_not_retried(waits: list[float]) -> None:
    """A 500 on a write is returned at once: it may have been applied."""
    calls = iter([response(500), response(204)])
    result = call_with_retry(
        lambda: next(calls), service="jira", method="PUT", path="/issue/X-1", idempotent=False
    )
    assert result.status_code == 500
    assert waits == []


def test_write_connection_error_is_raised_not_resent(waits: list[float]) -> None:
    """A dropped connection on a write is raised to the caller, who re-reads first."""
    sent: list[int] = []

    def send() -> requests.Response:
        sent.append(1)
        raise requests.ConnectionError("dropped")

    with pytest.raises(requests.ConnectionError):
        call_with_retry(send, service="jira", method="PUT", path="/issue/X-1", idempotent=False)
    assert sent == [1]
    assert waits == []


def test_attempts_are_bounded(waits: list[float]) -> None:
    """After max_attempts the last answer comes back (no endless loop)."""
    sent: list[int] = []

    def send() -> requests.Response:
        sent.append(1)
        return response(503)

    result = call_with_retry(
        send,
        service="confluence",
        method="GET",
        path="/x",
        idempotent=True,
        policy=RetryPolicy(max_attempts=4),
    )
    assert result.status_code == 503
    assert len(sent) == 4
    assert len(waits) == 3


def test_total_wait_is_bounded(waits: list[float]) -> None:
    """A Retry-After that would push the total wait past the bound stops retrying."""
    sent: list[int] = []

    def send() -> requests.Response:
        sent.append(1)
        return response(429, {"Retry-After": "50"})

    result = call_with_retry(
        send,
        service="jira",
        method="GET",
        path="/x",
        idempotent=True,
        policy=RetryPolicy(max_attempts=10, max_total_wait_s=120.0),
    )
    assert result.status_code == 429
    assert sum(waits) <= 120.0
    assert len(sent) == len(waits) + 1 == 3


def test_read_timeouts_retried_then_raised(waits: list[float]) -> None:
    """Timeouts on reads are retried within the bound, then the error surfaces."""
    sent: list[int] = []

    def send() -> requests.Response:
        sent.append(1)
        raise requests.ReadTimeout("slow")

    with pytest.raises(requests.ReadTimeout):
        call_with_retry(
            send,
            service="jira",
            method="GET",
            path="/x",
            idempotent=True,
            policy=RetryPolicy(max_attempts=3),
        )
    assert len(sent) == 3
    assert len(waits) == 2

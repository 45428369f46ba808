"""The one retry policy for every Atlassian request (tenacity).

What is retried, and why:

* 429 and 503 on any method: Jira refused the request without applying it, and says when to
  come back (``Retry-After``, in seconds or as an HTTP date). We wait at least that long,
  capped, because retrying earlier only fails again.
* Other 5xx, connection errors and timeouts only on idempotent requests (GET, and the search
  POST): a write that may have been applied is never resent from here; the executor re-reads
  our issue property first.
* Everything else is returned to the caller on the first answer.

Attempts and total waiting time are both bounded. Each retry logs one ``jira.retry`` /
``confluence.retry`` event. Tests never sleep: they swap :data:`sleep` (module level) for a
recorder and assert the computed waits.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import structlog
from tenacity import RetryCallState, Retrying

log = structlog.get_logger(__name__)

#: Swapped by tests (``monkeypatch.setattr(retry, "sleep", waits.append)``) so nothing sleeps.
sleep: Callable[[float], None] = time.sleep

#: Jitter source; tests may seed or replace it.
jitter: random.Random = random.Random()

#: Statuses where the server tells us it did not apply the request and we may come back.
REFUSED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for one request's retries. The defaults suit a worker that runs every few minutes."""

    max_attempts: int = 6
    max_total_wait_s: float = 120.0
    retry_after_cap_s: float = 60.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0


DEFAULT_POLICY = RetryPolicy()

Attempt = requests.Response | BaseException


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date), or None.

    ``now`` is the reference for an HTTP date: the response's own ``Date`` header when there
    is one (so a skewed worker clock changes nothing), else the worker's clock.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def _response_date(response: requests.Response) -> datetime | None:
    raw = response.headers.get("Date")
    if not raw:
        return None
    try:
        parsed = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def is_retryable(attempt: Attempt, *, idempotent: bool) -> bool:
    """Whether this answer (or transport error) is worth another attempt."""
    if isinstance(attempt, requests.Response):
        status = attempt.status_code
        if status in REFUSED_STATUSES:
            return True
        return idempotent and 500 <= status < 600
    if isinstance(attempt, requests.ConnectionError | requests.Timeout):
        return idempotent
    return False


def compute_wait_s(
    attempt: Attempt, *, attempt_number: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """How long to wait before attempt ``attempt_number + 1``.

    ``Retry-After`` wins when present (capped, plus up to 10 % jitter so many workers do not
    return in the same instant); otherwise exponential backoff with "equal jitter": half the
    step fixed, half random.
    """
    if isinstance(attempt, requests.Response):
        after = parse_retry_after(attempt.headers.get("Retry-After"), now=_response_date(attempt))
        if after is not None:
            capped = min(after, policy.retry_after_cap_s)
            return float(capped + rng.uniform(0.0, 0.1 * capped))
    step = min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (attempt_number - 1))
    return float(step / 2 + rng.uniform(0.0, step / 2))


def _attempt_of(state: RetryCallState) -> Attempt:
    outcome = state.outcome
    assert outcome is not None  # tenacity calls us only after an attempt
    exc = outcome.exception()
    if exc is not None:
        return exc
    result = outcome.result()
    assert isinstance(result, requests.Response)
    return result


def call_with_retry(
    send: Callable[[], requests.Response],
    *,
    service: str,
    method: str,
    path: str,
    idempotent: bool,
    policy: RetryPolicy = DEFAULT_POLICY,
    on_retry: Callable[[], None] | None = None,
) -> requests.Response:
    """Call ``send`` under the retry policy; return the last response.

    A non-retryable transport error is raised unchanged; after the bounds are reached the
    last response is returned (or the last transport error raised) for the caller to judge.
    """

    def should_retry(state: RetryCallState) -> bool:
        return is_retryable(_attempt_of(state), idempotent=idempotent)

    def wait(state: RetryCallState) -> float:
        return compute_wait_s(
            _attempt_of(state), attempt_number=state.attempt_number, policy=policy, rng=jitter
        )

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        return state.idle_for + state.upcoming_sleep > policy.max_total_wait_s

    def before_sleep(state: RetryCallState) -> None:
        attempt = _attempt_of(state)
        status = attempt.status_code if isinstance(attempt, requests.Response) else None
        error = None if isinstance(attempt, requests.Response) else type(attempt).__name__
        log.warning(
            f"{service}.retry",
            method=method,
            path=path,
            status=status,
            error=error,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 3),
        )
        if on_retry is not None:
            on_retry()

    def give_up(state: RetryCallState) -> requests.Response:
        attempt = _attempt_of(state)
        if isinstance(attempt, BaseException):
            raise attempt
        return attempt

    retrying = Retrying(
        retry=should_retry,
        wait=wait,
        stop=stop,
        before_sleep=before_sleep,
        retry_error_callback=give_up,
        # Looked up at call time so a test's swap takes effect.
        sleep=lambda seconds: sleep(seconds),
        reraise=True,
    )
    result: requests.Response = retrying(send)
    return result

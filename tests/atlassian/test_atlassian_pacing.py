"""The write pacer: writes start at most ``rate`` per second, and a 429 holds every writer."""

from __future__ import annotations

import itertools
import threading

import pytest

from worker.atlassian.pacing import PER_ISSUE_REASON, WritePacer


class FakeClock:
    """A clock that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def _pacer(rate: float = 25.0) -> tuple[WritePacer, FakeClock]:
    clock = FakeClock()
    return WritePacer(rate_per_s=rate, clock=clock, sleep=clock.sleep), clock


def test_writes_start_one_interval_apart() -> None:
    """Five writes at 25/s start 40 ms apart: the first at once, then four waits."""
    pacer, clock = _pacer()
    for _ in range(5):
        pacer.acquire()
    assert clock.slept == [0.04] * 4
    assert clock.now == pytest.approx(1000.16)


def test_a_slow_writer_is_not_made_to_wait() -> None:
    """When writes are slower than the rate on their own, the pacer adds nothing."""
    pacer, clock = _pacer()
    for _ in range(3):
        pacer.acquire()
        clock.now += 0.5  # the write itself took half a second
    assert clock.slept == []


@pytest.mark.parametrize(
    ("reason", "held"),
    [("jira-burst-based", True), (None, True), (PER_ISSUE_REASON, False)],
)
def test_a_refusal_holds_every_writer(reason: str | None, held: bool) -> None:
    """A tenant-wide 429 with Retry-After holds the next write of anyone for that long; a
    per-issue limit concerns that issue only (its own retry waits)."""
    pacer, _clock = _pacer()
    pacer.acquire()
    pacer.refused(retry_after_s=3.0, reason=reason)
    waited = pacer.acquire()
    assert waited == pytest.approx(3.0 if held else 0.04)


def test_no_retry_after_holds_nobody() -> None:
    """Without Retry-After the request's own backoff decides; the others keep their pace."""
    pacer, _clock = _pacer()
    pacer.acquire()
    pacer.refused(retry_after_s=None, reason="jira-burst-based")
    assert pacer.acquire() == pytest.approx(0.04)


def test_writers_in_flight_share_one_pace() -> None:
    """Four threads taking 40 turns get 40 distinct start slots, 40 ms apart."""
    slots: list[float] = []
    lock = threading.Lock()
    clock = FakeClock()
    pacer = WritePacer(rate_per_s=25.0, clock=clock, sleep=lambda _s: None)

    def writer() -> None:
        for _ in range(10):
            waited = pacer.acquire()
            with lock:
                slots.append(round(clock.now + waited, 6))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ordered = sorted(slots)
    assert len(set(ordered)) == 40
    assert all(b - a == pytest.approx(0.04) for a, b in itertools.pairwise(ordered))


def test_stats_count_the_writers_waiting_and_the_seconds_waited() -> None:
    """While a writer sleeps for its turn it counts as waiting (the /metrics gauge); once it
    goes, its wait adds to the seconds paced (the counter)."""
    clock = FakeClock()
    seen: list[int] = []

    def sleep(seconds: float) -> None:
        seen.append(pacer.stats().waiting)
        clock.sleep(seconds)

    pacer = WritePacer(rate_per_s=25.0, clock=clock, sleep=sleep)
    assert (pacer.stats().waiting, pacer.stats().paced_s) == (0, 0.0)
    pacer.acquire()  # at once: not counted
    pacer.refused(retry_after_s=3.0, reason=None)
    pacer.acquire()  # held 3 s
    pacer.acquire()  # 40 ms after that one
    assert seen == [1, 1]
    assert pacer.stats().waiting == 0
    assert pacer.stats().paced_s == pytest.approx(3.04)

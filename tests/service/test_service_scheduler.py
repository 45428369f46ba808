"""The scheduler: cycles run on schedule, never overlap, and survive an exception."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.policy import Policies, Schedule, load_policies
from worker.service.shell import Service
from worker.service.triggers import interval_of, trigger_for
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry.health import Health

BERLIN = "Europe/Berlin"


@pytest.mark.parametrize(
    ("schedule", "now", "expected_s"),
    [
        (Schedule(900, None, BERLIN, 300), None, 900.0),
        (Schedule(None, "*/15 * * * *", BERLIN, 300), datetime(2026, 11, 2, 9, 1), 900.0),
        (Schedule(None, "0 9 * * *", BERLIN, 60), datetime(2026, 11, 2, 10, 0), 86400.0),
        (Schedule(None, "0 9 * * mon-fri", BERLIN, 60), datetime(2026, 11, 2, 10, 0),
         3 * 86400.0),
    ],
)
def test_interval_of_a_schedule(
    schedule: Schedule, now: datetime | None, expected_s: float
) -> None:
    """The health bound uses the interval, or a cron's longest gap (weekends included)."""
    at = None if now is None else now.replace(tzinfo=ZoneInfo(BERLIN))
    assert interval_of(schedule, now=at) == expected_s


def test_cron_trigger_uses_the_schedule_timezone() -> None:
    """A cron schedule fires at its own timezone's wall-clock time."""
    trigger = trigger_for(Schedule(None, "0 9 * * *", "America/New_York", 60))
    fire = trigger.get_next_fire_time(None, datetime(2026, 11, 2, 0, 0,
                                                     tzinfo=ZoneInfo("UTC")))
    assert fire is not None
    assert (fire.hour, str(fire.tzinfo)) == (9, "America/New_York")


def _fast_source(config_path: Path, *, interval_s: int = 1) -> PolicySource:
    def loader(path: Path) -> Policies:
        loaded = load_policies(path)
        return replace(loaded, schedule=replace(loaded.schedule, interval_s=interval_s,
                                                cron=None, misfire_grace_s=30))

    return PolicySource(config_path, loader=loader)


class _Recording(CycleRunner):
    """A real runner that records when cycles start and end, and may raise once."""

    def __init__(self, *args: object, fail_first: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fail_first = fail_first
        self.calls: list[tuple[float, float]] = []
        self.running = 0
        self.max_running = 0
        self.reports: list[CycleReport] = []
        self.changed = threading.Condition()
        self._count_lock = threading.Lock()

    def run(self, *, dry_run: bool = False,
            stopping: threading.Event | None = None) -> CycleReport:
        with self._count_lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        start = time.monotonic()
        try:
            if self.fail_first and not self.calls:
                raise RuntimeError("boom in the first cycle")
            report = super().run(dry_run=dry_run, stopping=stopping)
            self.reports.append(report)
            return report
        finally:
            with self._count_lock:
                self.running -= 1
            with self.changed:
                self.calls.append((start, time.monotonic()))
                self.changed.notify_all()

    def wait_for(self, n: int, *, timeout_s: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.calls) >= n, timeout=timeout_s)


def _serve(service: Service) -> tuple[threading.Thread, list[int]]:
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    return thread, codes


def test_cycles_run_on_schedule(settings: Settings) -> None:
    """With a one-second interval, cycles keep coming until the service is stopped."""
    runner = _Recording(settings, Store.open(settings.state),
                        source=_fast_source(settings.config_path))
    service = Service(runner, dry_run=True, health=Health(interval_s=1))
    thread, codes = _serve(service)
    assert runner.wait_for(3, timeout_s=15)
    service.stop()
    thread.join(timeout=10)
    assert codes == [0]
    starts = [s for s, _ in runner.calls]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(0.5 < g < 3 for g in gaps[1:]), gaps  # the first cycle runs at start
    assert all(r.status == "ok" for r in runner.reports)
    assert service.health.status().ok


def test_a_slow_cycle_never_overlaps_the_next(settings: Settings, demo_sandbox: object) -> None:
    """A cycle slower than the interval delays the next one instead of running beside it."""
    from worker.sandbox import Sandbox

    assert isinstance(demo_sandbox, Sandbox)
    demo_sandbox.add_faults([{"path": "search/jql", "latency_ms": 1200}])
    runner = _Recording(settings, Store.open(settings.state),
                        source=_fast_source(settings.config_path))
    service = Service(runner, dry_run=True, health=Health(interval_s=1))
    thread, _codes = _serve(service)
    assert runner.wait_for(2, timeout_s=20)
    service.stop()
    thread.join(timeout=10)
    assert runner.max_running == 1
    (_s1, e1), (s2, _e2) = runner.calls[0], runner.calls[1]
    assert s2 >= e1
    assert e1 - runner.calls[0][0] > 1.1  # the cycle really was slower than the interval


def test_an_exception_in_a_cycle_does_not_kill_the_scheduler(settings: Settings) -> None:
    """The first cycle raises; the service logs it and the next cycle runs normally."""
    runner = _Recording(settings, Store.open(settings.state),
                        source=_fast_source(settings.config_path), fail_first=True)
    service = Service(runner, dry_run=True, health=Health(interval_s=1))
    thread, codes = _serve(service)
    assert runner.wait_for(2, timeout_s=15)
    service.stop()
    thread.join(timeout=10)
    assert codes == [0]
    assert runner.reports[0].status == "ok"
    assert len(runner.calls) >= 2


def test_a_reloaded_schedule_reschedules_the_job(settings: Settings) -> None:
    """When an edit changes the schedule, the job and the health bound follow it (the file
    watch reloads it: no cycle has to read it first)."""
    intervals = [1]

    def loader(path: Path) -> Policies:
        loaded = load_policies(path)
        return replace(loaded, schedule=replace(loaded.schedule, interval_s=intervals[0],
                                                cron=None, misfire_grace_s=30))

    runner = _Recording(settings, Store.open(settings.state),
                        source=PolicySource(settings.config_path, loader=loader))
    service = Service(runner, dry_run=True, health=Health(interval_s=1))
    thread, _codes = _serve(service)
    assert runner.wait_for(2, timeout_s=15)
    intervals[0] = 3600
    with settings.config_path.open("a") as f:
        f.write("\n# schedule changed\n")
    deadline = time.monotonic() + 15
    while service.health.interval_s != 3600 and time.monotonic() < deadline:
        runner.wait_for(99, timeout_s=0.05)
    job = service.job()
    service.stop()
    thread.join(timeout=10)
    assert service.health.interval_s == 3600
    assert job is not None
    assert job.trigger.interval.total_seconds() == 3600

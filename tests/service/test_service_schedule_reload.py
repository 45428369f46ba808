"""A hot-reloaded schedule: an invalid one keeps the last good one and says so everywhere; a
valid change rebuilds the job."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.policy import Policies, load_policies
from worker.service.shell import Service
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics


def _real_loader(path: Path) -> Policies:
    """The real loader (so a bad cron is refused), with `every` sped up to one second."""
    loaded = load_policies(path)
    if loaded.schedule.interval_s is not None:
        return replace(loaded, schedule=replace(loaded.schedule, interval_s=1))
    return loaded


def _healthz(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _until(check: Any, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_bad_schedule_hot_reloaded_keeps_the_old_one(settings: Settings) -> None:
    """A bad cron on reload: the old schedule keeps running, /healthz 503 config_invalid names
    the line, the metric drops to 0; a valid new schedule then rebuilds the job."""
    health, metrics = Health(interval_s=1), Metrics()
    runner = CycleRunner(settings, Store.open(settings.state), health=health, metrics=metrics,
                         source=PolicySource(settings.config_path, health=health,
                                             loader=_real_loader))
    service = Service(runner, dry_run=True, http_port=0, health=health, metrics=metrics)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    try:
        assert _until(lambda: service.health_port is not None and runner.source.sha256)
        port = service.health_port
        assert port is not None
        assert _until(lambda: _healthz(port)[0] == 200)
        good = settings.config_path.read_text()
        settings.config_path.write_text(
            good.replace("  every: 1m\n", '  cron: "*/15 7-19 * * mon-fry"\n')
        )
        assert _until(lambda: _healthz(port)[0] == 503)
        status, body = _healthz(port)
        assert status == 503
        assert body["reason"] == "config_invalid"
        (problem,) = body["problems"]
        assert problem.endswith(
            "policies.yaml:14:24: schedule.cron: day of week field 'mon-fry': invalid "
            'weekday name "fry" (allowed: 0-6 or mon-sun)'
        )
        assert _until(lambda: "handoff_guard_config_valid 0.0" in metrics.render().decode())
        job = service.job()
        assert job is not None
        assert isinstance(job.trigger, IntervalTrigger)  # the last good schedule
        before = len(runner.store.cycles(limit=100))
        assert _until(lambda: len(runner.store.cycles(limit=100)) > before + 1)  # still running

        settings.config_path.write_text(good.replace("  every: 1m\n", '  cron: "0 9 * * *"\n'))
        assert _until(lambda: isinstance(getattr(service.job(), "trigger", None), CronTrigger))
        assert _until(lambda: _healthz(port)[0] == 200)
        assert _until(lambda: "handoff_guard_config_valid 1.0" in metrics.render().decode())
        assert health.interval_s == 86400.0
    finally:
        service.stop()
        thread.join(timeout=10)
    assert codes == [0]

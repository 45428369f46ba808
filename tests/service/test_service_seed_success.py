"""At start the service takes its last successful cycle from the store (so an alert on its age
does not fire because a process is new): a revert run is not a cycle, nor is one that failed
or is still running (a table), and a real service start shows it in ``/metrics``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.service.service_support import ServiceProcess, subprocess_env
from worker.sandbox import Sandbox
from worker.state.records import CycleRecord
from worker.state.runs import last_successful_cycle
from worker.state.store import Store

T0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def _run(run_id: str, status: str = "ok", *, ago_min: int) -> CycleRecord:
    at = T0 - ago_min * MINUTE
    return CycleRecord(run_id, at, False, status,
                       finished_at=None if status == "running" else at + MINUTE)


@pytest.mark.parametrize(
    ("recent", "expected"),
    [
        ([_run("c2", ago_min=5), _run("c1", ago_min=60)], "c2"),
        ([_run("revert-20261102T0855-a1b2c3", ago_min=5), _run("c1", ago_min=60)], "c1"),
        ([_run("c3", "running", ago_min=1), _run("c2", "failed", ago_min=5),
          _run("c1", ago_min=60)], "c1"),
        ([_run("revert-20261102T0855-a1b2c3", ago_min=5)], None),
        ([], None),
    ],
)
def test_the_last_successful_cycle(recent: list[CycleRecord], expected: str | None) -> None:
    """Newest first, the first run that is a cycle and ended well."""
    found = last_successful_cycle(recent)
    assert (None if found is None else found.run_id) == expected


def test_a_revert_after_the_last_cycle_does_not_seed_the_metric(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """The store's last cycle ended two hours ago and an admin ran `revert` a minute ago: a
    service that starts (its policy file broken, so it runs no cycle of its own) reports the
    cycle's end as its last success, not the revert's."""
    now = datetime.now(UTC)
    cycle_end, revert_end = now - timedelta(hours=2), now - MINUTE
    store = Store.open(tmp_path / "var" / "state.db")
    try:
        for run_id, end in (("c1", cycle_end), ("revert-20261102T0855-a1b2c3", revert_end)):
            store.start_cycle(CycleRecord(run_id, end - MINUTE, False, "running"))
            store.finish_cycle(CycleRecord(run_id, end - MINUTE, False, "ok", finished_at=end,
                                           site_now=end - MINUTE))
    finally:
        store.close()
    (config_dir / "policies.yaml").write_text("version: 1\npolicies: [\n", encoding="utf-8")
    env = subprocess_env(demo_sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0")
    with ServiceProcess(env) as proc:
        proc.wait_for("service.waiting_for_config")
        text = requests.get(f"http://127.0.0.1:{proc.port}/metrics", timeout=5).text
    [value] = [sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples
               if sample.name == "handoff_guard_last_success_timestamp_seconds"]
    assert value == pytest.approx(cycle_end.timestamp(), abs=1.0)

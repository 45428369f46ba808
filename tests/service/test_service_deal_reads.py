"""A cycle whose read of deal pages fails behind a 2xx: contract-dependent policies skip this
cycle with the reason, the failure is logged and counted, and the count of deal pages of the
last successful read survives in the store."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.read.deal_facts import StoredDealPageCount
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

CONTRACT_POLICIES = ("sales-deliverable-before-signature", "engaged-before-signature")


@pytest.fixture
def store(settings: Settings) -> Store:
    """The settings' store, opened for this test."""
    return Store.open(settings.state)


def _runner(settings: Settings, store: Store, **kwargs: Any) -> CycleRunner:
    health = Health(interval_s=60)
    return CycleRunner(settings, store, health=health,
                       source=PolicySource(settings.config_path, health=health), **kwargs)


def _commented(sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {i["key"]: i for i in sandbox.site()["issues"]
            if any(c.get("author") == sandbox.bot_name for c in i.get("comments", []))}


def _deal_pages(sandbox: Sandbox) -> int:
    return sum("deal" in p.get("labels", []) for p in sandbox.site()["confluence"]["pages"])


def test_an_empty_200_from_confluence_is_a_failed_read_not_no_deals(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """An empty 200 is not "no deals": only tickets whose own Contract status field says
    unsigned are acted on; every ticket that needed a deal page is skipped with the reason."""
    metrics = Metrics()
    runner = _runner(settings, store, metrics=metrics)
    demo_sandbox.add_faults([{"method": "GET", "path": "/wiki/rest/api/content/search",
                              "status": 200, "body": ""}])
    with capture_logs() as events:
        report = runner.run()
    assert report.status == "ok"
    for policy in CONTRACT_POLICIES:
        assert report.counts[policy].get("skip", 0) > 0
    failed = [e for e in events if e["event"] == "deal.read_failed"]
    assert len(failed) == 1
    assert "without a list of results" in failed[0]["reason"]
    assert report.plan is not None
    skipped = {d.issue for d in report.plan.decisions if d.verdict == "skip"}
    commented = _commented(demo_sandbox)
    assert commented  # the field-based tickets still get their comment
    assert not skipped & set(commented)
    for issue in commented.values():
        assert issue["fields"].get("customfield_10051") not in (None, "Signed")
    assert 'handoff_guard_deal_problems_total{kind="read_failed"} 1.0' in (
        metrics.render().decode()
    )
    assert StoredDealPageCount(store).last() is None  # a failed read is never remembered


def test_far_fewer_pages_than_the_last_successful_cycle_is_a_failed_read(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """The first cycle remembers its count in the store; a later read under half of it fails."""
    runner = _runner(settings, store)
    assert runner.run().status == "ok"
    pages = _deal_pages(demo_sandbox)
    assert StoredDealPageCount(store).last() == pages
    demo_sandbox.reset()
    StoredDealPageCount(store).remember(pages * 3)
    again = _runner(settings, store)  # a restart: the count comes from the store
    with capture_logs() as events:
        report = again.run()
    assert report.status == "ok"
    assert _commented(demo_sandbox).keys() <= {
        i["key"] for i in demo_sandbox.site()["issues"]
        if i.get("fields", {}).get("customfield_10051")
    }
    [failed] = [e for e in events if e["event"] == "deal.read_failed"]
    assert failed["reason"].startswith(
        f"found {pages} deal page(s), under 50% of the {pages * 3} the last successful read"
    )

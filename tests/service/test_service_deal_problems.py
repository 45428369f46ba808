"""Deal pages the bot cannot trust are logged once per cycle and page, and counted."""

from __future__ import annotations

import requests
from structlog.testing import capture_logs

from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.state.store import Store
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

PLACEHOLDER_PAGE = (
    '<ac:structured-macro ac:name="details"><ac:rich-text-body><table><tbody>'
    "<tr><th>Account</th><td>Umbrella Health</td></tr><tr><th>Jira project</th><td>UMB</td></tr>"
    "<tr><th>Contract status</th><td><p><ac:placeholder>Draft, In negotiation, Signed"
    "</ac:placeholder></p></td></tr></tbody></table></ac:rich-text-body></ac:structured-macro>"
)


def test_unreadable_pages_are_logged_once_per_cycle_and_counted(
    demo_sandbox: Sandbox, settings: Settings
) -> None:
    """A deal page left with a placeholder status: one deal.unreadable per cycle, counted."""
    reply = requests.put(
        f"{demo_sandbox.url}/wiki/rest/api/content/100004",
        auth=(demo_sandbox.bot_email, demo_sandbox.bot_token), timeout=10,
        json={"type": "page", "title": "Deal: Umbrella Health", "version": {"number": 2},
              "body": {"storage": {"value": PLACEHOLDER_PAGE, "representation": "storage"}}},
    )
    assert reply.status_code == 200
    metrics = Metrics()
    health = Health(interval_s=60)
    runner = CycleRunner(settings, Store.open(settings.state), health=health, metrics=metrics,
                         source=PolicySource(settings.config_path, health=health))
    with capture_logs() as events:
        assert runner.run().status == "ok"
        assert runner.run().status == "ok"
    unreadable = [e for e in events if e["event"] == "deal.unreadable"]
    assert [(e["page_id"], e["reason"]) for e in unreadable] == [
        ("100004", "'Contract status' is empty"),
    ] * 2
    assert 'handoff_guard_deal_problems_total{kind="unreadable"} 2.0' in (
        metrics.render().decode()
    )

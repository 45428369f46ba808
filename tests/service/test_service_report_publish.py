"""The service publishes the report page after its cycles, on the ``report:`` schedule; a
Confluence outage never fails a cycle and the next cycle publishes."""

from __future__ import annotations

from pathlib import Path

import requests

from worker.cycle.runner import CycleRunner
from worker.report.publish import PUBLISHED_KEY
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.state.store import Store

REPORT = """
report:
  space: PS
  title: Handoff Guard weekly report
  schedule: "0 8 * * mon"
  weeks: 4
"""


def _report_pages(sb: Sandbox) -> list[dict[str, object]]:
    answer = requests.get(f"{sb.url}/wiki/rest/api/content", timeout=10,
                          params={"spaceKey": "PS", "title": "Handoff Guard weekly report"},
                          auth=(sb.bot_email, sb.bot_token))
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert isinstance(results, list)
    return results


def test_outage_then_the_next_cycle_publishes(
    demo_sandbox: Sandbox, settings: Settings, config_dir: Path, tmp_path: Path
) -> None:
    """Confluence's content API down: the cycle is ok and nothing is recorded as published;
    the next cycle creates the page with the chart; the one after waits for Monday."""
    policies = config_dir / "policies.yaml"
    policies.write_text(policies.read_text(encoding="utf-8") + REPORT, encoding="utf-8")
    store = Store.open(settings.state)
    try:
        runner = CycleRunner(settings, store)
        demo_sandbox.add_faults([{"path": "^/wiki/rest/api/content$", "status": 503}])
        first = runner.run()
        assert (first.status, first.error_kind) == ("ok", None)
        assert first.actions_applied > 0
        assert store.get_meta(PUBLISHED_KEY) is None
        demo_sandbox.clear_faults()
        assert _report_pages(demo_sandbox) == []
        second = runner.run()
        assert second.status == "ok"
        (page,) = _report_pages(demo_sandbox)
        attachments = requests.get(
            f"{demo_sandbox.url}/wiki/rest/api/content/{page['id']}/child/attachment",
            auth=(demo_sandbox.bot_email, demo_sandbox.bot_token), timeout=10).json()
        assert [a["title"] for a in attachments["results"]] == ["handoff-guard-report.png"]
        assert store.get_meta(PUBLISHED_KEY) is not None
        demo_sandbox.clear_requests()
        runner.run()
        assert not [r for r in demo_sandbox.requests()
                    if r["path"].startswith("/wiki/rest/api/content") and r["method"] != "GET"
                    and "search" not in r["path"]]
    finally:
        store.close()


def test_a_dry_run_cycle_never_publishes(
    demo_sandbox: Sandbox, settings: Settings, config_dir: Path
) -> None:
    """``run --dry-run`` writes nothing, the report page included."""
    policies = config_dir / "policies.yaml"
    policies.write_text(policies.read_text(encoding="utf-8") + REPORT, encoding="utf-8")
    store = Store.open(settings.state)
    try:
        CycleRunner(settings, store).run(dry_run=True)
        assert _report_pages(demo_sandbox) == []
    finally:
        store.close()

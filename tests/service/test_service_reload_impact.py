"""The hot reload logs what the new file changes, as ``plan --against`` would print it."""

from __future__ import annotations

from pathlib import Path

from structlog.testing import capture_logs

from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.state.store import Store


def test_a_reload_logs_the_impact_of_the_new_file(
    demo_sandbox: Sandbox, settings: Settings, config_dir: Path
) -> None:
    """The cycle that picks up an edit logs config.impact once: counts and ticket lines."""
    store = Store.open(settings.state)
    runner = CycleRunner(settings, store, source=PolicySource(settings.config_path))
    with capture_logs() as events:
        runner.run(dry_run=True)
    assert "config.impact" not in [e["event"] for e in events]  # the first load is no change

    policy_file = config_dir / "policies.yaml"
    policy_file.write_text(policy_file.read_text().replace(
        "signed_values: [Signed]", "signed_values: [Signed, In negotiation]"))
    with capture_logs() as events:
        report = runner.run(dry_run=True)
    impacts = [e for e in events if e["event"] == "config.impact"]
    assert len(impacts) == 1
    impact = impacts[0]
    assert impact["differs"] is True
    assert impact["summary"]["no-longer-acted"] == 5  # the Acme deal is now "signed"
    assert sum(line.startswith("ACME-") for line in impact["changes"]) == 5
    assert report.status == "ok"
    assert not any(d.issue.startswith("ACME-") and d.verdict == "act"
                   for d in report.plan.decisions)  # type: ignore[union-attr]

    with capture_logs() as events:
        runner.run(dry_run=True)
    assert "config.impact" not in [e["event"] for e in events]  # logged once per change
    store.close()

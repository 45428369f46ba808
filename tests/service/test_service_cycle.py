"""One cycle end to end against the demo site: report, record, hot reload, errors, stopping."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import structlog
from structlog.testing import capture_logs

from worker.cycle.errors import classify
from worker.cycle.runner import CycleRunner
from worker.cycle.source import PolicySource
from worker.model.outcome import RecordedWrite
from worker.sandbox import Sandbox
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.engine import engine_for
from worker.state.store import Store
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics


@pytest.fixture
def store(settings: Settings) -> Store:
    """The settings' store, opened for this test."""
    return Store.open(settings.state)


def _runner(settings: Settings, store: Store, **kwargs: Any) -> CycleRunner:
    health = kwargs.pop("health", Health(interval_s=60))
    return CycleRunner(settings, store, health=health,
                       source=PolicySource(settings.config_path, health=health), **kwargs)


def _bot_comments(sandbox: Sandbox) -> dict[str, int]:
    counts: dict[str, int] = {}
    for issue in sandbox.site()["issues"]:
        n = sum(1 for c in issue.get("comments", []) if c.get("author") == sandbox.bot_name)
        if n:
            counts[issue["key"]] = n
    return counts


P1 = "sales-deliverable-before-signature"


def test_a_cycle_enforces_records_and_binds_run_id(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """The first cycle comments, records everything, and every event carries the run id."""
    metrics = Metrics()
    runner = _runner(settings, store, metrics=metrics)
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as events:
        report = runner.run()
    assert report.status == "ok"
    assert report.exit_code == 0
    assert report.issues_read == 24
    assert report.counts["sales-deliverable-before-signature"] == {"act": 9, "exempt": 1}
    assert report.outcomes == {"applied": 14}
    assert report.actions_applied == 14
    assert report.requests > 0
    assert set(_bot_comments(demo_sandbox)) == {w.issue for w in report.plan.writes}  # type: ignore[union-attr]
    cycle_events = [e for e in events if e["event"].startswith(("cycle.", "action."))]
    assert {e["event"] for e in cycle_events} >= {"cycle.started", "cycle.read",
                                                  "cycle.planned", "cycle.finished"}
    assert {e.get("run_id") for e in cycle_events} == {report.run_id}
    (recorded,) = store.history(limit=1)
    assert recorded.cycle.run_id == report.run_id
    assert recorded.cycle.actions_applied == 14
    assert len(recorded.outcomes) == 14
    # the dry-run policy's match: logged with its key and policy, stored as a decision,
    # and shown by `history` as a dry-run row
    assert report.summary()["dry_run_matches"] == 1
    (logged,) = [e for e in events if e["event"] == "policy.dry_run_match"]
    from worker.state.history import HistoryFilter, load_rows

    only = HistoryFilter(policy="sales-directing-pm", verdicts=frozenset({"act"}))
    (row,) = load_rows(store, only)
    assert (row.issue, row.outcome, row.run_id) == (logged["issue"], "dry-run", report.run_id)
    planned = next(e for e in events if e["event"] == "cycle.planned")
    assert planned["decisions"] == sum(sum(v.values()) for v in report.counts.values())
    # 14 acts and 2 exemptions, plus the dry-run report on a ticket the engaged policy lets
    # through; the opted-out ticket is exempt from the dry-run policy too (no `exempt:` needed)
    assert report.counts["sales-directing-pm"] == {"act": 1, "exempt": 1}
    assert store.table_counts()["decisions"] == 18
    assert 'handoff_guard_actions_total{action="comment",outcome="applied",' \
           'policy="engaged-before-signature"} 5.0' in metrics.render().decode()


def test_the_next_cycle_writes_nothing_twice(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """A second cycle at the same site time writes nothing: the state is on the tickets;
    the counters count each ticket's step once, and the gauge says what matches now."""
    metrics = Metrics()
    # Both cycles read every ticket (an incremental second cycle would read only the nine the
    # bot wrote to: see test_service_incremental.py), so the counts compare like for like.
    runner = _runner(replace(settings, incremental=False), store, metrics=metrics)
    first = runner.run()
    after_first = _samples(metrics)
    second = runner.run()
    assert first.actions_applied == 14
    assert second.outcomes == {}
    assert all(n == 1 for n in _bot_comments(demo_sandbox).values())
    after_second = _samples(metrics)
    waiting = ("handoff_guard_decisions_total", (("policy", P1), ("verdict", "waiting")))
    assert after_second[waiting] == 9.0  # counted once, when the tickets started waiting
    act = ("handoff_guard_decisions_total", (("policy", P1), ("verdict", "act")))
    assert after_first[act] == after_second[act] == 9.0
    dry = ("handoff_guard_actions_total",
           (("action", "comment"), ("outcome", "dry-run"), ("policy", "sales-directing-pm")))
    assert after_first[dry] == after_second[dry] == 1.0  # the same match, one event
    gauge = ("handoff_guard_matching_tickets", (("policy", P1),))
    assert after_first[gauge] == after_second[gauge] == 9.0
    second_counts = second.counts[P1]
    assert sum(second_counts.values()) == 10  # the cycle still reports what it decided


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_journal_overlays_a_stale_search(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """With search lagging behind our writes, the journal still prevents a double comment."""
    site = demo_sandbox.site()
    site["site"]["search_lag_s"] = 3600
    with Sandbox.start(site) as lagging:
        lag_settings = replace(settings, jira_url=lagging.url)
        runner = _runner(lag_settings, store)
        first = runner.run()
        second = runner.run()
        assert first.actions_applied == 14
        assert second.outcomes == {}
        assert all(n == 1 for n in _bot_comments(lagging).values())
        journal = store.recent_writes(since=first.site_now)  # type: ignore[arg-type]
        assert all(isinstance(w, RecordedWrite) for w in journal.values())
        assert len(journal) == 14


def test_hot_reload_valid_and_invalid_changes(
    demo_sandbox: Sandbox, settings: Settings, store: Store, config_dir: Path
) -> None:
    """A valid edit is picked up next cycle; an invalid one is reported and the last good runs."""
    health = Health(interval_s=60)
    runner = _runner(settings, store, health=health)
    policy_file = config_dir / "policies.yaml"
    original = policy_file.read_text()

    policy_file.write_text(original.replace("mode: enforce", "mode: dry-run"))
    with capture_logs() as events:
        dry = runner.run()
    assert {d.mode for d in dry.plan.decisions} == {"dry-run"}  # type: ignore[union-attr]
    assert dry.outcomes == {}
    assert _bot_comments(demo_sandbox) == {}

    policy_file.write_text(original)
    with capture_logs() as events:
        enforced = runner.run()
    assert "config.reloaded" in [e["event"] for e in events]
    assert enforced.actions_applied == 14

    policy_file.write_text(original.replace("every: 1m", "every: soon"))
    with capture_logs() as events:
        kept = runner.run()
    invalid = [e for e in events if e["event"] == "config.invalid"]
    assert len(invalid) == 1
    assert any("schedule" in p for p in invalid[0]["problems"])
    assert kept.status == "ok"
    assert kept.config_problems
    assert kept.config_sha256 == enforced.config_sha256
    assert health.status().reason == "config_invalid"

    policy_file.write_text(original)
    runner.run()
    assert health.status().ok


def test_a_template_edit_is_picked_up_next_cycle(
    demo_sandbox: Sandbox, settings: Settings, store: Store, config_dir: Path
) -> None:
    """Editing a comment template (not the policy file) reloads the policies too."""
    runner = _runner(settings, store)
    runner.source.current()
    template = config_dir / "templates" / "engaged-before-signature.j2"
    template.write_text("Handoff Guard test wording for {{ issue.key }}.")
    report = runner.run()
    texts = [a.document.plain_text() for d in report.plan.decisions  # type: ignore[union-attr]
             for a in d.actions if a.kind == "comment" and d.policy == "engaged-before-signature"]
    assert "Handoff Guard test wording for ACME-4." in texts
    assert runner.source.reloads == 1


@pytest.mark.usefixtures("no_sleep")
def test_jira_errors_fail_the_cycle_not_the_process(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """A search that keeps failing ends the cycle as 'unreachable'; the next one recovers."""
    health = Health(interval_s=60)
    runner = _runner(settings, store, health=health)
    demo_sandbox.add_faults([{"path": "search", "status": 503, "retry_after": 1}])
    failed = runner.run()
    assert (failed.status, failed.error_kind, failed.exit_code) == ("failed", "unreachable", 2)
    assert health.status().reason == "jira_unreachable"
    assert store.cycles()[0].status == "failed"
    demo_sandbox.clear_faults()
    assert runner.run().status == "ok"
    assert health.status().ok


def test_bad_credentials_are_an_auth_failure(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """A wrong token is reported as auth_failed with exit code 2."""
    health = Health(interval_s=60)
    bad = replace(settings, jira_api_token=Secret("wrong-token"))
    report = _runner(bad, store, health=health).run()
    assert (report.error_kind, report.exit_code) == ("auth", 2)
    assert health.status().reason == "auth_failed"


def test_missing_policy_file_is_a_config_error(settings: Settings, store: Store) -> None:
    """With no policy file ever loaded the cycle fails as a config error (exit 1)."""
    report = _runner(replace(settings, config_path=Path("/nonexistent/policies.yaml")),
                     store).run()
    assert (report.error_kind, report.exit_code) == ("config", 1)


class _StopAfterFirstWrite(Store):
    """A store that asks the cycle to stop once the first write is in hand (its intent
    journaled: the "applied" rows come later, in batches)."""

    stopping: threading.Event

    def record_writes(self, items: Sequence[RecordedWrite]) -> None:
        super().record_writes(items)
        self.stopping.set()


@pytest.mark.parametrize("in_flight", [1, 4])
def test_stop_finishes_the_issue_in_hand(
    demo_sandbox: Sandbox, settings: Settings, in_flight: int
) -> None:
    """A stop request between issues leaves the rest 'stopped' and records the cycle; with
    several writers the issues already in hand finish, whole, and no new one starts."""
    store = _StopAfterFirstWrite(engine_for(settings.state))
    store.stopping = threading.Event()
    report = _runner(replace(settings, writes_in_flight=in_flight), store).run(
        stopping=store.stopping
    )
    assert report.status == "stopped"
    applied = report.outcomes.get("applied", 0)
    assert 1 <= applied <= in_flight
    assert report.outcomes == {"applied": applied, "stopped": 14 - applied}
    assert len(_bot_comments(demo_sandbox)) == applied
    assert store.cycles()[0].status == "stopped"


def test_stop_before_reading_writes_nothing(
    demo_sandbox: Sandbox, settings: Settings, store: Store
) -> None:
    """A stop that arrives while reading ends the cycle before any write."""
    stopping = threading.Event()
    stopping.set()
    report = _runner(settings, store).run(stopping=stopping)
    assert (report.status, report.error_kind, report.exit_code) == ("stopped", None, 0)
    assert _bot_comments(demo_sandbox) == {}


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ConnectionError("refused"), "unreachable"),
        (TimeoutError("slow"), "unreachable"),
        (KeyError("x"), "error"),
    ],
)
def test_classify(exc: BaseException, kind: str) -> None:
    """Exceptions map to the health reason and exit code families."""
    assert classify(exc)[0] == kind


def test_flavor_is_detected_for_data_center(
    dc_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """Without JIRA_FLAVOR, a PAT against a Data Center site is detected and a cycle runs."""
    settings = Settings.from_env({
        "JIRA_URL": dc_sandbox.url,
        "JIRA_PERSONAL_TOKEN": dc_sandbox.bot_token,
        "CONFLUENCE_URL": dc_sandbox.wiki_url,  # on Data Center, Confluence is its own server
        "HANDOFF_GUARD_CONFIG": str(config_dir / "policies.yaml"),
        "HANDOFF_GUARD_STATE": str(tmp_path / "dc.db"),
    })
    assert settings.resolved_flavor() is None
    runner = _runner(settings, Store.open(settings.state))
    report = runner.run(dry_run=True)
    assert runner.atlassian().flavor == "datacenter"
    assert report.status == "ok", report.error
    assert report.issues_read > 0
    assert report.outcomes.get("dry-run", 0) > 0


def test_a_reload_that_shortens_the_grace_period_keeps_the_promises(
    demo_sandbox: Sandbox, settings: Settings, store: Store, config_dir: Path
) -> None:
    """After `after:` is shortened, the first cycle with the reloaded file says how many
    promises it keeps (config.promises), and reassigns nothing before the promised date."""
    runner = _runner(settings, store)
    first = runner.run()
    assert first.actions_applied == 14
    path = config_dir / "policies.yaml"
    path.write_text(path.read_text().replace("after: 2 business days", "after: 1 business day"))
    demo_sandbox.advance("1d")
    with capture_logs() as events:
        tuesday = runner.run()
    (said,) = [e for e in events if e["event"] == "config.promises"]
    assert said["kept"] == 9
    assert said["messages"][0].startswith("9 ticket(s) were promised a later date than this "
                                          "file gives them; their promises are kept")
    assert tuesday.outcomes == {}
    with capture_logs() as events:
        runner.run()
    assert not [e for e in events if e["event"] == "config.promises"]  # said once per reload

"""The report over real cycles that read incrementally (the default between full sweeps).

An incremental cycle reads only the tickets that can have changed, so a flagged ticket it did
not read is still open, not "moved by the PM". A ticket the PM really moved is called moved:
at once when the cycle read it and found it no longer matching (the PM took the Sales label off
but kept the ticket), at the next full read when it left the search (handed back to Sales: an
incremental search no longer returns it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.humans import Human, with_logins
from tests.report.history_factories import shipped_policies
from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.report import Report, load_report
from worker.report.build import CycleMark, build_report
from worker.sandbox import Sandbox
from worker.sandbox.generate import ACCOUNT_FIELD, deliverable_keys, generate_site
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.history import HistoryFilter, load_rows
from worker.state.store import Store
from worker.telemetry.metrics import Metrics

P1 = "sales-deliverable-before-signature"
UTC_TZ = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def cycles_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Five hourly-ish cycles (full, three incremental, then the daily full sweep) while a PM
    hands one flagged ticket back to Sales and takes the Sales label off another."""
    tmp = tmp_path_factory.mktemp("incremental-report")
    site = generate_site(60, seed=5)
    users = {u["name"]: u for u in site["users"]}
    pm = next(g for g in site["groups"] if g["name"] == "project-managers")["members"][0]
    seller = next(g for g in site["groups"] if g["name"] == "sales")["members"][0]
    by_key = {i["key"]: i for i in site["issues"]}
    keys = sorted(deliverable_keys(site))
    handed_back, kept, unlabelled = keys[:3]
    for key in (handed_back, kept, unlabelled):
        by_key[key]["assignee"] = pm
    # Only its label makes this one a Sales deliverable: the PM can take that away.
    label_only = by_key[unlabelled]
    label_only.update(type="Task", summary="Kickoff workshop notes", labels=["sow"])
    assert unlabelled in deliverable_keys(site)
    assert label_only["fields"].get(ACCOUNT_FIELD)
    with_logins(site)
    with Sandbox.start(site) as sandbox:
        settings = Settings(jira_url=sandbox.url, jira_username=sandbox.bot_email,
                            jira_api_token=Secret(sandbox.bot_token), jira_flavor="cloud",
                            config_path=shipped_policies(tmp), state=str(tmp / "state.db"))
        store = Store.open(settings.state)
        metrics = Metrics()
        runner = CycleRunner(settings, store, metrics=metrics)
        the_pm = Human.named(sandbox, pm)
        reports: list[CycleReport] = []
        gauge: list[float | None] = []

        def cycle(advance: str | None) -> None:
            if advance is not None:
                sandbox.advance(advance)
            report = runner.run()
            assert report.status == "ok", report.summary()
            reports.append(report)
            gauge.append(metrics.registry.get_sample_value(
                "handoff_guard_matching_tickets", {"policy": P1}))

        start = sandbox.now()
        cycle(None)  # full: the first read; all three flagged and commented
        cycle("1h")  # incremental: reads the three back (the bot's comments changed them)
        cycle("1h")  # incremental: none of the three changed, none read
        the_pm.assign(handed_back, users[seller]["account_id"])
        the_pm.edit(unlabelled, update={"labels": [{"remove": "sow"}]})
        cycle("1h")  # incremental: reads the unlabelled one; the handed-back one left the search
        incremental_until = sandbox.now() + timedelta(seconds=1)
        cycle("22h")  # the daily full sweep
        yield {"store": store, "since": start, "until": sandbox.now() + timedelta(seconds=1),
               "incremental_until": incremental_until, "reports": reports, "gauge": gauge,
               "handed_back": handed_back, "kept": kept, "unlabelled": unlabelled}
        store.close()


def _report(data: dict[str, Any], until: datetime) -> Report:
    return load_report(data["store"], since=data["since"], until=until, tz=UTC_TZ,
                       generated_at=until)


def _fates(report: Report, *keys: str) -> dict[str, tuple[str, datetime | None]]:
    return {s.issue: (s.fate, s.closed_at) for s in report.stories
            if s.policy == P1 and s.issue in keys}


def test_the_cycles_read_as_the_scenario_needs(cycles_run: dict[str, Any]) -> None:
    """Full, three incremental, full; the store keeps which keys each incremental read."""
    reports: list[CycleReport] = cycles_run["reports"]
    assert [r.read_full for r in reports] == [True, False, False, False, True]
    kept, unlabelled = cycles_run["kept"], cycles_run["unlabelled"]
    records = {c.run_id: c for c in cycles_run["store"].cycles(limit=10)}
    read = [records[r.run_id] for r in reports]
    assert [c.read_full for c in read] == [True, False, False, False, True]
    assert (read[0].read_keys, read[4].read_keys) == (None, None)
    assert kept in (read[1].read_keys or ())
    assert kept not in (read[2].read_keys or frozenset()) | (read[3].read_keys or frozenset())
    assert unlabelled in (read[3].read_keys or ())


def test_a_ticket_not_read_again_is_not_moved(cycles_run: dict[str, Any]) -> None:
    """After the incremental cycles: the unread ticket is open, the one the PM unlabelled is
    moved at the cycle that read it, the one handed back is open until a read can tell."""
    report = _report(cycles_run, cycles_run["incremental_until"])
    third = cycles_run["reports"][3].site_now
    assert _fates(report, cycles_run["handed_back"], cycles_run["kept"],
                  cycles_run["unlabelled"]) == {
        cycles_run["handed_back"]: ("open", None),
        cycles_run["kept"]: ("open", None),
        cycles_run["unlabelled"]: ("moved", third),
    }
    assert report.fates()["moved"] == 1


def test_the_full_sweep_sees_the_ticket_handed_back(cycles_run: dict[str, Any]) -> None:
    """The full read finds the handed-back ticket gone (moved, at that read) and the other
    still matching (open)."""
    report = _report(cycles_run, cycles_run["until"])
    reports: list[CycleReport] = cycles_run["reports"]
    assert _fates(report, cycles_run["handed_back"], cycles_run["kept"],
                  cycles_run["unlabelled"]) == {
        cycles_run["handed_back"]: ("moved", reports[4].site_now),
        cycles_run["kept"]: ("open", None),
        cycles_run["unlabelled"]: ("moved", reports[3].site_now),
    }
    assert report.weeks[-1].backlog == report.fates()["open"]


def test_treating_every_cycle_as_a_full_read_would_be_wrong(
    cycles_run: dict[str, Any],
) -> None:
    """The same rows judged as if every cycle had read everything call the unread ticket
    moved: what the report said before it knew what each cycle read."""
    store: Store = cycles_run["store"]
    until = cycles_run["incremental_until"]
    rows = load_rows(store, HistoryFilter(until=until))
    marks = [CycleMark(r.run_id, r.site_now) for r in cycles_run["reports"][:4]
             if r.site_now is not None]
    naive = build_report(rows, [replace(m, read_full=True) for m in marks],
                         since=cycles_run["since"], until=until, tz=UTC_TZ,
                         generated_at=until)
    assert _fates(naive, cycles_run["kept"])[cycles_run["kept"]][0] == "moved"


def test_the_matching_gauge_follows_each_ticket_as_last_read(
    cycles_run: dict[str, Any],
) -> None:
    """handoff_guard_matching_tickets after each cycle: the unlabelled ticket leaves it when an
    incremental cycle reads it; the handed-back one when the full read no longer finds it."""
    assert cycles_run["gauge"] == [3.0, 3.0, 3.0, 2.0, 1.0]

"""Writes that start while later search pages are still read (limits lifted by name), over
HTTP against the sandbox: the same edits as a plan written at the end, each sent once, and a
stop during the read keeps what was written on the record."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import structlog.testing

from tests.service.incremental_support import policy_file
from tests.service.service_support import sandbox_settings
from worker.atlassian import retry
from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.model.outcome import RecordedWrite
from worker.sandbox import Sandbox
from worker.sandbox.generate import generate_site
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.engine import engine_for
from worker.state.store import Store

#: four search pages, about twenty tickets to act on
TICKETS = 400


@pytest.fixture(autouse=True)
def _no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retry, "sleep", lambda _s: None)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    site = generate_site(TICKETS, seed=7)
    site["site"]["search_lag_s"] = 0
    with Sandbox.start(site) as sb:
        # a page takes a while: the read is still going when the first writes are due
        sb.add_faults([{"method": "POST", "path": "/search/jql$", "latency_ms": 150}])
        yield sb


def _settings(sb: Sandbox, tmp: Path, *, unlimited: bool) -> Settings:
    return sandbox_settings(sb, config_path=policy_file(tmp, unlimited=unlimited),
                            state=str(tmp / ("unlimited.db" if unlimited else "numbers.db")))


def _edits(sb: Sandbox) -> list[str]:
    return [r["path"] for r in sb.requests() if r["method"] == "PUT"]


def _bot_comments(sb: Sandbox) -> Counter[str]:
    bot = {sb.bot_account_id, sb.bot_name}
    return Counter(i["key"] for i in sb.site()["issues"] for c in i.get("comments", [])
                   if c["author"] in bot)


def test_writes_start_before_the_last_page_and_match_a_plan_written_at_the_end(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """With every limit lifted by name, the first edit goes out before the last search
    page is read; the edits are those of the same cycle with its limits as numbers (which
    writes once the plan is whole), each ticket once, and outcomes follow the plan."""
    runner = CycleRunner(_settings(sandbox, tmp_path, unlimited=True),
                         Store.open(tmp_path / "unlimited.db"))
    report = runner.run()
    assert report.status == "ok", report.error
    log = sandbox.requests()
    searches = [i for i, r in enumerate(log) if r["path"].endswith("/search/jql")]
    edits = [i for i, r in enumerate(log) if r["method"] == "PUT"]
    assert len(searches) >= 4
    assert len(edits) >= 10
    assert edits[0] < searches[-1]
    assert report.plan is not None
    assert [o.issue for o in report.results] == [w.issue for w in report.plan.writes]
    assert set(report.outcomes) == {"applied"}
    streamed = sorted(_edits(sandbox))
    assert len(set(streamed)) == len(streamed)
    assert set(_bot_comments(sandbox).values()) == {1}

    # How many search pages the read itself takes: a dry run reads and writes nothing.
    sandbox.reset()
    dry = CycleRunner(_settings(sandbox, tmp_path, unlimited=False),
                      Store.open(tmp_path / "dry.db")).run(dry_run=True)
    assert dry.status == "ok"
    pages = sum(1 for r in sandbox.requests() if r["path"].endswith("/search/jql"))

    sandbox.reset()
    sandbox.add_faults([{"method": "POST", "path": "/search/jql$", "latency_ms": 150}])
    waiting = CycleRunner(_settings(sandbox, tmp_path, unlimited=False),
                          Store.open(tmp_path / "numbers.db"))
    assert waiting.run().status == "ok"
    log = sandbox.requests()
    # Every page of the read comes before the first edit. (Searches after it may be the
    # writer's own: a new store reads the state of the tickets it writes, 50 at a time, in
    # a search naming them in reconcileIssues.)
    found = [i for i, r in enumerate(log) if r["path"].endswith("/search/jql")]
    assert min(i for i, r in enumerate(log) if r["method"] == "PUT") > found[pages - 1]
    assert sorted(_edits(sandbox)) == streamed


class _StopAtFirstIntent(Store):
    """A store that asks the cycle to stop as soon as a write is journaled (in hand)."""

    stopping: threading.Event

    def record_writes(self, items: Sequence[RecordedWrite]) -> None:
        super().record_writes(items)
        self.stopping.set()


def _run(runner: CycleRunner, stopping: threading.Event | None = None) -> CycleReport:
    return runner.run(stopping=stopping or threading.Event())


def test_a_stop_while_reading_keeps_the_writes_on_record_and_sends_nothing_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """A stop arrives once the first write is in hand, while pages are still read: the
    writes in hand finish, no other starts, the cycle is "stopped" with their outcomes and
    journal rows recorded; the next cycle writes the rest, and every ticket gets one
    comment."""
    settings = _settings(sandbox, tmp_path, unlimited=True)
    store = _StopAtFirstIntent(engine_for(settings.state))
    store.stopping = threading.Event()
    stopped = _run(CycleRunner(settings, store), store.stopping)
    assert stopped.status == "stopped"
    assert stopped.issues_read < TICKETS  # it stopped while reading
    applied = stopped.outcomes.get("applied", 0)
    assert 1 <= applied <= settings.writes_in_flight
    assert set(stopped.outcomes) <= {"applied", "stopped"}
    assert sum(_bot_comments(sandbox).values()) == applied
    recorded = store.history(limit=1)[0]
    assert recorded.cycle.status == "stopped"
    assert Counter(o.status for o in recorded.outcomes)["applied"] == applied
    journal = store.recent_writes(since=stopped.site_now.replace(year=2000))  # type: ignore[union-attr]
    assert sum(1 for w in journal.values() if w.status == "applied") == applied

    follow = _run(CycleRunner(settings, Store(store.engine)))
    assert follow.status == "ok", follow.error
    comments = _bot_comments(sandbox)
    assert set(comments.values()) == {1}
    assert len(comments) == applied + follow.outcomes.get("applied", 0)


class _SearchFailsAfterFirstIntent(Store):
    """A store that makes every later search page fail once a write is journaled."""

    sandbox: Sandbox

    def record_writes(self, items: Sequence[RecordedWrite]) -> None:
        super().record_writes(items)
        if not getattr(self, "broken", False):
            self.broken = True
            self.sandbox.add_faults([{"method": "POST", "path": "/search/jql$", "status": 500}])


def test_a_read_that_fails_after_writes_started_records_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """Search breaks once writes are under way: the cycle fails (unreachable), the writes
    handed out finish (or are "stopped" when not started) and are recorded; the next cycle,
    once the site is back, writes the rest and nothing twice."""
    settings = _settings(sandbox, tmp_path, unlimited=True)
    store = _SearchFailsAfterFirstIntent(engine_for(settings.state))
    store.sandbox = sandbox
    failed = _run(CycleRunner(settings, store))
    assert (failed.status, failed.error_kind) == ("failed", "unreachable")
    applied = failed.outcomes.get("applied", 0)
    # the tickets planned before the failure surfaced (a page may wait in the prefetch)
    assert applied >= 1
    assert set(failed.outcomes) <= {"applied", "stopped"}
    assert sum(_bot_comments(sandbox).values()) == applied
    recorded = store.history(limit=1)[0]
    assert Counter(o.status for o in recorded.outcomes)["applied"] == applied
    assert recorded.cycle.actions_applied == failed.actions_applied >= applied

    sandbox.clear_faults()
    follow = _run(CycleRunner(settings, Store(store.engine)))
    assert follow.status == "ok", follow.error
    assert set(_bot_comments(sandbox).values()) == {1}


def test_data_center_writes_wait_for_the_plan(tmp_path: Path) -> None:
    """Data Center pages by offset: an edit during the read could shift a later page past a
    ticket, so even with every limit lifted the edits go out after the last page."""
    site = generate_site(TICKETS, seed=7)
    site["site"]["search_lag_s"] = 0
    site["site"]["flavor"] = "datacenter"
    with Sandbox.start(site) as sb:
        settings = Settings(
            jira_url=sb.url,
            jira_personal_token=Secret(sb.bot_token),
            jira_flavor="datacenter",
            confluence_url=sb.wiki_url,
            confluence_personal_token=Secret(sb.bot_token),
            config_path=policy_file(tmp_path, unlimited=True),
            state=str(tmp_path / "dc.db"),
        )
        with structlog.testing.capture_logs() as logs:
            report = _run(CycleRunner(settings, Store.open(settings.state)))
        assert report.status == "ok", report.error
        assert report.outcomes.get("applied", 0) >= 10
        log = sb.requests()
        last_search = max(i for i, r in enumerate(log) if r["path"].endswith("/search"))
        assert min(i for i, r in enumerate(log) if r["method"] == "PUT") > last_search
        chosen = next(e for e in logs if e["event"] == "execute.while_reading")
        assert chosen["enabled"] is False
        assert "Data Center" in chosen["why_not"]

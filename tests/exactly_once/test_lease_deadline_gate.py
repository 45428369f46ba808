"""Issue 20: the lease's local deadline is checked as each write leaves the transport, and a
new leader waits out the old one's in-flight writes (real cycles over HTTP against the
sandbox, both flavors, a real store; the lease's clock is the test's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tests.exactly_once.conftest import ACTED, example_site
from worker.cycle.runner import CycleRunner
from worker.model.outcome import RecordedWrite
from worker.model.state import BotState
from worker.state.lease import Lease
from worker.state.store import Store
from worker.state.tables import lease, writes


class _Clock:
    """The lease's local clock, moved by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class PausedAfterJournal(Store):
    """The real store; right after the second write's intent is journaled, the process
    "pauses" past its lease's deadline (the clock jumps), before the write is sent."""

    def __init__(self, target: str, clock: _Clock) -> None:
        super().__init__(Store.open(target).engine)
        self.clock = clock
        self.intents = 0

    def record_writes(self, items: Sequence[RecordedWrite]) -> None:
        super().record_writes(items)
        self.intents += sum(1 for w in items if w.status == "unknown")
        if self.intents == 2:
            self.clock.t += 120


def test_a_write_past_the_deadline_is_not_sent(bench: Any, flavor: str) -> None:
    """The first edit goes; the second is journaled, then its lease deadline passes before
    it leaves: it is not sent (``stopped``, ``lease_deadline``; its journal row stays
    "unknown"), nor is the third; the cycle ends stopped with ``lease_lost``."""
    b = bench(example_site(flavor))
    clock = _Clock()
    settings = replace(b.settings(), writes_in_flight=1)
    store = PausedAfterJournal(settings.state, clock)
    runner = CycleRunner(settings, store,
                         lease=Lease(store, period_s=60, holder="this:1:aa", monotonic=clock))
    report = runner.run()

    assert (report.status, report.lease_lost) == ("stopped", True)
    assert len(b.puts()) == 1
    applied = [o.issue for o in report.results if o.status == "applied"]
    stopped = [o for o in report.results if o.status == "stopped"]
    assert len(applied) == 1
    assert len(stopped) == len(ACTED) - 1
    assert stopped[0].detail.startswith("lease_deadline: not sent")
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(writes.c.issue, writes.c.status)).all())
    assert rows == {applied[0]: "applied", stopped[0].issue: "unknown"}
    assert sum(b.comment_counts().values()) == 1
    store.close()


def test_a_new_leader_holds_the_old_ones_in_flight_tickets(bench: Any, flavor: str) -> None:
    """The old holder journaled a write to ACME-1 as in flight and stopped renewing (its
    hold ended 2 s ago): the new holder writes the others at once and holds ACME-1 until
    the old hold's end plus the request timeout; then it reads ACME-1's state first and
    writes it: one comment each."""
    site = example_site(flavor)
    b = bench(site)
    clock = _Clock()
    settings = b.settings()
    store = Store.open(settings.state)
    # five minutes before the site's now: older than the site-clock hold on unanswered writes
    journaled = datetime.fromisoformat(str(site["site"]["now"]).replace("Z", "+00:00"))
    journaled -= timedelta(minutes=5)
    old = Lease(store, period_s=60, holder="old:1:aa")
    assert old.acquire()
    # the old holder journaled ACME-1 as in flight, then went quiet
    store.record_write(RecordedWrite(issue="ACME-1", issue_id="10001",
                                     at=journaled,
                                     state=BotState(policies={}), status="unknown"))
    with store.engine.begin() as conn:
        conn.execute(sa.update(lease).values(
            expires_at=datetime.now(UTC) - timedelta(seconds=2)))
    runner = CycleRunner(settings, store, lease=Lease(store, period_s=60, holder="new:2:bb",
                                                      monotonic=clock))
    first = runner.run()
    held = next(o for o in first.results if o.issue == "ACME-1")
    assert held.status == "skipped"
    assert "previous leader" in held.detail
    assert b.comment_counts() == {"ACME-1": 0, "ACME-2": 1, "SALES-3": 1}

    clock.t += settings.timeout_s  # past the old hold's end plus the request timeout
    b.sandbox.clear_requests()
    second = runner.run()
    done = next(o for o in second.results if o.issue == "ACME-1")
    assert done.status == "applied"
    assert b.comment_counts() == {"ACME-1": 1, "ACME-2": 1, "SALES-3": 1}
    store.close()

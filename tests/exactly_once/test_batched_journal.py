"""Issue 12 item 2: the journal commits "applied" rows in batches; a crash before such a
batch is committed is recovered like a write whose answer was lost."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.exactly_once.conftest import ACTED, example_site
from worker.cycle.runner import CycleRunner
from worker.write import journal


def test_a_crash_before_the_applied_rows_are_committed_posts_nothing_twice(
    bench: Any, flavor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first cycle's writes land but its batched "applied" rows are never committed (the
    process dies first): the journal's last row per ticket is "unknown". While search still
    shows the old state, the next cycle holds those tickets back as writes that may still
    land (Cloud: its reconciled search already shows them done); once that window has
    passed, their state is read, the step is seen done, and nothing is written: one comment
    each."""
    site = example_site(flavor)
    site["site"]["search_lag_s"] = 3600
    b = bench(site)
    runner = b.runner()
    with monkeypatch.context() as crash:
        # the process dies with the batch in memory: nothing after the intents is committed
        crash.setattr(journal.GuardedJournal, "flush", lambda self, retry=True: 0)
        crash.setattr(journal, "BATCH_ROWS", 1000)
        b.cycle(runner)
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)
    rows = runner.store.recent_writes(since=datetime(2000, 1, 1, tzinfo=UTC))
    status = {k: rows[k].status for k in ACTED}
    # an "applied" row committed with a later write's intent survived; the last did not
    assert set(status.values()) <= {"applied", "unknown"}
    lost = sorted(k for k, s in status.items() if s == "unknown")
    assert lost

    # Full reads (a full sweep): every ticket is planned again from the lagging search.
    full = CycleRunner(replace(runner.settings, incremental=False), runner.store)
    b.sandbox.clear_requests()
    held = b.cycle(full)
    assert b.puts() == []
    # Cloud names them in reconcileIssues and sees the step; Data Center plans them again,
    # and a young "unknown" row holds them back: that write may still land
    assert all("may still land" in o.detail for o in held.results)
    assert {o.issue for o in held.results} == (set(lost) if flavor == "datacenter" else set())

    b.sandbox.advance("5m")
    b.sandbox.clear_requests()
    later = b.cycle(full)
    assert b.puts() == []
    assert all(o.detail.startswith("already done") for o in later.results)
    assert {o.issue for o in later.results} == (set(lost) if flavor == "datacenter" else set())
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)

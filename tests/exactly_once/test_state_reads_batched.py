"""Issue 24 item 3: on a new store, Jira Cloud reads the bot's state before each write fifty
tickets a request (``reconcileIssues``), not one GET per ticket, and still posts nothing twice
when the store was lost while search lags."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

from tests.service.incremental_support import policy_file
from worker.cycle.runner import CycleRunner
from worker.sandbox.generate import deliverable_keys, generate_site
from worker.state.store import Store


def _runner(b: Any, tmp: Path, state: str, **extra: Any) -> CycleRunner:
    lifted = policy_file(tmp, unlimited=True)  # every deliverable in one cycle
    settings = replace(b.settings(state=str(tmp / state), **extra), config_path=lifted)
    return CycleRunner(settings, Store.open(settings.state))


def _count(b: Any, method: str, suffix: str) -> int:
    return sum(1 for r in b.sandbox.requests()
               if r["method"] == method and r["path"].endswith(suffix))


def test_a_lost_store_reads_states_fifty_at_a_time(bench: Any, tmp_path: Path) -> None:
    """120-odd deliverables commented; the store is lost while search still shows the old
    state; the new store reads every acted ticket's state in ceil(k/50) reconciled searches
    (no property GET) and writes nothing."""
    site = generate_site(2_400, seed=7)
    site["site"]["search_lag_s"] = 600
    acted = deliverable_keys(site)
    assert len(acted) > 100
    b = bench(site)
    first = _runner(b, tmp_path, "first.db")
    report = b.cycle(first)
    assert report.actions_applied >= len(acted)
    writes = _count(b, "PUT", "")
    assert writes == len(acted)
    # a new store: every write reads its state first, in batches
    assert _count(b, "GET", "/properties/handoff-guard") == 0

    b.sandbox.clear_requests()
    lost = _runner(b, tmp_path, "replacement.db",
                   trusted=frozenset({first.store.installation_id}))
    again = b.cycle(lost)
    assert b.puts() == []
    assert again.outcomes == {"skipped": len(acted)}
    assert _count(b, "GET", "/properties/handoff-guard") == 0
    # up to fifty a search; fewer when a batch goes early because the writers are idle (as
    # they are when every write is found done, and a loaded machine reads pages slowly):
    # about one a search page at worst, never one a ticket
    state_searches = _count(b, "POST", "/search/jql") - math.ceil(2_400 / 100)
    assert math.ceil(len(acted) / 50) <= state_searches <= len(acted) // 3

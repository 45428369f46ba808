"""Installations with separate stores: each write names its installation; another one's recent
writes stop this one's, loudly (log, exit 6, /readyz, metrics), until it is confirmed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from tests.service.conftest import Cli
from tests.service.replica_support import WorkerProcess, worker_env
from worker.exits import EXIT_ANOTHER_ACTOR, EXIT_OK
from worker.model import BotState, WrittenBy
from worker.sandbox import Sandbox
from worker.state.installation import Actors, Sighting, foreign, recent
from worker.state.store import Store

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(hours=24)

FOREIGN = [
    # (the property's writer, trusted ids, foreign?)
    (None, frozenset(), False),  # written before installations were recorded
    (WrittenBy("mine", T0), frozenset(), False),
    (WrittenBy("theirs", T0), frozenset(), True),
    (WrittenBy("theirs", T0), frozenset({"theirs"}), False),
    (WrittenBy("theirs", T0), frozenset({"someone-else"}), True),
]


@pytest.mark.parametrize(("by", "trusted", "expected"), FOREIGN)
def test_foreign_writer(by: WrittenBy | None, trusted: frozenset[str], expected: bool) -> None:
    """Only another installation that is not confirmed counts."""
    seen = foreign(BotState(by=by), "ACME-1", own="mine", trusted=trusted)
    assert (seen is not None) == expected


RECENT = [
    # (written at, trusted, still stops writes?)
    (T0, frozenset(), True),
    (T0 - DAY, frozenset(), True),  # the window's edge is in
    (T0 - DAY - timedelta(seconds=1), frozenset(), False),  # older: it was removed
    (T0, frozenset({"theirs"}), False),  # confirmed since
]


@pytest.mark.parametrize(("at", "trusted", "stops"), RECENT)
def test_recent_sightings(at: datetime, trusted: frozenset[str], stops: bool) -> None:
    """Within the journal window and not trusted: writes stay stopped."""
    kept = recent({"theirs": Sighting("theirs", "ACME-1", at)}, trusted=trusted, since=T0 - DAY)
    assert bool(kept) == stops


def test_the_property_names_its_writer() -> None:
    """``by`` round-trips through the property's JSON; an old property has none."""
    state = BotState(by=WrittenBy("abc123", T0))
    assert state.to_json()["by"] == {"installation": "abc123", "at": "2026-11-02T09:00:00+00:00"}
    assert BotState.from_json(state.to_json()).by == WrittenBy("abc123", T0)
    assert BotState.from_json({"v": 1, "policies": {}}).by is None
    with pytest.raises(ValueError, match="'by'"):
        BotState.from_json({"v": 1, "policies": {}, "by": "abc123"})


def test_sightings_are_kept_across_cycles(store_target: str) -> None:
    """What was seen survives in the store (an incremental cycle may not read it again);
    the installation id is made once and shared by every process on the store."""
    store = Store.open(store_target)
    again = Store.open(store_target)
    try:
        assert store.installation_id == again.installation_id
        actors = Actors.load(store, trusted=frozenset(), window=DAY)
        actors.observe("ACME-1", BotState(by=WrittenBy("theirs", T0)))
        actors.save(store, T0)
        later = Actors.load(again, trusted=frozenset(), window=DAY)
        assert set(later.active(T0 + timedelta(hours=1))) == {"theirs"}
        assert later.halted.is_set()
        assert "HANDOFF_GUARD_TRUSTED_INSTALLATIONS=theirs" in (later.reason or "")
        assert Actors.load(again, trusted=frozenset(), window=DAY).active(T0 + 2 * DAY) == {}
    finally:
        store.close()
        again.close()


def _puts(sandbox: Sandbox) -> list[str]:
    return [r["path"] for r in sandbox.requests() if r["method"] == "PUT"]


def test_another_installation_stops_writes_until_confirmed(
    cli: Cli, demo_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Store A acts; an hour later store B (its own installation) finds A's writes: it writes
    nothing, exits 6 naming A and how to confirm it (``revert`` too), and its service is not
    ready (``another_actor``, gauge 1). Confirmed, B runs clean; once A's writes are older than the
    journal window (A was removed), B writes the next step: no comment twice."""
    first, second = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    code, out, err = cli("run", "--once", HANDOFF_GUARD_STATE=first)
    assert code == EXIT_OK, err
    assert json.loads(out.strip().splitlines()[-1])["actions_applied"] > 0
    ours, theirs = Store.open(first), Store.open(second)
    a_id, b_id = ours.installation_id, theirs.installation_id
    ours.close()
    theirs.close()

    demo_sandbox.advance("1h")
    demo_sandbox.clear_requests()
    code, out, err = cli("run", "--once", HANDOFF_GUARD_STATE=second)
    assert code == EXIT_ANOTHER_ACTOR, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert f"HANDOFF_GUARD_TRUSTED_INSTALLATIONS={a_id}" in summary["another_actor"]
    assert f"this installation ({b_id})" in summary["another_actor"]
    assert _puts(demo_sandbox) == []

    env = worker_env(demo_sandbox, tmp_path, second, HANDOFF_GUARD_HTTP_PORT="0")
    service = WorkerProcess(["run"], env, name="b")
    try:
        url = service.wait_for("health.listening")["url"]
        service.wait_for("cycle.finished")
        assert service.count("another_actor") >= 1
        ready = requests.get(f"{url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "another_actor"
        metrics = requests.get(f"{url}/metrics", timeout=5).text
        assert "handoff_guard_another_actor 1.0" in metrics
        assert service.stop() == EXIT_OK
    finally:
        service.close()
    assert _puts(demo_sandbox) == []

    code, out, err = cli("revert", "ACME-1", "--reason", "Lee Okafor", HANDOFF_GUARD_STATE=second)
    assert code == EXIT_ANOTHER_ACTOR
    assert f"HANDOFF_GUARD_TRUSTED_INSTALLATIONS={a_id}" in err
    assert _puts(demo_sandbox) == []

    code, out, err = cli("run", "--once", HANDOFF_GUARD_STATE=second,
                         HANDOFF_GUARD_TRUSTED_INSTALLATIONS=f"someone,{a_id}")
    assert code == EXIT_OK, err
    assert json.loads(out.strip().splitlines()[-1])["another_actor"] is None

    demo_sandbox.advance("3d")  # A wrote nothing since: older than the window; a step is due
    code, out, err = cli("run", "--once", HANDOFF_GUARD_STATE=second,
                         HANDOFF_GUARD_TRUSTED_INSTALLATIONS="")
    assert code == EXIT_OK, err
    assert _puts(demo_sandbox)
    bot = demo_sandbox.site()["site"]["bot"]["name"]
    for issue in demo_sandbox.site()["issues"]:
        bodies = [c["body"] for c in issue.get("comments") or () if c.get("author") == bot]
        assert len(bodies) == len(set(bodies)), issue["key"]

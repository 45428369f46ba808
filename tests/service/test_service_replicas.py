"""Two replicas, one actor: real ``python -m worker`` processes sharing one store (SQLite file
or PostgreSQL) against the sandbox over HTTP; comments counted on the site afterwards."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests

from tests.service.conftest import Cli
from tests.service.replica_support import (
    WorkerProcess,
    acted_site,
    bot_comments,
    unlimited_policies,
    worker_env,
)
from worker.exits import EXIT_LEASE_HELD, EXIT_OK
from worker.sandbox import Sandbox
from worker.state.lease import Lease
from worker.state.store import Store


def _leader_and_standby(a: WorkerProcess, b: WorkerProcess) -> tuple[WorkerProcess,
                                                                       WorkerProcess]:
    """Which of two services took the lease (the other logs ``lease.standby``)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for one, other in ((a, b), (b, a)):
            if one.count("lease.acquired"):
                return one, other
        time.sleep(0.05)
    raise AssertionError("neither service took the lease")


def _health(proc: WorkerProcess) -> dict[str, object]:
    url = proc.wait_for("health.listening")["url"]
    body: dict[str, object] = requests.get(f"{url}/healthz", timeout=5).json()
    return body


def _metric(proc: WorkerProcess, name: str) -> float:
    url = proc.wait_for("health.listening")["url"]
    for line in requests.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def test_two_services_share_one_postgres_store(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 acted tickets, two services on one PostgreSQL store: one leads and writes, the
    other stays up as a standby saying who leads; exactly one comment per ticket."""
    site, acted = acted_site(monkeypatch, tickets=400)
    assert len(acted) == 300
    unlimited_policies(tmp_path)
    with Sandbox.start(site) as sandbox:
        env = worker_env(sandbox, tmp_path, postgres_url, HANDOFF_GUARD_HTTP_PORT="0")
        a = WorkerProcess(["run"], env, name="a")
        b = WorkerProcess(["run"], env, name="b")
        try:
            leader, standby = _leader_and_standby(a, b)
            holder = leader.wait_for("lease.acquired")["holder"]
            seen = standby.wait_for("lease.standby")
            assert seen["holder"] == holder
            leader.wait_for("cycle.finished", timeout_s=120)
            health = _health(standby)
            assert (health["status"], health["leader"], health["holder"]) == ("ok", False, holder)
            assert _health(leader)["leader"] is True
            assert (_metric(leader, "handoff_guard_leader"),
                    _metric(standby, "handoff_guard_leader")) == (1.0, 0.0)
            # the standby first: once the leader stops, it releases and the standby leads
            assert standby.stop() == EXIT_OK
            assert leader.stop() == EXIT_OK
        finally:
            a.close()
            b.close()
        assert standby.count("cycle.started") == 0
        comments = bot_comments(sandbox)
    assert set(comments) == acted
    assert set(comments.values()) == {1}


#: when the leader is killed: (log event, how many of them seen); the first three run by
#: default, all ten with HG_LEASE_KILLS=10 (each costs a few seconds)
KILL_MOMENTS = [
    ("action.applied", 1),
    ("action.applied", 30),
    ("cycle.planned", 1),
    ("lease.acquired", 1),
    ("cycle.read", 1),
    ("action.applied", 5),
    ("action.applied", 15),
    ("action.applied", 22),
    ("action.applied", 40),
    ("action.applied", 55),
]
KILLS = int(os.environ.get("HG_LEASE_KILLS", "3"))


@pytest.mark.slow
@pytest.mark.parametrize(("event", "times"), KILL_MOMENTS[:KILLS])
def test_kill_9_of_the_leader_mid_cycle(
    event: str, times: int, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kill -9`` of the leader: the standby takes the lease within its period and finishes
    the cycle; the writes in flight at the kill are held back, then settled by a later run
    (their state read first): one comment per ticket, none lost, none twice."""
    site, acted = acted_site(monkeypatch, tickets=80)
    unlimited_policies(tmp_path)
    with Sandbox.start(site) as sandbox:
        sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 40}])
        env = worker_env(sandbox, tmp_path, postgres_url)
        a = WorkerProcess(["run"], env, name="a")
        b = WorkerProcess(["run"], env, name="b")
        try:
            leader, standby = _leader_and_standby(a, b)
            leader.wait_for(event, times=times)
            leader.kill()
            # The standby holds the lease within a period of the kill: taken over by its
            # watcher (``lease.took_over``) or, on a loaded machine where the 2 s lease of the
            # leader lapsed before the kill, by its own scheduled cycle; either way it logs
            # ``lease.acquired`` with its holder.
            standby.wait_for("lease.acquired", timeout_s=30)
            standby.wait_for("cycle.finished", timeout_s=120)
            assert standby.stop() == EXIT_OK
        finally:
            a.close()
            b.close()
        # What was in flight at the kill may still land: held back for the write timeout
        # plus a margin (site clock). Later, a run reads those tickets' state before writing.
        sandbox.clear_faults()
        sandbox.advance("3m")
        later = WorkerProcess(["run", "--once"], env, name="later")
        assert later.finish() == EXIT_OK, later.events[-5:]
        comments = bot_comments(sandbox)
    assert set(comments) == acted
    assert set(comments.values()) == {1}


def test_two_run_once_on_one_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second ``run --once`` while the first holds the lease exits 5 naming the holder and
    writes nothing; the first acts (stopped early here, a third run finishes after it):
    one comment per ticket."""
    site, acted = acted_site(monkeypatch, tickets=40)
    unlimited_policies(tmp_path)
    state = str(tmp_path / "var" / "state.db")
    with Sandbox.start(site) as sandbox:
        # slow writes, one at a time: the first run is still writing when the second asks
        sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 300}])
        env = worker_env(sandbox, tmp_path, state, HANDOFF_GUARD_WRITES_IN_FLIGHT="1")
        first = WorkerProcess(["run", "--once"], env, name="first")
        second: WorkerProcess | None = None
        try:
            holder = first.wait_for("lease.acquired")["holder"]
            second = WorkerProcess(["run", "--once"], env, name="second")
            code = second.finish()
            assert code == EXIT_LEASE_HELD
            message = "".join(str(e.get("text", "")) for e in second.events)
            assert f"held by {holder}" in message
            assert second.count("cycle.started") == 0
            assert first.count("cycle.finished") == 0  # the second asked mid-cycle
            assert first.stop() == EXIT_OK  # SIGTERM: the write in hand finishes
        finally:
            first.close()
            if second is not None:
                second.close()
        sandbox.clear_faults()
        third = WorkerProcess(["run", "--once"], env, name="third")
        assert third.finish() == EXIT_OK, third.events[-8:]
        done = [json.loads(p.stdout.strip().splitlines()[-1])["outcomes"] for p in (first, third)]
        assert done[0].get("applied", 0) + done[1].get("applied", 0) == len(acted)
        comments = bot_comments(sandbox)
    assert set(comments) == acted
    assert set(comments.values()) == {1}


def test_revert_and_run_once_wait_for_no_one(cli: Cli, tmp_path: Path) -> None:
    """While another process holds the lease, ``revert`` and ``run --once`` exit 5 and say
    who holds it until when; a dry run needs no lease."""
    store = Store.open(tmp_path / "var" / "state.db")
    other = Lease(store, period_s=60, holder="replica-2:4242:feed")
    assert other.acquire()
    try:
        code, _, err = cli("run", "--once")
        assert code == EXIT_LEASE_HELD
        assert "held by replica-2:4242:feed (fencing 1) until " in err
        code, _, err = cli("revert", "ACME-1", "--reason", "Lee Okafor")
        assert code == EXIT_LEASE_HELD
        assert "held by replica-2:4242:feed" in err
        code, _, err = cli("run", "--once", "--dry-run")
        assert code == EXIT_OK, err
    finally:
        other.release()
        store.close()

"""One actor, whatever happens: real ``python -m worker run`` services on one PostgreSQL store,
the sandbox over HTTP, and a TCP proxy between a service and the database.

Each trial counts, on the site afterwards, the duplicate comments and the acted tickets left
without one (after a later ``run --once`` settles what was held back), and how many replicas
said ``leader: true`` in the same round of probes. ``make test`` runs one trial of each kind;
``make trials`` (``HG_ONE_ACTOR_TRIALS=all``) repeats the pauses and the cuts at every moment
(10 pauses, 5 refused and 5 black-holed stores).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest
import sqlalchemy as sa

from tests.service.one_actor_support import (
    ALL_TRIALS,
    LEASE_S,
    LeaderWatch,
    TrialResult,
    database_url,
    drop_database,
    probe,
    proxied,
    recreate_database,
    tally,
)
from tests.service.replica_support import (
    WorkerProcess,
    acted_site,
    unlimited_policies,
    worker_env,
)
from tests.service.service_support import until
from tests.service.tcp_proxy import TcpProxy
from worker.exits import EXIT_OK
from worker.sandbox import Sandbox

#: after how many more applied writes (once the standby is up) the leader is paused or cut,
#: trial by trial
MOMENTS = [5, 14, 9, 2, 12, 7, 1, 11, 4, 10]
PAUSES = MOMENTS if ALL_TRIALS else MOMENTS[:1]
#: (how, moment): ``make test`` runs one black-holed leader; all trials: 5 refused and 5
#: black-holed
PARTITIONS = ([(how, m) for how in ("refuse", "black-hole") for m in MOMENTS[:5]]
              if ALL_TRIALS else [("black-hole", MOMENTS[0])])

pytestmark = pytest.mark.slow


def _env(sandbox: Sandbox, tmp_path: Path, state: str) -> dict[str, str]:
    # 12 writes a second: the leader is still writing when the standby has looked
    return worker_env(sandbox, tmp_path, state, HANDOFF_GUARD_LEASE_S=LEASE_S,
                      HANDOFF_GUARD_HTTP_PORT="0", HANDOFF_GUARD_WRITE_RATE="12",
                      PYTHONFAULTHANDLER="1")


@contextmanager
def _pair(env_a: dict[str, str], env_b: dict[str, str]
          ) -> Iterator[tuple[WorkerProcess, WorkerProcess, dict[str, str]]]:
    """Two services started together: (leader, standby, the leader's environment) once one
    took the lease and the other has looked at it; both gone after the block."""
    a = WorkerProcess(["run"], env_a, name="a")
    b = WorkerProcess(["run"], env_b, name="b")
    try:
        deadline = time.monotonic() + 60
        while not (a.count("lease.acquired") or b.count("lease.acquired")):
            assert time.monotonic() < deadline, "neither service took the lease"
            time.sleep(0.05)
        leader, standby = (a, b) if a.count("lease.acquired") else (b, a)
        standby.wait_for("lease.standby", timeout_s=60)
        yield leader, standby, env_a if leader is a else env_b
    finally:
        a.close()
        b.close()


def _result(trial: str, sandbox: Sandbox, env: dict[str, str], acted: frozenset[str],
            watch: LeaderWatch) -> TrialResult:
    """Settle with a later run, count what is on the site, record the figures."""
    _settle(sandbox, env)
    duplicates, lost = tally(sandbox, acted)
    result = TrialResult(trial, duplicates, lost, watch.max_leaders)
    result.record()
    return result


def _more_writes(proc: WorkerProcess, more: int) -> None:
    """Wait until ``proc`` applied ``more`` writes beyond those seen so far."""
    proc.wait_for("action.applied", times=proc.count("action.applied") + more)


def _settle(sandbox: Sandbox, env: dict[str, str]) -> None:
    """A later ``run --once``, past the hold on writes that may have been in flight."""
    sandbox.clear_faults()
    sandbox.advance("3m")
    later = WorkerProcess(["run", "--once"], env, name="later")
    assert later.finish() == EXIT_OK, later.events[-8:]


def _waited(check: Callable[[], bool], *, timeout_s: float) -> bool:
    """Whether ``check`` came true within ``timeout_s`` (the trial records its figures either
    way, then asserts)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _stop(*procs: WorkerProcess) -> list[int]:
    """SIGTERM to all at once; their exit codes (a process still running after 20 s fails
    the trial with its last log lines)."""
    for proc in procs:
        if proc.proc.poll() is None:
            proc.proc.terminate()
    codes = []
    for proc in procs:
        try:
            codes.append(proc.finish(timeout_s=20))
        except subprocess.TimeoutExpired:
            # faulthandler (PYTHONFAULTHANDLER) prints every thread's stack on SIGABRT
            proc.proc.send_signal(signal.SIGABRT)
            proc.proc.wait(timeout=10)
            time.sleep(0.5)
            stacks = "".join(str(e.get("text", "")) for e in proc.events if e.get("event") == "raw")
            raise AssertionError(f"{proc.name} still ran 20 s after SIGTERM: "
                                 f"{proc.events[-6:]}\n{stacks[-6000:]}") from None
    return codes


def _finished_ok(*procs: WorkerProcess, after: int = 0) -> bool:
    return any(e.get("event") == "cycle.finished" and e.get("status") == "ok"
               for p in procs for e in p.events[after:])


@pytest.fixture
def pg_port(postgres_url: str) -> int:
    """The port PostgreSQL listens on."""
    return sa.make_url(postgres_url).port or 5432


@pytest.fixture
def proxies(pg_port: int) -> Iterator[tuple[TcpProxy, TcpProxy]]:
    """Two proxies to PostgreSQL that the test can cut, one per service."""
    made = TcpProxy("127.0.0.1", pg_port), TcpProxy("127.0.0.1", pg_port)
    yield made
    for one in made:
        one.close()


@contextmanager
def _proxied_pair(sandbox: Sandbox, tmp_path: Path, postgres_url: str,
                  proxies: tuple[TcpProxy, TcpProxy]
                  ) -> Iterator[tuple[WorkerProcess, WorkerProcess, TcpProxy, TcpProxy]]:
    """Two services, each through its own proxy: (leader, standby, leader's proxy,
    standby's proxy)."""
    envs = [_env(sandbox, tmp_path, proxied(postgres_url, p.port)) for p in proxies]
    with _pair(envs[0], envs[1]) as (leader, standby, env):
        mine, other = proxies if env is envs[0] else proxies[::-1]
        yield leader, standby, mine, other


@pytest.mark.parametrize("moment", PAUSES)
def test_pause_of_the_leader_mid_writes(
    moment: int, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGSTOP of the leader mid-writes, for longer than its lease (the site's clock moves on
    2 minutes meanwhile, as it does on a real site during a long pause and a long cycle),
    then SIGCONT: the standby took over; the woken leader sends none of the writes it had
    already checked (``lease_deadline``); its in-flight tickets are held, then settled by a
    later run: no duplicate, none lost, never two leaders."""
    site, acted = acted_site(monkeypatch, tickets=100)
    unlimited_policies(tmp_path)
    with Sandbox.start(site) as sandbox:
        sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 40}])
        env = _env(sandbox, tmp_path, postgres_url)
        with _pair(env, env) as (leader, standby, _), \
                LeaderWatch([leader, standby]).running() as watch:
            _more_writes(leader, moment)
            os.kill(leader.proc.pid, signal.SIGSTOP)
            try:
                sandbox.advance("2m")
                standby.wait_for("lease.took_over", timeout_s=30)
                standby.wait_for("cycle.finished", timeout_s=60)
            finally:
                os.kill(leader.proc.pid, signal.SIGCONT)
            leader.wait_for("cycle.finished", timeout_s=60)
            time.sleep(0.5)  # the woken leader answers the probes
            assert _stop(standby, leader) == [EXIT_OK, EXIT_OK]
        result = _result(f"pause-{moment}", sandbox, env, acted, watch)
    assert (result.duplicates, result.lost, result.max_leaders <= 1) == (0, 0, True)


@pytest.mark.parametrize(("how", "moment"), PARTITIONS)
def test_leader_cut_from_the_store(
    how: Literal["refuse", "black-hole"], moment: int, postgres_url: str,
    proxies: tuple[TcpProxy, TcpProxy], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The leader alone loses PostgreSQL mid-writes (connections refused, or a link that
    drops everything) while the standby keeps its own: the standby takes over; the old leader
    is not ready and not leader within a lease period, and sends none of the writes stuck
    behind its journal once the link is back: no duplicate, none lost, never two leaders."""
    site, acted = acted_site(monkeypatch, tickets=100)
    unlimited_policies(tmp_path)
    with Sandbox.start(site) as sandbox:
        sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 40}])
        with _proxied_pair(sandbox, tmp_path, postgres_url, proxies) as (
                leader, standby, cut, _), LeaderWatch([leader, standby]).running() as watch:
            _more_writes(leader, moment)
            cut_at = time.monotonic()
            # Cut until the standby writes (well inside the journal's 15 s retry window, so
            # the old leader's stuck journal write gets through once the link is back).
            with cut.cut(how):
                standby.wait_for("lease.took_over", timeout_s=30)
                standby.wait_for("action.applied", timeout_s=30)
                _waited(lambda: watch.saw(leader.name, status=503, since=cut_at),
                        timeout_s=2 * float(LEASE_S))
            standby.wait_for("cycle.finished", timeout_s=60)
            leader.wait_for("cycle.finished", timeout_s=60)
            time.sleep(0.5)
            assert _stop(standby, leader) == [EXIT_OK, EXIT_OK]
        result = _result(f"{how}-{moment}", sandbox, _env(sandbox, tmp_path, postgres_url),
                         acted, watch)
    assert (result.duplicates, result.lost, result.max_leaders <= 1) == (0, 0, True)
    assert watch.saw(leader.name, status=503, reason="store_unreachable", since=cut_at)


def test_both_replicas_cut_from_the_store(
    postgres_url: str, proxies: tuple[TcpProxy, TcpProxy], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both replicas lose PostgreSQL (black hole) mid-writes: both say not ready
    (``store_unreachable``) within a lease period and neither says leader; once the link is
    back they are ready again and the work finishes: no duplicate, none lost."""
    site, acted = acted_site(monkeypatch, tickets=100)
    unlimited_policies(tmp_path)
    with Sandbox.start(site) as sandbox:
        sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 40}])
        with _proxied_pair(sandbox, tmp_path, postgres_url, proxies) as (
                leader, standby, mine, other), \
                LeaderWatch([leader, standby]).running() as watch:
            names = (leader.name, standby.name)
            _more_writes(leader, 3)
            cut_at = time.monotonic()
            with mine.cut("black-hole"), other.cut("black-hole"):
                unready = _waited(lambda: all(
                    watch.saw(n, status=503, reason="store_unreachable", since=cut_at)
                    for n in names), timeout_s=3 * float(LEASE_S))
                unready_at = time.monotonic()
                time.sleep(float(LEASE_S))
                leaders_cut = [body.get("leader") for n in names
                               for at, _s, body in watch.answers[n] if at > unready_at]
            healed_at = time.monotonic()
            ready_again = _waited(lambda: all(watch.saw(n, status=200, since=healed_at)
                                              for n in names), timeout_s=30)
            assert _stop(standby, leader) == [EXIT_OK, EXIT_OK]
        result = _result("both-cut", sandbox, _env(sandbox, tmp_path, postgres_url), acted,
                         watch)
    assert (result.duplicates, result.lost, result.max_leaders <= 1) == (0, 0, True)
    assert (unready, True in leaders_cut, ready_again) == (True, False, True)


def test_database_recreated_under_running_replicas(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database is dropped and made again, empty, while two services run and the leader
    writes: they make the schema again and carry on (one leads, its cycle ends ok), and the
    tickets are written once each: no duplicate, none lost."""
    name = f"hg_recreate_{uuid.uuid4().hex[:8]}"
    recreate_database(postgres_url, name)
    site, acted = acted_site(monkeypatch, tickets=100)
    unlimited_policies(tmp_path)
    try:
        with Sandbox.start(site) as sandbox:
            sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 40}])
            env = _env(sandbox, tmp_path, database_url(postgres_url, name))
            with _pair(env, env) as (leader, standby, _), \
                    LeaderWatch([leader, standby]).running() as watch:
                _more_writes(leader, 3)
                seen = len(leader.events), len(standby.events)
                recreate_database(postgres_url, name)
                carried_on = _waited(lambda: _finished_ok(leader, after=seen[0])
                                     or _finished_ok(standby, after=seen[1]), timeout_s=60)
                live = [probe(one, "/livez") for one in (leader, standby)]
                assert _stop(standby, leader) == [EXIT_OK, EXIT_OK]
            result = _result("recreated", sandbox, env, acted, watch)
    finally:
        drop_database(postgres_url, name)
    assert (result.duplicates, result.lost, result.max_leaders <= 1) == (0, 0, True)
    assert carried_on
    assert [None if found is None else found[0] for found in live] == [200, 200]


def test_database_unreachable_at_start(
    postgres_url: str, proxies: tuple[TcpProxy, TcpProxy], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``run`` started while PostgreSQL refuses connections stays up: ``/livez`` 200,
    ``/readyz`` 503 ``store_unreachable``; once the database answers it opens the store and
    runs its cycle: every acted ticket commented once."""
    site, acted = acted_site(monkeypatch, tickets=40)
    unlimited_policies(tmp_path)
    proxy = proxies[0]
    with Sandbox.start(site) as sandbox:
        proxy.refuse()
        env = _env(sandbox, tmp_path, proxied(postgres_url, proxy.port))
        service = WorkerProcess(["run"], env, name="service")
        try:
            live = until(lambda: probe(service, "/livez"), timeout_s=30)
            ready = probe(service)
            assert live[0] == 200
            assert ready is not None
            assert (ready[0], ready[1]["reason"]) == (503, "store_unreachable")
            time.sleep(1.5)  # a retry or two against a store still down
            assert service.proc.poll() is None
            proxy.heal()
            service.wait_for("cycle.finished", timeout_s=60)
            until(lambda: ((found := probe(service)) and found[0] == 200 and found) or None,
                  timeout_s=30)
            assert service.stop() == EXIT_OK
        finally:
            service.close()
        duplicates, lost = tally(sandbox, acted)
    TrialResult("unreachable-at-start", duplicates, lost, 1).record()
    assert (duplicates, lost) == (0, 0)

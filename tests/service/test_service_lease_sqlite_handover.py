"""Three services, one SQLite file, a handover in between: A leads, B waits, A stops, B takes
over, then C starts while B leads. Real ``python -m worker run`` processes against the sandbox;
every ``lease.acquired`` must carry a new fencing number, and C must stay a standby.

The migration lock once flocked the database file itself; closing that descriptor dropped the
process's SQLite locks on the file, A's exit then deleted the WAL under B, and C took the lease
with fencing 2 while B still held fencing 2 in a log no one else read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.service.replica_support import WorkerProcess, acted_site, unlimited_policies, worker_env
from worker.exits import EXIT_OK
from worker.sandbox import Sandbox


def _fencings(proc: WorkerProcess) -> list[int]:
    return [int(e["fencing"]) for e in proc.events if e.get("event") == "lease.acquired"]


def test_a_service_started_after_a_handover_stays_a_standby(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A -> B (standby) -> stop A -> B acquires fencing 2 -> start C: C waits (fencing 1, 2,
    and nothing else while B leads)."""
    site, _acted = acted_site(monkeypatch, tickets=20)
    unlimited_policies(tmp_path)
    state = str(tmp_path / "var" / "state.db")
    with Sandbox.start(site) as sandbox:
        env = worker_env(sandbox, tmp_path, state)
        a = WorkerProcess(["run"], env, name="a")
        procs = [a]
        try:
            a.wait_for("lease.acquired")
            b = WorkerProcess(["run"], env, name="b")
            procs.append(b)
            b.wait_for("lease.standby")
            assert a.stop() == EXIT_OK
            b.wait_for("lease.acquired")
            c = WorkerProcess(["run"], env, name="c")
            procs.append(c)
            c.wait_for("service.started")
            time.sleep(3)  # more than one period: C keeps looking while B renews
            assert b.stop() == EXIT_OK
            assert c.stop() == EXIT_OK
        finally:
            for proc in procs:
                proc.close()
    seen = {p.name: _fencings(p) for p in procs}
    assert seen["a"] == [1]
    assert seen["b"] == [2]
    # C either never led or took over after B stopped, with a new number
    assert seen["c"] in ([], [3]), seen

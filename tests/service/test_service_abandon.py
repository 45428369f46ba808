"""Issue 15, finding 2: a service that gives up on a write at shutdown records it as
"unknown", never as done or not done, and the next run does not send it again blindly."""

from __future__ import annotations

import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.service.service_support import DEMO_SITE, PYTHON, ROOT, subprocess_env
from tests.service.test_service_shutdown import STOP_BOUND_S, _pump, _wait_for
from worker.sandbox import Sandbox
from worker.state.lease import Fence, Lease
from worker.state.store import Store

#: longer than the service's stop bound: the write is still running when it gives up
STUCK_MS = 25_000


def test_a_write_abandoned_at_shutdown_is_recorded_as_unknown(config_dir: Path,
                                                              tmp_path: Path) -> None:
    """SIGTERM while a write hangs: the service exits within its bound, the cycle is
    recorded as stopped with that write "unknown" and the earlier ones "applied"."""
    with Sandbox.start(DEMO_SITE) as sandbox:
        sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 300}])
        # One writer: exactly one write is in hand when the signal comes.
        env = subprocess_env(sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0",
                             HANDOFF_GUARD_WRITES_IN_FLIGHT="1")
        proc = subprocess.Popen([PYTHON, "-m", "worker", "run"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: queue.Queue[dict[str, Any]] = queue.Queue()
        assert proc.stderr is not None
        pump = threading.Thread(target=_pump, args=(proc.stderr, lines), daemon=True)
        pump.start()
        seen: list[dict[str, Any]] = []
        try:
            _wait_for(lines, seen, "action.applied", timeout_s=30)
            sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": STUCK_MS}])
            time.sleep(1.0)  # the write in hand finishes; the next one hangs
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=STOP_BOUND_S + 5)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pump.join(timeout=5)
        while not lines.empty():
            seen.append(lines.get_nowait())
    assert code == 0
    stopped = next(e for e in seen if e.get("event") == "service.stopped")
    assert stopped["cycle_in_hand"] == "abandoned"
    store = Store.open(tmp_path / "var" / "state.db")
    (cycle,) = store.cycles()
    assert cycle.status == "stopped"
    assert "abandoned" in (cycle.error or "")
    [history] = store.history(limit=1)
    statuses = [o.status for o in history.outcomes]
    assert statuses.count("unknown") == 1
    assert statuses.count("applied") >= 1
    # The lease was released all the same (a `run --once` now need not wait a period), saying
    # a write may be in flight: the next holder holds the tickets journaled so back for the
    # request timeout.
    successor = Lease(store, period_s=60, holder="next:1:aa")
    assert successor.acquire()
    assert successor.predecessor_ended is not None
    assert Fence(successor, request_timeout_s=30).settle_left_s() > 20
    store.close()

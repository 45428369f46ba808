"""SIGTERM on a real `python -m worker run`: finish the issue in hand, record, exit in 10 s."""

from __future__ import annotations

import ctypes
import json
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import requests

from tests.service.service_support import PYTHON, ROOT, subprocess_env
from worker.sandbox import Sandbox
from worker.state.store import Store

STOP_BOUND_S = 10.0


def _pump(stream: IO[str], lines: queue.Queue[dict[str, Any]]) -> None:
    for raw in stream:
        try:
            lines.put(json.loads(raw))
        except json.JSONDecodeError:
            lines.put({"event": "raw", "text": raw})


def _start(sandbox: Sandbox, config_dir: Path, tmp_path: Path
           ) -> tuple[subprocess.Popen[str], queue.Queue[dict[str, Any]], threading.Thread]:
    """A real `python -m worker run` against ``sandbox``, its log lines pumped into a queue."""
    env = subprocess_env(sandbox, config_dir, tmp_path, HANDOFF_GUARD_HTTP_PORT="0")
    proc = subprocess.Popen(
        [PYTHON, "-m", "worker", "run"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    assert proc.stderr is not None
    pump = threading.Thread(target=_pump, args=(proc.stderr, lines), daemon=True)
    pump.start()
    return proc, lines, pump


def _wait_for(lines: queue.Queue[dict[str, Any]], seen: list[dict[str, Any]], event: str,
              *, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            item = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        seen.append(item)
        if item.get("event") == event:
            return item
    raise AssertionError(f"no {event!r} within {timeout_s}s; saw {[e.get('event') for e in seen]}")


def test_sigterm_finishes_the_issue_in_hand_and_exits_in_time(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """Mid-cycle SIGTERM: the write in flight completes, the rest are 'stopped', exit 0 < 10 s."""
    demo_sandbox.add_faults([{"method": "PUT", "path": "/issue/", "latency_ms": 600}])
    proc, lines, pump = _start(demo_sandbox, config_dir, tmp_path)
    seen: list[dict[str, Any]] = []
    try:
        listening = _wait_for(lines, seen, "health.listening", timeout_s=30)
        _wait_for(lines, seen, "action.applied", timeout_s=30)
        health = requests.get(f"{listening['url']}/healthz", timeout=5)
        assert health.status_code == 200  # the first cycle is under way, within its bound
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=STOP_BOUND_S + 5)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 0
    assert elapsed < STOP_BOUND_S
    pump.join(timeout=5)  # the process exited: its stderr is at EOF
    while not lines.empty():
        seen.append(lines.get_nowait())
    events = [e.get("event") for e in seen]
    assert "service.stopping" in events
    stopped = next(e for e in seen if e.get("event") == "service.stopped")
    assert stopped["cycle_in_hand"] == "finished"
    assert stopped["signal"] == "SIGTERM"
    finished = next(e for e in seen if e.get("event") == "cycle.finished")
    assert finished["status"] == "stopped"
    applied = finished["outcomes"].get("applied", 0)
    assert 1 <= applied < 14
    assert finished["outcomes"].get("stopped", 0) == 14 - applied

    commented = [
        i["key"] for i in demo_sandbox.site()["issues"]
        if any(c.get("author") == demo_sandbox.bot_name for c in i.get("comments", []))
    ]
    assert len(commented) == applied  # every write either landed whole or was not sent
    store = Store.open(tmp_path / "var" / "state.db")
    (cycle,) = store.cycles()
    assert cycle.status == "stopped"
    assert store.table_counts()["outcomes"] == 14


#: tgkill(2): a signal to one thread of a process (the process-wide kill lets the kernel pick)
_SYS_TGKILL = {"x86_64": 234, "aarch64": 131}


def _signal_thread(pid: int, tid: int, signum: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(_SYS_TGKILL[os.uname().machine], pid, tid, signum) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill({pid}, {tid}) failed")


def test_sigterm_taken_by_another_thread_still_stops_the_service(
    demo_sandbox: Sandbox, config_dir: Path, tmp_path: Path
) -> None:
    """A SIGTERM the kernel hands to a worker thread (a process-directed signal may go to any
    thread) still stops the service in time: the main thread never sleeps without waking."""
    proc, lines, _pump_thread = _start(demo_sandbox, config_dir, tmp_path)
    seen: list[dict[str, Any]] = []
    try:
        _wait_for(lines, seen, "cycle.finished", timeout_s=60)  # the service is idle
        others = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        assert others, "the service runs its scheduler, reload and probe threads"
        sent = time.monotonic()
        _signal_thread(proc.pid, others[0], signal.SIGTERM)
        code = proc.wait(timeout=STOP_BOUND_S + 5)
        elapsed = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (code, elapsed < STOP_BOUND_S) == (0, True)

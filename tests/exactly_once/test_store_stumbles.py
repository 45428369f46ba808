"""Issue 15, finding 8: the audit trail says what Jira received even when the store is
locked for a few seconds in the middle of a cycle."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.exactly_once.conftest import ACTED, example_site
from worker.cycle.runner import CycleRunner
from worker.state.store import Store
from worker.write import journal

#: SQLite's busy timeout for the worker's store in these tests (prod's default is 30 s)
BUSY_TIMEOUT_S = 1
LOCKED_FOR_S = 4.0


@contextmanager
def locked_after(path: Path, rows: int) -> Iterator[threading.Event]:
    """Once the journal holds ``rows`` rows, another process-like connection holds an
    exclusive lock on the database for :data:`LOCKED_FOR_S` seconds."""
    done = threading.Event()
    locked = threading.Event()

    def lock() -> None:
        deadline = time.monotonic() + 30
        con = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        try:
            while time.monotonic() < deadline and not done.is_set():
                try:
                    if con.execute("SELECT count(*) FROM writes").fetchone()[0] >= rows:
                        break
                except sqlite3.OperationalError:
                    pass
                time.sleep(0.01)
            con.execute("BEGIN EXCLUSIVE")
            locked.set()
            time.sleep(LOCKED_FOR_S)
            con.execute("COMMIT")
        finally:
            con.close()

    thread = threading.Thread(target=lock, daemon=True)
    thread.start()
    try:
        yield locked
    finally:
        done.set()
        thread.join(timeout=LOCKED_FOR_S + 35)


def _runner(b: Any, path: Path) -> CycleRunner:
    engine = sa.create_engine(f"sqlite:///{path}",
                              connect_args={"check_same_thread": False,
                                            "timeout": BUSY_TIMEOUT_S})
    # One writer at a time: the lock must land between two issues' journal rows (with four
    # in flight, all three issues are journaled before it can). The journal commits once
    # per write (its intent; the "applied" row goes with the next intent).
    settings = replace(b.settings(state=str(path)), writes_in_flight=1)
    return CycleRunner(settings, Store(engine))


def _recorded(path: Path) -> tuple[int, int, str]:
    con = sqlite3.connect(path)
    try:
        outcomes = con.execute("SELECT count(*) FROM outcomes").fetchone()[0]
        applied, status = con.execute(
            "SELECT actions_applied, status FROM cycles ORDER BY started_at DESC").fetchone()
        return int(outcomes), int(applied or 0), str(status)
    finally:
        con.close()


def _first_write_slow(b: Any) -> None:
    """The first write (ACME-1) takes a while: the lock, taken once its intent is journaled,
    lands before the next write's intent whatever the machine's pace."""
    b.sandbox.add_faults([{"method": "PUT", "path": "/issue/ACME-1$", "latency_ms": 500,
                           "times": 1}])


def test_a_store_locked_mid_cycle_still_records_every_write(bench: Any) -> None:
    """Locked while the first write is in flight, for longer than SQLite's busy timeout:
    the journal retries, every ticket is written once, and the cycle's outcomes and counts
    are recorded."""
    b = bench(example_site("cloud"))
    path = b.tmp / "state.db"
    runner = _runner(b, path)
    _first_write_slow(b)
    with locked_after(path, rows=1) as locked:
        report = runner.run()
    assert locked.is_set()
    assert report.error is None, report.error
    assert b.comment_counts() == dict.fromkeys(ACTED, 1)
    assert _recorded(path) == (3, 3, "ok")


def test_a_store_that_stays_locked_is_its_own_error_kind(bench: Any,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """When the journal cannot be written before a write, that write is not sent; the cycle
    says ``store``, and what Jira did receive is still recorded once the store is back."""
    monkeypatch.setattr(journal, "RETRY_FOR_S", 1.0)
    b = bench(example_site("cloud"))
    path = b.tmp / "state.db"
    runner = _runner(b, path)
    _first_write_slow(b)
    with locked_after(path, rows=1):
        report = runner.run()
    assert report.error_kind == "store"
    counts = b.comment_counts()
    assert set(counts.values()) <= {0, 1}
    posted = sum(counts.values())
    outcomes, applied, status = _recorded(path)
    assert (outcomes, applied, status) == (3, posted, "failed")
    not_sent = [o for o in report.results if o.status == "failed"]
    assert all("nothing sent" in o.detail for o in not_sent)

"""The trials of "one actor, whatever happens": two ``run`` services on one PostgreSQL store
against the sandbox, a leader paused or cut from the store, and what came of it: duplicate
comments, tickets never commented, and how many replicas said ``leader: true`` at once."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import requests
import sqlalchemy as sa

from tests.service.replica_support import WorkerProcess, bot_comments
from worker.sandbox import Sandbox

#: ``all`` (``make trials``): every moment (10 pauses, 5 of each partition); unset: one each
TRIALS_ENV = "HG_ONE_ACTOR_TRIALS"
ALL_TRIALS = os.environ.get(TRIALS_ENV) == "all"
#: a file to append each trial's figures to (JSON lines), for the before/after table
RESULTS_ENV = "HG_ONE_ACTOR_RESULTS"
#: the lease in these trials: long enough for PostgreSQL's 2 s connect timeout floor
LEASE_S = "3"


@dataclass(frozen=True, slots=True)
class TrialResult:
    """What one trial came to."""

    trial: str
    duplicates: int
    lost: int
    max_leaders: int

    def record(self) -> None:
        """Append to :data:`RESULTS_ENV`'s file when set."""
        target = os.environ.get(RESULTS_ENV)
        if target:
            with Path(target).open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(self)) + "\n")


def tally(sandbox: Sandbox, acted: frozenset[str]) -> tuple[int, int]:
    """(duplicate comments, acted tickets with none) on the site now."""
    comments = bot_comments(sandbox)
    duplicates = sum(n - 1 for n in comments.values() if n > 1)
    return duplicates, len(acted - set(comments))


def probe(proc: WorkerProcess, path: str = "/readyz") -> tuple[int, dict[str, object]] | None:
    """One probe answer (status, body), or None when the process does not answer (paused)."""
    url = proc.wait_for("health.listening", timeout_s=30)["url"]
    try:
        answer = requests.get(f"{url}{path}", timeout=0.5)
    except requests.RequestException:
        return None
    body: dict[str, object] = answer.json()
    return answer.status_code, body


class LeaderWatch:
    """Asks every service's ``/readyz`` in rounds (every 50 ms) and remembers the most that
    said ``leader: true`` in one round, and each one's answers."""

    def __init__(self, procs: list[WorkerProcess]) -> None:
        self._procs = procs
        self.max_leaders = 0
        self.answers: dict[str, list[tuple[float, int, dict[str, object]]]] = {
            p.name: [] for p in procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.05):
            leaders = 0
            for proc in self._procs:
                if proc.proc.poll() is not None:
                    continue
                found = probe(proc)
                if found is None:
                    continue
                status, body = found
                self.answers[proc.name].append((time.monotonic(), status, body))
                leaders += body.get("leader") is True
            self.max_leaders = max(self.max_leaders, leaders)

    def saw(self, name: str, *, status: int, reason: str | None = None,
            since: float = 0.0) -> bool:
        """Whether ``name`` answered ``status`` (with ``reason``) after ``since``."""
        return any(at >= since and code == status
                   and (reason is None or body.get("reason") == reason)
                   for at, code, body in self.answers[name])

    @contextmanager
    def running(self) -> Iterator[LeaderWatch]:
        """Watching inside the block."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)


def database_url(base: str, name: str) -> str:
    """``base`` pointing at database ``name`` (no schema option)."""
    url = sa.make_url(base).set(database=name, query={})
    return url.render_as_string(hide_password=False)


def recreate_database(base: str, name: str) -> None:
    """Drop database ``name`` under whoever is connected, and make it again, empty."""
    admin = sa.create_engine(database_url(base, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def drop_database(base: str, name: str) -> None:
    """Drop database ``name`` (test teardown)."""
    admin = sa.create_engine(database_url(base, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def proxied(url: str, port: int) -> str:
    """A PostgreSQL URL through a proxy on loopback ``port``."""
    return sa.make_url(url).set(host="127.0.0.1", port=port).render_as_string(
        hide_password=False)

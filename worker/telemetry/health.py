"""Liveness and readiness as data (served by :mod:`worker.service.probes`).

Two questions, as Kubernetes asks them:

- ``/livez``: is the process working at all (its scheduler and reload threads alive)? It never
  fails on config or Jira trouble: restarting would not fix either, and a restarted worker
  enforces nothing while it starts.
- ``/readyz``: is it doing its job? 200 while the policy file is valid and the last cycle
  succeeded within two schedule intervals, else 503 with a JSON reason (``config_invalid``,
  ``jira_unreachable``, ``auth_failed``, ``last_error``, ``stale``, ``starting``, or
  ``another_actor``).
  ``/healthz`` is the same answer under its older name.

``/metrics`` is Prometheus' text format. Every body goes through
:func:`worker.telemetry.logs.scrub_value`.
The server listens on ``HANDOFF_GUARD_HTTP_HOST`` (loopback unless told otherwise).

Leadership is part of the answer (``leader``, ``holder``, ``fencing``): a standby that finds
the lease held elsewhere is ready while it keeps looking (each look counts as its tick).
``leader`` is read live from the lease at each probe: a replica whose local deadline passed
never says ``leader: true``, whatever its last look said. A service that keeps a lease is
not ready (``store_unreachable``) once the store has not answered for one lease period
(leader and standby alike), and ready again the moment it answers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from worker.telemetry.logs import scrub

log = structlog.get_logger(__name__)

#: error kinds a cycle reports -> the reason /healthz gives
REASONS = {
    "config": "config_invalid",
    "unreachable": "jira_unreachable",
    "auth": "auth_failed",
}


@dataclass(frozen=True, slots=True)
class HealthStatus:
    """What a probe says: ok or not, and why."""

    ok: bool
    reason: str | None
    detail: dict[str, Any]


def liveness(threads: Mapping[str, bool]) -> HealthStatus:
    """Alive while every thread the service needs runs (``name -> alive``); nothing else
    counts: a bad policy file or an unreachable Jira is a readiness matter."""
    stopped = sorted(name for name, alive in threads.items() if not alive)
    detail: dict[str, Any] = {"threads": {name: "alive" if alive else "stopped"
                                          for name, alive in sorted(threads.items())}}
    if stopped:
        return HealthStatus(False, "thread_stopped", {**detail, "stopped": stopped})
    return HealthStatus(True, None, detail)


class Health:
    """Thread-safe record of how the cycles are going (written by the job, read by HTTP)."""

    def __init__(self, *, interval_s: float, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._started = clock()
        self.interval_s = interval_s
        self._last_success: float | None = None
        self._last_error: tuple[str, str] | None = None  # (kind, message)
        self._config_problems: tuple[str, ...] = ()
        #: the policy file in force (None until one loaded)
        self._config_sha256: str | None = None
        #: (leader, holder, fencing) as last seen; None: no lease looked at yet
        self._leadership: tuple[bool, str | None, int | None] | None = None
        self._standby_seen: float | None = None
        self._another_actor: str | None = None
        #: live checks of the lease (see :meth:`watch_store`); None: no lease kept
        self._store: _StoreWatch | None = None

    def watch_store(self, *, leading: Callable[[], bool],
                    contact_age_s: Callable[[], float | None], bound_s: float) -> None:
        """Read at every probe: whether this replica still leads (``leading``: the lease held
        within its local deadline) and how long ago the store last answered
        (``contact_age_s``; None: never). Past ``bound_s`` without an answer: not ready."""
        with self._lock:
            self._store = _StoreWatch(leading, contact_age_s, bound_s)

    def set_leader(self, *, holder: str | None, fencing: int | None, leader: bool) -> None:
        """Who holds the leader lease as this replica last looked, and whether it is us.
        A standby's look is its tick: it is as fresh as its last look, and an error left
        from when it led or from a failed look is no longer its concern."""
        with self._lock:
            self._leadership = (leader, holder, fencing)
            self._standby_seen = None if leader else self._clock()
            if not leader:
                self._last_error = None

    def another_actor(self, detail: str | None) -> None:
        """Another installation writes to the same site (None: no longer seen)."""
        with self._lock:
            self._another_actor = None if detail is None else scrub(detail)

    def set_interval(self, interval_s: float) -> None:
        """The schedule changed (hot reload)."""
        with self._lock:
            self.interval_s = interval_s

    def cycle_succeeded(self) -> None:
        """The last cycle completed (failed actions are not a health problem)."""
        with self._lock:
            self._last_success = self._clock()
            self._last_error = None

    def cycle_failed(self, *, kind: str, message: str) -> None:
        """The last cycle ended in an error of ``kind`` (config, unreachable, auth, error)."""
        with self._lock:
            self._last_error = (kind, scrub(message))

    def config_invalid(self, problems: Iterable[str]) -> None:
        """The policy file on disk is invalid (the last good one keeps running)."""
        with self._lock:
            self._config_problems = tuple(scrub(p) for p in problems)

    def config_valid(self, sha256: str | None = None) -> None:
        """The policy file on disk loaded (``sha256``: its digest, shown by ``/readyz``)."""
        with self._lock:
            self._config_problems = ()
            if sha256 is not None:
                self._config_sha256 = sha256

    def status(self) -> HealthStatus:
        """The readiness verdict (the worst problem first)."""
        with self._lock:
            now = self._clock()
            bound_s = 2 * self.interval_s
            detail: dict[str, Any] = {
                "interval_s": self.interval_s,
                "last_success_age_s": None
                if self._last_success is None
                else round(now - self._last_success, 3),
                # None: no valid policy file has loaded yet, so nothing is enforced
                "config_sha256": None if self._config_sha256 is None
                else self._config_sha256[:12],
            }
            last_success = self._last_success
            watch = self._store
            if self._leadership is not None:
                leader, holder, fencing = self._leadership
                if watch is not None:
                    leader = leader and watch.leading()
                detail.update(leader=leader, holder=holder, fencing=fencing)
                if not leader and self._standby_seen is not None:
                    last_success = max(last_success or 0.0, self._standby_seen)
                    detail["state"] = "standby"
            if self._another_actor is not None:
                detail["another_actor"] = self._another_actor
                return HealthStatus(False, "another_actor", detail)
            if watch is not None:
                age = watch.contact_age_s()
                detail["store_answered_s_ago"] = None if age is None else round(age, 3)
                if age is None or age > watch.bound_s:
                    return HealthStatus(False, "store_unreachable", detail)
            if self._config_problems:
                detail["problems"] = list(self._config_problems)
                return HealthStatus(False, "config_invalid", detail)
            if self._last_error is not None:
                kind, message = self._last_error
                detail["error"] = message
                return HealthStatus(False, REASONS.get(kind, "last_error"), detail)
            if last_success is None:
                if now - self._started <= bound_s:
                    return HealthStatus(True, None, {"state": "starting", **detail})
                return HealthStatus(False, "starting", detail)
            if now - last_success > bound_s:
                return HealthStatus(False, "stale", detail)
            return HealthStatus(True, None, detail)


@dataclass(frozen=True, slots=True)
class _StoreWatch:
    leading: Callable[[], bool]
    contact_age_s: Callable[[], float | None]
    bound_s: float

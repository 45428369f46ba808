"""The thread that keeps a leader lease: it renews the lease while held, and takes it when
free (a standby waiting for a dead leader's row to expire)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
import structlog

from worker.state.lease import Lease

log = structlog.get_logger(__name__)


class Renewer:
    """Keeps a lease in a daemon thread: every third of its period it renews the lease when
    held, or takes it when free (a standby waiting for a dead leader's row to expire).

    ``on_look`` is called after each look (the service reports leadership with it). A context
    manager: around one cycle (``run --once``, ``revert``) or the whole service.
    """

    def __init__(self, held: Lease, *, on_look: Callable[[Lease], None] | None = None,
                 every_s: float | None = None) -> None:
        self._lease = held
        self._on_look = on_look
        self._every_s = every_s or held.period.total_seconds() / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-renewer", daemon=True)

    def _wait_s(self) -> float:
        """A third of the period; a standby looks again the moment the holder's hold ends
        (so it takes over within one period of the holder's last renewal)."""
        free = self._lease.free_in_s
        if self._lease.held or free is None:
            return self._every_s
        return max(0.05, min(self._every_s, free + 0.05))

    def _loop(self) -> None:
        while not self._stop.wait(self._wait_s()):
            try:
                if self._lease.fencing is not None and not self._lease.lost.is_set():
                    self._lease.renew()
                else:
                    self._lease.acquire()
            except sa.exc.SQLAlchemyError as exc:  # the store is down: try again next time
                self._lease.last_error = exc
                log.warning("lease.look_failed", error=type(exc).__name__)
            if self._on_look is not None:
                try:
                    self._on_look(self._lease)
                except Exception as exc:  # reporting must never stop the renewals
                    log.exception("lease.report_failed", error=str(exc))

    def __enter__(self) -> Renewer:
        self._thread.start()
        return self

    def alive(self) -> bool:
        """Whether the renewing thread runs (``/livez`` asks)."""
        return self._thread.is_alive()

    def __exit__(self, *_exc: object) -> None:
        self.stop(timeout_s=self._every_s + 5)

    def stop(self, *, timeout_s: float) -> None:
        """Stop renewing; wait at most ``timeout_s`` for the thread (it may be stuck in a
        store call that a black-holed link stalls)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

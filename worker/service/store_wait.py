"""A store unreachable when the service starts: the probes answer (alive, not ready) while
the store is tried again with backoff, instead of an exit or a hang with no probe at all."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable

import structlog

from worker.service.probes import HealthServer
from worker.state.engine import StoreError
from worker.state.revision import SchemaError
from worker.state.store import Store
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

log = structlog.get_logger(__name__)

#: waits between attempts to open a store unreachable at start: doubling up to the last
STORE_RETRY_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


def wait_for_store(
    open_store: Callable[[], Store],
    health: Health,
    metrics: Metrics,
    *,
    http_port: int | None,
    http_host: str,
    lease_s: float,
) -> tuple[Store | None, HealthServer | None]:
    """Open the store; while it is unreachable, serve the probes (alive, not ready:
    ``store_unreachable``) and try again with backoff (:data:`STORE_RETRY_S`).

    Returns the store and the probes' server when one was started (the service keeps it),
    or ``(None, None)`` when SIGTERM or SIGINT came first. A store that answers but is not
    ours (:class:`~worker.state.revision.SchemaError`) is raised at once: waiting would not help.
    """
    try:
        return open_store(), None
    except StoreError as exc:
        if isinstance(exc.__cause__, SchemaError):
            raise
        error = str(exc)
    server = (None if http_port is None
              else HealthServer(health, metrics, port=http_port, host=http_host).start())
    health.watch_store(leading=lambda: False, contact_age_s=lambda: None, bound_s=lease_s)
    stopping = threading.Event()
    handlers = {sig: signal.signal(sig, lambda *_a: stopping.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for attempt in range(1_000_000):
            wait_s = STORE_RETRY_S[min(attempt, len(STORE_RETRY_S) - 1)]
            log.error("store.unreachable", error=error, attempt=attempt + 1,
                      retry_in_s=wait_s)
            if stopping.wait(wait_s):
                break
            try:
                store = open_store()
            except StoreError as exc:
                if isinstance(exc.__cause__, SchemaError):
                    raise
                error = str(exc)
                continue
            log.info("store.opened", attempts=attempt + 2)
            return store, server
    except BaseException:
        if server is not None:
            server.stop()
        raise
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if server is not None:
        server.stop()
    return None, None

"""The service's side of the leader lease: whether this replica leads, what it reports
about it, the keeper thread that renews it, and letting it go at exit.

A standby that takes the lease over runs a cycle at once (the old leader may have died
mid-cycle). A store whose tables vanished (the database dropped and made again) has them
made again; if that fails, ``/livez`` fails so that the orchestrator restarts the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
import structlog

from worker.state.lease import Lease, bar_after_schema_loss
from worker.state.renewer import Renewer
from worker.state.store import Store, schema_missing
from worker.telemetry.health import Health
from worker.telemetry.metrics import Metrics

log = structlog.get_logger(__name__)


class Leadership:
    """One service's view of its lease (None: a dry run, or a runner that acts alone)."""

    def __init__(
        self,
        lease: Lease | None,
        *,
        store: Store,
        health: Health,
        metrics: Metrics,
        run_now: Callable[[], None],
    ) -> None:
        self.lease = lease
        self.store = store
        self.health = health
        self.metrics = metrics
        #: runs the scheduled cycle at once (after a take-over)
        self.run_now = run_now
        self.keeper: Renewer | None = None
        self.leading = False
        #: the store's schema vanished and could not be made again: ``/livez`` fails
        self.schema_lost: str | None = None

    def leads(self) -> bool:
        """Whether this replica holds the lease now (taking it if free); a standby says who
        holds it and does nothing else."""
        lease = self.lease
        if lease is None:
            return True
        try:
            held = lease.held or lease.acquire()
        except sa.exc.SQLAlchemyError as exc:
            # The store is down: not a failed cycle (readiness says store_unreachable); the
            # keeper keeps looking.
            lease.last_error = exc
            log.warning("lease.look_failed", error=type(exc).__name__)
            held = False
        self.looked(lease, from_job=True)
        if not held:
            row = lease.last_seen
            log.info("lease.standby", holder=None if row is None else row.holder,
                     fencing=None if row is None else row.fencing,
                     until=None if row is None else row.expires_at.isoformat())
        return held

    def standby(self) -> bool:
        """Whether another replica holds the lease as this one last looked."""
        return self.lease is not None and not self.leading

    def lost(self) -> None:
        """The lease was lost between a look and a cycle: a standby now."""
        if self.lease is not None:
            self.looked(self.lease)

    def looked(self, lease: Lease, *, from_job: bool = False) -> None:
        """After each look at the lease: report leadership; a standby that just took the
        lease over runs a cycle at once (the old leader may have died mid-cycle)."""
        if schema_missing(lease.last_error):
            self._remigrate()
        leading = lease.held
        row = lease.last_seen
        self.health.set_leader(holder=None if row is None else row.holder,
                               fencing=None if row is None else row.fencing, leader=leading)
        self.metrics.leader.set(1 if leading else 0)
        # the holder's own number once it holds (the row it saw may predate its acquisition)
        fencing = lease.fencing if leading else None if row is None else row.fencing
        if fencing is not None:
            self.metrics.lease_fencing.set(fencing)
        became = leading and not self.leading
        self.leading = leading
        if not became or from_job:
            return
        log.info("lease.took_over", fencing=lease.fencing)
        self.run_now()

    def _remigrate(self) -> None:
        """The store answers but our tables are gone (the database was dropped and made
        again): make them again; if that fails, ``/livez`` fails so the orchestrator
        restarts the process."""
        log.error("store.schema_missing")
        try:
            revision = self.store.remigrate()
        except Exception as exc:  # any failure here is reported by /livez
            lines = str(exc).strip().splitlines()
            self.schema_lost = f"{type(exc).__name__}: {lines[0] if lines else ''}"
            log.error("store.remigrate_failed", error=self.schema_lost)
            return
        self.schema_lost = None
        lease = self.lease
        barred = lease is not None and bar_after_schema_loss(
            self.store, period_s=lease.period.total_seconds(), name=lease.name)
        log.warning("store.remigrated", revision=revision, lease_barred=barred)

    def keep(self) -> None:
        """Start keeping the lease: readiness reads it live, and the keeper thread renews
        (or takes) it in the background."""
        if self.lease is None:
            return
        self._watch_store(self.lease)
        self.keeper = Renewer(self.lease, on_look=self.looked).__enter__()

    def _watch_store(self, lease: Lease) -> None:
        """Readiness reads the lease live: leader only within its local deadline, and not
        ready once the store has not answered for a lease period (the store was opened just
        before, which counts as its first answer)."""
        opened = lease.clock()

        def contact_age_s() -> float:
            return lease.clock() - (lease.last_contact or opened)

        self.health.watch_store(leading=lambda: lease.held, contact_age_s=contact_age_s,
                                bound_s=lease.period.total_seconds())

    def stop_keeper(self, *, timeout_s: float) -> None:
        """Stop renewing (the lease itself is let go by :meth:`release`)."""
        if self.keeper is not None:
            self.keeper.stop(timeout_s=timeout_s)

    def release(self, *, in_flight: bool, timeout_s: float) -> None:
        """Release the lease within ``timeout_s`` (a stalled store must not hold the exit;
        the write gate closes at once either way)."""
        lease = self.lease
        if lease is None:
            return
        thread = threading.Thread(target=lease.release, kwargs={"in_flight": in_flight},
                                  name="lease-release", daemon=True)
        thread.start()
        thread.join(timeout=timeout_s)
        if thread.is_alive():
            log.warning("lease.release_timed_out", timeout_s=round(timeout_s, 3))

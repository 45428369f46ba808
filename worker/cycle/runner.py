"""The runner: one cycle at a time, under the leader lease when it enforces."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

from worker.cycle.memory import release_freed, tune_allocator
from worker.cycle.report import CycleReport
from worker.cycle.resources import CycleResources
from worker.cycle.run import run_cycle
from worker.state.lease import Fence, LeaseHeldError
from worker.state.renewer import Renewer


class CycleRunner(CycleResources):
    """Runs cycles with what outlives them (see :class:`CycleResources`), never two at once."""

    def run(self, *, dry_run: bool = False, stopping: threading.Event | None = None,
            hint: Sequence[str] | None = None) -> CycleReport:
        """One cycle; never raises (see :mod:`worker.cycle.run`), except
        :class:`~worker.state.lease.LeaseHeldError` when an enforcing cycle cannot take the lease
        (nothing was read or written). ``hint``: read only these tickets (a webhook's)."""
        stop = stopping or threading.Event()
        # Before the cycle starts its threads (the search prefetch, the writers): they share
        # the one arena instead of each keeping its own, and large blocks are always mapped
        # on their own (see worker.cycle.memory).
        tune_allocator()
        with self.cycle_lock:  # the scheduler never overlaps cycles; this guards manual calls too
            try:
                return self._run(dry_run=dry_run, stopping=stop, hint=hint)
            finally:
                # What the cycle freed goes back to the system before the next one allocates.
                release_freed()

    def _run(self, *, dry_run: bool, stopping: threading.Event,
             hint: Sequence[str] | None) -> CycleReport:
        lease = None if dry_run else self.lease
        if lease is None:
            return run_cycle(self, dry_run=dry_run, stopping=stopping, hint=hint)
        if not lease.held and not lease.acquire():
            raise LeaseHeldError(lease.last_seen)
        fence = Fence(lease, request_timeout_s=self.settings.timeout_s)
        with contextlib.ExitStack() as kept:
            if not self.lease_kept:
                kept.enter_context(Renewer(lease))
            kept.enter_context(self.fenced(fence))
            return run_cycle(self, dry_run=dry_run, stopping=stopping, fence=fence, hint=hint)

"""Which recorded runs are cycles: a ``revert`` run is recorded like one (``history`` shows
it) but is an admin's command, not a cycle of the service."""

from __future__ import annotations

from collections.abc import Iterable

from worker.state.records import CycleRecord
from worker.state.tables import REVERT_RUN_PREFIX


def last_successful_cycle(recent: Iterable[CycleRecord]) -> CycleRecord | None:
    """The first of ``recent`` (newest first) that is a cycle and ended well: not a revert run
    (it may run while the service has had no good cycle for hours), not one still running,
    not one that failed."""
    for run in recent:
        if (run.status == "ok" and run.finished_at is not None
                and not run.run_id.startswith(REVERT_RUN_PREFIX)):
            return run
    return None

"""The outcome of a write that was not sent (a stop, a halted writer), and the log events
that name each action of a write (``action.planned``, ``action.applied``)."""

from __future__ import annotations

from typing import Any

import structlog

from worker.model.outcome import Outcome
from worker.model.plan import IssueWrite

log = structlog.get_logger(__name__)


def kinds_of(write: IssueWrite) -> tuple[str, ...]:
    return tuple(action.kind for action in write.actions)


def stopped(write: IssueWrite, halted: str | None) -> Outcome:
    """A write not started: a stop request, or ``halted`` (a lost lease, another actor)."""
    if halted is not None:
        return Outcome(write.issue, "stopped", kinds_of(write), retryable=True,
                       detail=f"{halted}: not written")
    return Outcome(write.issue, "stopped", kinds_of(write),
                   detail="stop requested before this issue")


def log_actions(event: str, write: IssueWrite, **extra: Any) -> None:
    for action in write.actions:
        log.info(event, kind=action.kind, policies=list(write.policies), **extra)

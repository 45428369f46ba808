"""How a command fails: bad input (exit 1), or an exception it let through, told in one
scrubbed line on stderr with the exit code that says what kind of failure it was."""

from __future__ import annotations

import sys

import structlog

from worker.exits import EXIT_INVALID, EXIT_LEASE_HELD, EXIT_UNREACHABLE
from worker.telemetry import logs

log = structlog.get_logger(__name__)


class UsageError(Exception):
    """Bad input on the command line (exit 1)."""


def failed(command: str, exc: Exception) -> int:
    """The exit code and one line for an exception a command let through."""
    from worker.cycle.errors import ConfigUnavailableError, classify
    from worker.state.engine import StoreError
    from worker.state.lease import LeaseHeldError

    if isinstance(exc, LeaseHeldError):
        error(str(exc))
        return EXIT_LEASE_HELD
    if isinstance(exc, StoreError | ConfigUnavailableError):
        error(str(exc))
        return EXIT_INVALID
    kind, message = classify(exc)
    if kind == "config":
        error(str(exc))
        return EXIT_INVALID
    if kind in ("unreachable", "auth"):
        what = "cannot authenticate to" if kind == "auth" else "cannot reach"
        error(f"{what} Atlassian: {message}")
        return EXIT_UNREACHABLE
    log.exception("cli.failed", command=command, error=message)
    error(message)
    return EXIT_INVALID


def error(message: str) -> None:
    """One line on stderr, secrets scrubbed."""
    sys.stderr.write(f"handoff-guard: error: {logs.scrub(message)}\n")

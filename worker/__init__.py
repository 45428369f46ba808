"""Handoff Guard: keeps project managers from doing Sales' work before signature."""

from worker.telemetry.hidden import hidden

__version__ = "0.1.0"

# First, before any module of ours imports structlog: without rich (see worker.telemetry.hidden).
with hidden("rich"):
    import structlog  # noqa: F401

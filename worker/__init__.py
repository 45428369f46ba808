"""Handoff Guard: keeps project managers from doing Sales' work before signature."""

from worker.telemetry.structlog_import import import_structlog

__version__ = "0.1.0"

# First, before any module of ours imports structlog: without rich (see the called module).
import_structlog()

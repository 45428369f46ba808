"""The command line (``python -m worker``, ``handoff-guard``); see :mod:`worker.cli.app`."""

from __future__ import annotations

from worker.cli.app import main

__all__ = ["main"]

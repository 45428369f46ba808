"""The command line (``python -m worker``, ``handoff-guard``): :mod:`worker.cli.parser` (the
grammar), :mod:`worker.cli.app` (dispatch), a module per command or group of commands."""

from __future__ import annotations

from worker.cli.app import main

__all__ = ["main"]

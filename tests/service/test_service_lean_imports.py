"""The service's process leaves out what it never uses: rich (through structlog).

Each check runs in a fresh interpreter, since this one has imported everything by now.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_structlog_is_imported_without_rich_yet_rich_still_works() -> None:
    """structlog's module-level rich is unset (its pretty tracebacks are never used), and a
    command that draws a table still imports rich afterwards."""
    code = ("import sys, worker.telemetry.logs, structlog.dev; "
            "assert 'rich' not in sys.modules and structlog.dev.rich is None; "
            "import rich.console, rich.table; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr

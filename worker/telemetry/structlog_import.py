"""structlog imported without rich, so the service does not carry rich and Pygments.

structlog's package imports :mod:`structlog.dev` eagerly, and that module imports rich (and,
through ``rich.traceback``, Pygments) whenever they are installed, only to offer a coloured
traceback formatter. We never use it: :func:`worker.telemetry.logs.configure` renders
tracebacks as plain text before the redactor runs (rich's would print local variables,
credentials among them). rich is installed for the CLI's tables, so without this every worker
process would keep about 6 MB of rich and Pygments resident (measured: structlog's import costs
17 MB of RSS with them, 11 MB without). Commands that draw tables still import rich themselves,
as usual; only structlog's module-level reference to it is left unset.
"""

from __future__ import annotations

import importlib
import sys

#: the optional packages ``structlog.dev`` looks for at import (all for console prettiness)
HIDDEN = ("rich",)


def import_structlog() -> None:
    """Import structlog, if no one has yet, with rich hidden from it (see the module doc).

    A process that has imported rich already (the benchmark's parent draws with it) gets
    structlog as it comes: hiding an imported module would only confuse it.
    """
    if "structlog" in sys.modules or any(name in sys.modules for name in HIDDEN):
        return
    for name in HIDDEN:
        # None in sys.modules makes ``import rich`` raise ImportError, which structlog.dev
        # catches and takes to mean "not installed".
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module("structlog")
    finally:
        for name in HIDDEN:
            del sys.modules[name]

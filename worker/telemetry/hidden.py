"""Importing a library without the optional packages it would pull in for show.

Two libraries import pretty-printers whenever they are installed, for features the worker never
uses, and keep them resident for the life of the process:

* structlog's package imports :mod:`structlog.dev` eagerly, and that imports rich (and, through
  ``rich.traceback``, Pygments) for a coloured traceback formatter. We never use it:
  :func:`worker.telemetry.logs.configure` renders tracebacks as plain text before the redactor
  runs (rich's would print local variables, credentials among them). rich is installed for the
  CLI's tables. Measured: structlog's import costs 17 MB of RSS with them, 11 MB without.
* Alembic imports ``mako.exceptions``, which imports Pygments to highlight template errors (Mako
  renders revision files; migrating never does): 7.4 MB with it, 2.8 MB without.

:func:`hidden` makes such packages unimportable for the length of one import; the library takes
them for not installed, as it is written to. Commands that draw tables import rich afterwards
as usual: only the library's own reference to it is left unset.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def hidden(*names: str) -> Iterator[None]:
    """Inside, ``import name`` raises ImportError for each of ``names`` not imported yet (one
    already imported is left alone: hiding it would only confuse its users)."""
    hide = [name for name in names if name not in sys.modules]
    for name in hide:
        # None in sys.modules makes the import system raise ImportError for that name.
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in hide:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]

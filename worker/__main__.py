"""``python -m worker`` and the ``handoff-guard`` console script."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code (see ``--help``)."""
    from worker.cli.app import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())

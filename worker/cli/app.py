"""The command line: ``python -m worker`` and ``handoff-guard``.

Exit codes (documented in docs/operating.md and ``--help``):

* 0 ok
* 1 invalid input or configuration (settings, policy file, arguments, state store)
* 2 cannot reach or authenticate to Atlassian
* 3 the cycle completed but some actions failed
* 4 ``plan --against``: the two policy files plan differently
* 5 ``run --once``, ``revert``: another process holds the leader lease (it says who, until when)
* 6 ``run --once``, ``revert``: another installation writes to the same site (``another_actor``)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from worker.cli.commands import (
    cmd_demo,
    cmd_explain,
    cmd_history,
    cmd_report,
    cmd_revert,
    cmd_sandbox,
    cmd_schema,
    cmd_settings,
    cmd_snapshot,
    cmd_validate,
)
from worker.cli.envfile import EnvFileError, apply_env, read_env_files
from worker.cli.errors import UsageError, error, failed
from worker.cli.parser import build_parser
from worker.cli.plan import cmd_plan
from worker.cli.run import cmd_run
from worker.exits import EXIT_INVALID, EXIT_OK
from worker.settings.env import Settings
from worker.settings.errors import SettingsError
from worker.telemetry import logs


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: 0 for --help/--version, 2 for bad usage
        code = exc.code if isinstance(exc.code, int) else 1
        return EXIT_INVALID if code == 2 else code
    try:
        apply_env(read_env_files(args.env_files), os.environ)
        settings = Settings.from_env()
    except (SettingsError, EnvFileError) as exc:
        error(str(exc))
        return EXIT_INVALID
    if getattr(args, "config", None) is not None:
        settings = _with_config(settings, args.config)
    level = "DEBUG" if args.verbose else ("INFO" if args.command in ("run", "sandbox")
                                         else "WARNING")
    logs.configure(
        log_format=settings.log_format,
        level=level,
        secrets=settings.secrets(),
        usernames=settings.usernames(),
    )
    command: Callable[[argparse.Namespace, Settings], int] = COMMANDS[args.command]
    try:
        return command(args, settings)
    except (SettingsError, UsageError) as exc:
        error(str(exc))
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        return failed(args.command, exc)


def _with_config(settings: Settings, path: Path) -> Settings:
    return replace(settings, config_path=path)


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "run": cmd_run,
    "plan": cmd_plan,
    "explain": cmd_explain,
    "validate": cmd_validate,
    "revert": cmd_revert,
    "schema": cmd_schema,
    "history": cmd_history,
    "report": cmd_report,
    "sandbox": cmd_sandbox,
    "snapshot": cmd_snapshot,
    "demo": cmd_demo,
    "settings": cmd_settings,
}

"""The command line's grammar: every command, its arguments and its help text.

No secrets in defaults (``--help`` never shows the environment); the commands themselves
live in :mod:`worker.cli.run`, :mod:`worker.cli.plan` and :mod:`worker.cli.commands`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from worker import __version__
from worker.cli.help import document_command
from worker.model.outcome import OUTCOMES
from worker.model.vocabulary import VERDICTS

EPILOG = """\
exit codes: 0 ok; 1 invalid input or config; 2 cannot reach or authenticate to Atlassian;
3 cycle completed with failed actions; 4 plan --against: the files differ;
5 run --once / revert: another process holds the leader lease;
6 run --once / revert: another installation writes to the same site (another_actor).

settings come from the environment (JIRA_URL, JIRA_USERNAME, JIRA_API_TOKEN or
JIRA_PERSONAL_TOKEN, HANDOFF_GUARD_CONFIG, HANDOFF_GUARD_STATE, ...) and from
--env-file FILE (the environment wins); `settings` lists them all with their defaults;
see config/handoff-guard.env.example."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (no secrets in defaults: ``--help`` never shows the environment)."""
    parser = argparse.ArgumentParser(
        prog="handoff-guard",
        description="Keeps project managers from doing Sales' work before the contract is signed.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"handoff-guard {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at DEBUG (atlassian bodies stay hidden)"
    )
    _with_env_file(parser, default=[])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config",
            type=Path,
            metavar="PATH",
            help="policy file (default: $HANDOFF_GUARD_CONFIG or config/policies.yaml)",
        )

    run = sub.add_parser("run", help="run cycles on the schedule (or --once)")
    run.add_argument("--once", action="store_true", help="run one cycle and exit")
    run.add_argument("--dry-run", action="store_true", help="decide and log, write nothing")
    with_config(run)

    plan = sub.add_parser("plan", help="show what a cycle would do (writes nothing)")
    plan.add_argument("--format", choices=("table", "json"), default="table")
    plan.add_argument("--issue", action="append", default=[], metavar="KEY",
                      help="only these tickets (repeatable)")
    plan.add_argument("--verdict", action="append", type=_verdicts, default=[], metavar="V",
                      help="only these verdicts (repeatable or comma-separated): "
                      + ", ".join(VERDICTS))
    plan.add_argument("--policy", action="append", default=[], metavar="ID",
                      help="only this policy's decisions (repeatable)")
    plan.add_argument("--limit", type=_positive, metavar="N", help="show at most N rows")
    plan.add_argument("--against", type=Path, metavar="NEW.yaml",
                      help="plan the current file and NEW.yaml on the same read and show what "
                           "differs per ticket (exit 4 when something does)")
    with_config(plan)

    explain = sub.add_parser("explain", help="every policy's decision and evidence for a ticket")
    explain.add_argument("key", metavar="KEY")
    explain.add_argument("--format", choices=("table", "json"), default="table")
    with_config(explain)

    validate = sub.add_parser("validate", help="check a policy file and summarize it")
    validate.add_argument("path", nargs="?", type=Path, metavar="PATH")
    validate.add_argument("--site", action="store_true",
                          help="also ask the site: the contract statuses its deal pages use "
                          "(deal pages only), and whether the users the file names exist, are "
                          "active and can be assigned")
    with_config(validate)

    revert = sub.add_parser(
        "revert",
        help="undo the bot's changes on tickets (assignee, labels, comments) and say so",
    )
    revert.add_argument("keys", nargs="*", metavar="KEY", help="tickets to put back")
    revert.add_argument("--run", metavar="RUN_ID", help="every ticket this run changed")
    revert.add_argument("--reason", required=True, metavar="TEXT",
                        help="whose request this is (said in the comment), e.g. 'Lee Okafor'")
    revert.add_argument("--dry-run", action="store_true", help="say what would be undone")
    revert.add_argument("--delete-comments", action="store_true",
                        help="delete the bot's comments instead of rewriting each into "
                             "'Withdrawn by an admin: <reason>'")
    with_config(revert)

    sub.add_parser("schema", help="print the policy file's JSON Schema (for editors)")

    history = sub.add_parser(
        "history", help="what the bot decided and did, and why (filters; table, JSON or CSV)")
    history.add_argument("--issue", metavar="KEY", help="one ticket's full story")
    history.add_argument("--policy", metavar="ID", help="one policy's decisions")
    history.add_argument("--person", metavar="NAME_OR_ID",
                         help="the assignee before or after (id, or part of the name)")
    history.add_argument("--customer", metavar="NAME", help="part of the customer's name")
    history.add_argument("--since", metavar="WHEN", help="a date (2026-11-02) or a span (7d, 12w)")
    history.add_argument("--until", metavar="WHEN", help="a date (included) or a span back")
    history.add_argument("--verdict", action="append", type=_verdicts, default=[],
                         metavar="V", help="only these verdicts (repeatable or comma-separated)")
    history.add_argument("--outcome", action="append", type=_outcomes, default=[],
                         metavar="O", help="only these outcomes: " + ", ".join(OUTCOMES))
    history.add_argument("--format", choices=("table", "json", "csv"), default="table")
    history.add_argument("--limit", type=_positive, metavar="N",
                         help="the newest N rows (cycles with --cycles; default: table 50, "
                         "JSON/CSV all)")
    history.add_argument("--cycles", action="store_true",
                         help="the cycles instead: duration, requests, retries, what they wrote")

    report = sub.add_parser(
        "report", help="the leadership report: flagged tickets per week and what happened next")
    report.add_argument("--since", default="12w", metavar="WHEN",
                        help="Nw (the last N weeks, default 12w) or a date")
    report.add_argument("--until", metavar="WHEN",
                        help="a date (included); default: the newest cycle in the store")
    report.add_argument("--format", choices=("md", "html", "json", "csv"), default="md")
    report.add_argument("--out", type=Path, metavar="FILE", help="write here, not to stdout")
    report.add_argument("--chart", type=Path, metavar="PNG",
                        help="where the chart goes (default: next to --out, else the store)")
    report.add_argument("--publish", action="store_true",
                        help="also update the Confluence page of the policy file's report:")
    with_config(report)

    sandbox = sub.add_parser("sandbox", help="serve a simulated Atlassian site on loopback")
    sandbox.add_argument("--site", type=Path, default=Path("config/sandbox/demo-site.yaml"),
                         metavar="FILE")
    sandbox.add_argument("--port", type=int, default=8090, metavar="N")
    sandbox.add_argument("--generate", type=_positive, metavar="N",
                         help="serve a synthetic site of N candidate tickets instead of --site")
    sandbox.add_argument("--seed", type=int, default=42, help="with --generate (default 42)")
    sandbox.add_argument("--flavor", choices=("cloud", "datacenter"), default="cloud",
                         help="with --generate (default cloud)")
    sandbox.add_argument("--write", type=Path, metavar="FILE",
                         help="with --generate: also save the site file there")

    snapshot = sub.add_parser(
        "snapshot", help="copy what the policies read into a site file the sandbox serves")
    snapshot.add_argument("--out", type=Path, required=True, metavar="FILE",
                          help="the site file to write")
    snapshot.add_argument("--anonymize", action="store_true",
                          help="replace people's names, emails, account ids and customer names")
    snapshot.add_argument("--issues", type=_positive, metavar="N",
                          help="keep the first N candidate tickets only")
    with_config(snapshot)

    sub.add_parser("demo", help="tell the story on the demo site (no network, no account)")

    settings = sub.add_parser(
        "settings",
        help="every setting (HANDOFF_GUARD_*, JIRA_*, CONFLUENCE_*) with its value and default",
        description="Every environment variable the worker reads, the value in force (from the "
        "environment or --env-file; credentials masked) and its default. Exits 1 when a value "
        "is malformed, naming it.",
    )
    settings.add_argument("--format", choices=("table", "json"), default="table")
    # `--env-file` also after the command (`handoff-guard run --env-file x`), where docker
    # takes it; SUPPRESS keeps one given before the command
    for command in sub.choices.values():
        _with_env_file(command, default=argparse.SUPPRESS)
    for name, command in sub.choices.items():
        document_command(name, command, epilog=EPILOG if name in ("run", "revert") else "")
    return parser


def _with_env_file(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "--env-file", dest="env_files", action="append", type=Path, default=default,
        metavar="FILE",
        help="read KEY=VALUE settings from FILE (repeatable; the systemd EnvironmentFile and "
        "docker --env-file format); the environment's own values win",
    )


def _comma_list(what: str, allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argument type: a comma-separated list of ``what``s, each one of ``allowed``."""

    def parse(value: str) -> list[str]:
        found = [v.strip() for v in value.split(",") if v.strip()]
        unknown = [v for v in found if v not in allowed]
        if unknown or not found:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or repr(value)}; expected one of "
                + ", ".join(allowed)
            )
        return found

    return parse


_verdicts = _comma_list("verdict", VERDICTS)
_outcomes = _comma_list("outcome", OUTCOMES)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {number}")
    return number

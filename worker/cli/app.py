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
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from worker import __version__
from worker.cli.envfile import EnvFileError, apply_env, read_env_files
from worker.cli.help import document_command
from worker.exits import (
    EXIT_DIFFERS,
    EXIT_INVALID,
    EXIT_LEASE_HELD,
    EXIT_OK,
    EXIT_UNREACHABLE,
)
from worker.model import OUTCOMES, VERDICTS
from worker.settings import Settings, SettingsError, describe
from worker.telemetry import logs

if TYPE_CHECKING:
    from worker.cycle.runner import CycleRunner
    from worker.state.store import Store

# The cycle, the store and rich are imported by the commands that use them, not here: a
# command's first line (``plan`` says what it reads) then shows within a fraction of a second.

log = structlog.get_logger(__name__)

EPILOG = """\
exit codes: 0 ok; 1 invalid input or config; 2 cannot reach or authenticate to Atlassian;
3 cycle completed with failed actions; 4 plan --against: the files differ;
5 run --once / revert: another process holds the leader lease;
6 run --once / revert: another installation writes to the same site (another_actor).

settings come from the environment (JIRA_URL, JIRA_USERNAME, JIRA_API_TOKEN or
JIRA_PERSONAL_TOKEN, HANDOFF_GUARD_CONFIG, HANDOFF_GUARD_STATE, ...) and from
--env-file FILE (the environment wins); `settings` lists them all with their defaults;
see config/handoff-guard.env.example."""


class UsageError(Exception):
    """Bad input on the command line (exit 1)."""


# --------------------------------------------------------------------------- parser


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


def _verdicts(value: str) -> list[str]:
    found = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in found if v not in VERDICTS]
    if unknown or not found:
        raise argparse.ArgumentTypeError(
            f"unknown verdict {', '.join(unknown) or repr(value)}; expected one of "
            + ", ".join(VERDICTS)
        )
    return found


def _outcomes(value: str) -> list[str]:
    found = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in found if v not in OUTCOMES]
    if unknown or not found:
        raise argparse.ArgumentTypeError(
            f"unknown outcome {', '.join(unknown) or repr(value)}; expected one of "
            + ", ".join(OUTCOMES)
        )
    return found


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {number}")
    return number


# --------------------------------------------------------------------------- main


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
        _error(str(exc))
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
        _error(str(exc))
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        return _failed(args.command, exc)


def _failed(command: str, exc: Exception) -> int:
    """The exit code and one line for an exception a command let through."""
    from worker.cycle.errors import ConfigUnavailableError, classify
    from worker.state.lease import LeaseHeldError
    from worker.state.store import StoreError

    if isinstance(exc, LeaseHeldError):
        _error(str(exc))
        return EXIT_LEASE_HELD
    if isinstance(exc, StoreError | ConfigUnavailableError):
        _error(str(exc))
        return EXIT_INVALID
    kind, message = classify(exc)
    if kind == "config":
        _error(str(exc))
        return EXIT_INVALID
    if kind in ("unreachable", "auth"):
        what = "cannot authenticate to" if kind == "auth" else "cannot reach"
        _error(f"{what} Atlassian: {message}")
        return EXIT_UNREACHABLE
    log.exception("cli.failed", command=command, error=message)
    _error(message)
    return EXIT_INVALID


def _with_config(settings: Settings, path: Path) -> Settings:
    return replace(settings, config_path=path)


def _error(message: str) -> None:
    sys.stderr.write(f"handoff-guard: error: {logs.scrub(message)}\n")


# --------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """``run``: the service (scheduler, health, signals) or one cycle with ``--once``."""
    from worker.cycle.runner import CycleRunner
    from worker.cycle.source import PolicySource
    from worker.service.shell import Service
    from worker.service.store_wait import wait_for_store
    from worker.state.lease import Lease
    from worker.state.store import Store
    from worker.telemetry.health import Health
    from worker.telemetry.metrics import Metrics

    settings.check_atlassian()
    health = Health(interval_s=300.0)
    metrics = Metrics()
    server = None
    if args.once:
        store = Store.open(settings.state, lease_s=settings.lease_s)
    else:
        # The service outlives a store unreachable at start: probes up, not ready, retrying.
        waited, server = wait_for_store(
            lambda: Store.open(settings.state, lease_s=settings.lease_s), health, metrics,
            http_port=settings.http_port, http_host=settings.http_host,
            lease_s=settings.lease_s)
        if waited is None:
            return EXIT_OK  # stopped before the store ever answered
        store = waited
    runner = CycleRunner(settings, store, health=health, metrics=metrics,
                         source=PolicySource(settings.config_path, health=health),
                         lease=Lease(store, period_s=settings.lease_s))
    if args.once:
        runner.source.current()  # an invalid policy file: exit 1 before anything else
        stopping = threading.Event()
        _install_once_signals(stopping)
        try:
            report = runner.run(dry_run=args.dry_run, stopping=stopping)
        finally:
            if runner.lease is not None:
                runner.lease.release()
            store.close()
        sys.stdout.write(json.dumps(logs.scrub_value(report.summary()), default=str) + "\n")
        if report.error_kind is not None:
            _error(f"cycle failed ({report.error_kind}): {report.error}")
        return report.exit_code
    # The service outlives an invalid policy file: up, not ready, waiting for a valid one.
    service = Service(runner, dry_run=args.dry_run, http_port=settings.http_port,
                      http_host=settings.http_host, health=health, metrics=metrics,
                      server=server)
    service.install_signal_handlers()
    return service.run()


def _install_once_signals(stopping: threading.Event) -> None:
    import signal

    def handler(signum: int, _frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        log.info("service.stopping", signal=signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def _reader(settings: Settings) -> tuple[CycleRunner, Store]:
    from worker.cycle.runner import CycleRunner
    from worker.state.store import Store

    settings.check_atlassian()
    store = Store.open(settings.state, lease_s=settings.lease_s)
    return CycleRunner(settings, store), store


def cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    """``plan``: read and decide like a cycle, write nothing, show the decisions that matter."""
    settings.check_atlassian()  # before the first line: never "Reading None"
    if args.format == "table" and args.against is None:
        # Say something at once: reading a large site takes seconds before the first row.
        sys.stdout.write(f"Reading {settings.jira_url} with {settings.config_path} ...\n")
        sys.stdout.flush()
    from worker.cli.render import (
        NOTEWORTHY,
        console,
        plan_json,
        plan_table,
        print_json,
        reading_progress,
        select_decisions,
    )
    from worker.cli.site_check import print_statuses, statuses_seen
    from worker.policy import plan as make_plan
    from worker.policy import promise_words, search_spec
    from worker.read.site import read_site

    if args.against is not None:
        return plan_against(args, settings)
    wanted = {v for group in args.verdict for v in group}
    out = console()
    runner, store = _reader(settings)
    try:
        policies = runner.source.current()
        known = {p.id for p in policies.policies}
        unknown = [p for p in args.policy if p not in known]
        if unknown:
            raise UsageError(f"--policy {', '.join(unknown)}: no such policy in "
                             f"{settings.config_path} (known: {', '.join(sorted(known))})")
        atlassian = runner.atlassian()
        spec = search_spec(policies)
        with reading_progress() as on_issue:
            reading = read_site(atlassian, spec, journal=store, only=args.issue,
                                on_issue=on_issue, policies=policies)
        # No-match rows are most of a large plan; build them only when someone will see them.
        keep_no_match = "no-match" in wanted or (args.format == "json" and not wanted)
        the_plan = make_plan([*reading.snapshots, *reading.malformed], reading.directory,
                             reading.deal_read, policies, reading.now,
                             keep_no_match=keep_no_match)
    finally:
        store.close()
    active = sum(1 for p in policies.policies if p.mode != "off")
    evaluated = (len(reading.snapshots) + len(reading.malformed)) * active
    unlisted = {} if keep_no_match else {"no-match": evaluated - len(the_plan.decisions)}
    missing = sorted({k.upper() for k in args.issue} - {s.key.upper() for s in reading.snapshots})
    extra: dict[str, object] = {
        "issues_read": len(reading.snapshots),
        "malformed": [{"issue": m.key, "reason": m.reason} for m in reading.malformed],
        "deals": len(reading.deals),
        "deal_skips": [{"page": s.title, "reason": s.reason} for s in reading.deal_skips],
        "requests": atlassian.requests_made,
    }
    if missing:
        extra["not_in_scope"] = missing
    seen = statuses_seen(reading.deal_read, policies) if spec.deals is not None else None
    if seen is not None:
        extra["statuses"] = [{"value": s.value, "state": s.state, "pages": s.pages}
                             for s in seen]
    if args.format == "json":
        if wanted or args.policy or args.limit:
            rows = select_decisions(the_plan.decisions, verdicts=wanted or VERDICTS,
                                    policies=args.policy, limit=args.limit, unlisted=unlisted)
            extra["not_shown"] = dict(rows.hidden)
            extra["beyond_limit"] = rows.beyond_limit
            print_json(plan_json(replace(the_plan, decisions=rows.shown), **extra))
        else:
            print_json(plan_json(the_plan, **extra))
        return EXIT_OK
    rows = select_decisions(the_plan.decisions, verdicts=wanted or NOTEWORTHY,
                            policies=args.policy, limit=args.limit, unlisted=unlisted)
    out.print(plan_table(rows.shown, title=f"Plan at {the_plan.now:%Y-%m-%d %H:%M} (site time)"))
    hidden = rows.hidden_line()
    if hidden:
        out.print(f"[dim]{hidden}[/] (see them with --verdict)")
    writes = len(the_plan.writes)
    out.print(
        f"{len(reading.snapshots)} tickets read, {evaluated} decisions, "
        f"{writes} ticket(s) would be written, {atlassian.requests_made} requests."
    )
    for policy, why in the_plan.breakers.items():
        out.print(f"[bold magenta]breaker[/] {policy}: {why}")
    for policy, count in the_plan.deferred.items():
        out.print(f"[yellow]deferred[/] {policy}: {count} action(s) over the per-cycle budget")
    for line in promise_words(the_plan.promises):
        out.print(f"[cyan]promises[/] {line}", highlight=False)
    for key in missing:
        out.print(f"[yellow]{key}[/]: not in any policy's scope (try `explain {key}`)")
    if seen is not None:
        print_statuses(out, seen)
    elif reading.deal_read.failed is not None:
        out.print(f"[bold red]deal pages not read[/]: {reading.deal_read.failed}",
                  highlight=False)
    return EXIT_OK


def plan_against(args: argparse.Namespace, settings: Settings) -> int:
    """``plan --against NEW.yaml``: the current file and NEW.yaml planned on one read; the
    difference per ticket. Exit 0 when nothing differs, 4 when something does."""
    from worker.cli.render import print_json
    from worker.impact import ImpactError, impact_on_site
    from worker.policy import PolicyError, load_policies

    try:
        new = load_policies(args.against)
    except PolicyError as exc:
        sys.stderr.write(logs.scrub(str(exc)) + "\n")
        _error(f"{args.against}: invalid ({len(exc.problems)} problem(s))")
        return EXIT_INVALID
    except OSError as exc:
        _error(f"{args.against}: {exc.strerror or exc}")
        return EXIT_INVALID
    runner, store = _reader(settings)
    try:
        current = runner.source.current()
        try:
            impact = impact_on_site(runner.atlassian(), current, new, journal=store,
                                    only=args.issue)
        except ImpactError as exc:
            raise UsageError(str(exc)) from exc
    finally:
        store.close()
    if args.format == "json":
        print_json({"current": str(settings.config_path), "against": str(args.against),
                    **impact.to_json()})
    else:
        counts = {k: v for k, v in impact.counts().items() if v}
        head = (f"{args.against} against {settings.config_path}, at "
                f"{impact.now:%Y-%m-%d %H:%M} site time: {impact.tickets} tickets read; ")
        if not impact.differs:
            sys.stdout.write(head + "no difference.\n")
        else:
            sys.stdout.write(head + ", ".join(f"{v} {k}" for k, v in counts.items()) + ".\n")
            for line in impact.lines():
                sys.stdout.write(f"  {line}\n")
    return EXIT_DIFFERS if impact.differs else EXIT_OK


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    """``explain KEY``: every policy's decision and evidence for one ticket, and what's next."""
    from worker.cli.explain import explain_issue

    runner, store = _reader(settings)
    try:
        return explain_issue(runner, store, args.key, fmt=args.format)
    finally:
        store.close()


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    """``validate [PATH]``: load the policy file, print problems or a summary."""
    from worker.policy import PolicyError, load_policies, summarize, warnings

    path: Path = args.path or settings.config_path
    try:
        policies = load_policies(path)
    except PolicyError as exc:
        sys.stderr.write(logs.scrub(str(exc)) + "\n")
        sys.stderr.write(f"{path}: invalid ({len(exc.problems)} problem(s))\n")
        return EXIT_INVALID
    except OSError as exc:
        _error(f"{path}: {exc.strerror or exc}")
        return EXIT_INVALID
    for line in summarize(policies):
        sys.stdout.write(line + "\n")
    for line in warnings(policies):
        sys.stderr.write(line + "\n")
    sys.stdout.write(f"{path}: OK\n")
    if args.site:
        from worker.cli.render import console
        from worker.cli.site_check import validate_site

        runner, store = _reader(settings)
        try:
            return validate_site(policies, runner.atlassian(), console(), path)
        finally:
            store.close()
    return EXIT_OK


def cmd_revert(args: argparse.Namespace, settings: Settings) -> int:
    """``revert``: put tickets back the way they were before the bot changed them."""
    from worker.cli.revert import RevertInputError, revert_issues

    if bool(args.keys) == bool(args.run):
        raise UsageError("revert: give ticket keys or --run RUN_ID (one of the two)")
    if not args.reason.strip():
        raise UsageError("revert: --reason must say whose request this is")
    from worker.state.lease import Lease

    runner, store = _reader(settings)
    lease = None if args.dry_run else Lease(store, period_s=settings.lease_s)
    try:
        return revert_issues(runner, store, keys=args.keys, run_id=args.run,
                             reason=args.reason.strip(), dry_run=args.dry_run, lease=lease,
                             delete_comments=args.delete_comments)
    except RevertInputError as exc:
        raise UsageError(str(exc)) from None
    finally:
        if lease is not None:
            lease.release()
        store.close()


def cmd_schema(_args: argparse.Namespace, _settings: Settings) -> int:
    """``schema``: the policy file's JSON Schema on stdout."""
    from worker.policy import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
    return EXIT_OK


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """``settings``: every variable the worker reads, its value in force and its default."""
    from worker.cli.render import console, print_json, settings_table

    rows = describe(settings, os.environ)
    if args.format == "json":
        print_json([{"name": r.name, "value": r.value, "default": r.default, "set": r.is_set,
                     "secret": r.secret, "about": r.about} for r in rows])
        return EXIT_OK
    console().print(settings_table(rows))
    return EXIT_OK


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    """``history``: recorded decisions and what was written, filtered (or ``--cycles``)."""
    from worker.cli.history import HistoryArgumentError, show_history
    from worker.cli.render import console, history_json, history_tables, print_json
    from worker.state.store import Store

    store = Store.open(settings.state)
    try:
        if not args.cycles:
            try:
                return show_history(args, store, store_name=str(settings.state))
            except HistoryArgumentError as exc:
                raise UsageError(str(exc)) from None
        items = store.history(limit=args.limit or 10)
    finally:
        store.close()
    if args.format == "json":
        print_json(history_json(items))
        return EXIT_OK
    out = console()
    if not items:
        out.print(f"No cycles recorded yet in {logs.scrub(settings.state)}.")
        return EXIT_OK
    for table in history_tables(items):
        out.print(table)
    return EXIT_OK


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """``report``: the leadership report (Markdown, HTML, JSON or CSV) and its chart."""
    from worker.cli.report import ReportUsageError, make_report

    try:
        return make_report(args, settings)
    except ReportUsageError as exc:
        raise UsageError(str(exc)) from None


def cmd_sandbox(args: argparse.Namespace, _settings: Settings) -> int:
    """``sandbox``: serve a simulated site until interrupted (prints its base URL first)."""
    from worker.sandbox.cli import serve, serve_site

    if args.generate is not None:
        from worker.sandbox.generate import generate_site, write_site
        from worker.sandbox.site import site_from_dict

        if args.write is not None:
            write_site(args.write, args.generate, args.seed, flavor=args.flavor)
        generated = generate_site(args.generate, seed=args.seed, flavor=args.flavor)
        return serve_site(site_from_dict(generated, source="--generate"), port=args.port)
    if not args.site.exists():
        raise UsageError(f"{args.site}: no such site file")
    code = serve(args.site, port=args.port)
    # the sandbox says 2 for an invalid site file; here 2 means "cannot reach Atlassian"
    return EXIT_INVALID if code == 2 else code


def cmd_snapshot(args: argparse.Namespace, settings: Settings) -> int:
    """``snapshot --out FILE``: read like a cycle (read-only) and write a site file."""
    from worker.atlassian.clients import connect
    from worker.cycle.source import PolicySource
    from worker.snapshot import dump_site, policy_words, take_snapshot

    settings.check_atlassian()
    policies = PolicySource(settings.config_path).current()
    # every word of the policy file stays: the policies match on them
    protected = policy_words(settings.config_path.read_text(encoding="utf-8"))
    atlassian = connect(settings.connection())
    try:
        snapshot = take_snapshot(atlassian, policies, limit=args.issues,
                                 anonymize=args.anonymize, protected=protected)
    finally:
        atlassian.close()
    dump_site(snapshot, args.out)
    sys.stdout.write(
        f"{args.out}: {snapshot.issues} tickets, {snapshot.users} users, {snapshot.pages} deal "
        f"pages at {snapshot.now:%Y-%m-%d %H:%M} site time, {snapshot.requests} requests"
        f"{', anonymized' if args.anonymize else ''}.\n"
        f"Serve it: python -m worker sandbox --site {args.out}\n"
    )
    return EXIT_OK


def cmd_demo(_args: argparse.Namespace, _settings: Settings) -> int:
    """``demo``: the story on the demo site, in-process, no network."""
    from worker.cli.demo import run_demo

    return run_demo()


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

"""The commands that hand their work to a module of their own (``explain``, ``validate``,
``revert``, ``history``, ``report``, ``sandbox``, ``snapshot``, ``demo``) or print what the
worker knows (``schema``, ``settings``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from worker.cli.errors import UsageError, error
from worker.exits import EXIT_INVALID, EXIT_OK
from worker.settings.catalogue import describe
from worker.settings.env import Settings
from worker.telemetry import logs

if TYPE_CHECKING:
    from worker.cycle.runner import CycleRunner
    from worker.state.store import Store

# The cycle, the store and rich are imported by the commands that use them, not here: a
# command's first line then shows within a fraction of a second.


def open_reader(settings: Settings) -> tuple[CycleRunner, Store]:
    """The runner and store a read-only command reads the site with (close the store)."""
    from worker.cycle.runner import CycleRunner
    from worker.state.store import Store

    settings.check_atlassian()
    store = Store.open(settings.state, lease_s=settings.lease_s)
    return CycleRunner(settings, store), store


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    """``explain KEY``: every policy's decision and evidence for one ticket, and what's next."""
    from worker.cli.explain import explain_issue

    runner, store = open_reader(settings)
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
        error(f"{path}: {exc.strerror or exc}")
        return EXIT_INVALID
    for line in summarize(policies):
        sys.stdout.write(line + "\n")
    for line in warnings(policies):
        sys.stderr.write(line + "\n")
    sys.stdout.write(f"{path}: OK\n")
    if args.site:
        from worker.cli.render import console
        from worker.cli.site_check import validate_site

        runner, store = open_reader(settings)
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

    runner, store = open_reader(settings)
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

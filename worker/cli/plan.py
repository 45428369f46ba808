"""``plan``: read and decide like a cycle, write nothing, show the decisions that matter;
``plan --against NEW.yaml``: two files planned on one read, compared."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from worker.cli.commands import open_reader
from worker.cli.errors import UsageError, error
from worker.exits import EXIT_DIFFERS, EXIT_INVALID, EXIT_OK
from worker.model.vocabulary import VERDICTS
from worker.settings.env import Settings
from worker.telemetry import logs

# The cycle, the store and rich are imported by the command, not here: its first line
# (``plan`` says what it reads) then shows within a fraction of a second.


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
    runner, store = open_reader(settings)
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
        error(f"{args.against}: invalid ({len(exc.problems)} problem(s))")
        return EXIT_INVALID
    except OSError as exc:
        error(f"{args.against}: {exc.strerror or exc}")
        return EXIT_INVALID
    runner, store = open_reader(settings)
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

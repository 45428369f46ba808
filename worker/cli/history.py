"""``history``: the audit trail, filtered, as a table, JSON or CSV; ``--issue`` tells a story."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from worker.cli.render import VERDICT_STYLE, console, print_json
from worker.state.history import (
    HistoryFilter,
    HistoryRow,
    Run,
    collapse,
    did_words,
    load_rows,
    parse_when,
    rows_json,
    store_now,
    write_csv,
)
from worker.state.store import Store

#: rows a table shows without ``--limit`` (JSON and CSV give every row)
TABLE_ROWS = 50


class HistoryArgumentError(ValueError):
    """A ``--since``/``--until`` value that is not a date or a span."""


def history_filter(args: argparse.Namespace, store: Store) -> HistoryFilter:
    """The filter the command line asks for (spans count back from the store's newest cycle)."""
    now = store_now(store)
    try:
        since = parse_when(args.since, now=now) if args.since else None
        until = parse_when(args.until, now=now, end=True) if args.until else None
    except ValueError as exc:
        raise HistoryArgumentError(str(exc)) from None
    return HistoryFilter(
        issue=args.issue,
        policy=args.policy,
        person=args.person,
        customer=args.customer,
        since=since,
        until=until,
        verdicts=frozenset(v for group in args.verdict for v in group),
        outcomes=frozenset(o for group in args.outcome for o in group),
    )


def show_history(args: argparse.Namespace, store: Store, *, store_name: str) -> int:
    """Print the rows ``args`` ask for in the chosen format; returns the exit code (0)."""
    filt = history_filter(args, store)
    rows = load_rows(store, filt)
    if args.format == "json":
        chosen = rows[-args.limit:] if args.limit else rows
        print_json(rows_json(chosen, filt, store=store_name))
        return 0
    if args.format == "csv":
        write_csv(rows[-args.limit:] if args.limit else rows, sys.stdout)
        return 0
    out = console()
    if not rows:
        if store.last_cycle() is None:
            out.print(f"No cycles recorded yet in {store_name}.")
        else:
            out.print(f"No recorded decision in {store_name} matches these filters.")
        return 0
    runs = collapse(rows)
    limit = args.limit or TABLE_ROWS
    if filt.issue:
        _story(out, filt.issue, runs, limit)
    else:
        shown = list(reversed(runs))[:limit]
        out.print(_table("What the bot decided and did (newest first)", shown))
        if len(runs) > len(shown):
            out.print(f"[dim]{len(runs) - len(shown)} older row(s) not shown: use --limit, "
                      "--since or a filter; --format csv gives every row[/]")
    cycles = len({r.run_id for r in rows})
    out.print(f"{len(rows)} decision(s) from {cycles} cycle(s) in {store_name}; "
              "dry-run rows say [italic]would[/].")
    return 0


def _story(out: Console, issue: str, runs: Sequence[Run], limit: int) -> None:
    first = runs[0].first
    who = first.assignee.name if first.assignee else "-"
    out.print(f"[bold]{issue.upper()}[/]: customer {first.customer or '-'}, "
              f"assigned to {who} when first seen, account executive "
              f"{first.account_executive.name if first.account_executive else '-'}")
    shown = list(runs)[-limit:]
    out.print(_table(f"The story of {issue.upper()} (oldest first)", shown))


def _table(title: str, runs: Sequence[Run]) -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("Site time", "Run", "Ticket", "Policy", "Verdict", "Did", "Outcome", "Why"):
        table.add_column(name, no_wrap=name in ("Site time", "Run", "Ticket"))
    for run in runs:
        row = run.first
        when = f"{row.at:%Y-%m-%d %H:%M}"
        if run.count > 1:
            when += f" .. {run.last.at:%m-%d %H:%M} ({run.count} cycles)"
        table.add_row(
            when,
            row.run_id,
            row.issue,
            row.policy + (" (dry-run)" if row.mode == "dry-run" else ""),
            f"[{VERDICT_STYLE.get(row.verdict, '')}]{row.verdict}[/]",
            did_words(row),
            _outcome(row),
            row.why,
        )
    return table


def _outcome(row: HistoryRow) -> str:
    if row.outcome is None:
        return "-"
    text = row.outcome
    if row.http_status:
        text += f" (HTTP {row.http_status})"
    if row.outcome_detail and row.outcome not in ("applied", "dry-run"):
        text += f": {row.outcome_detail}"
    return text

"""``validate --site`` and the statuses lines of ``plan``: what the site says about a policy
file before it acts.

``validate --site`` reads the deal pages only (no ticket) and lists the contract statuses
they use, loudly those the bot cannot read; then it asks Jira about every literal user the
file names (``reassign`` targets and fallbacks, people sets, the fallback sales owner): that
the id has this flavor's shape, that the user exists and is active, and, for the people the
bot may assign, that some project lets them be assigned. Any such problem refuses the file
(exit 1), each with the policy file and line it comes from.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from worker.atlassian.clients import Atlassian
from worker.exits import EXIT_INVALID, EXIT_OK
from worker.model.deals import DealRead
from worker.policy.config import Policies
from worker.policy.deal_index import DealIndex, StatusSeen
from worker.policy.statuses_seen import seen_line, unreadable_lines
from worker.read.site_targets import user_problems


def statuses_seen(read: DealRead, policies: Policies) -> list[StatusSeen] | None:
    """The statuses on the deal pages just read (None when the read failed)."""
    if read.failed is not None:
        return None
    return DealIndex(read, policies.deals.signed_values,
                     policies.deals.unsigned_values).statuses_seen()


def print_statuses(out: Console, seen: list[StatusSeen]) -> None:
    """The statuses seen on deal pages, and loudly those the bot cannot read."""
    out.print(seen_line(seen), highlight=False, markup=False)
    for line in unreadable_lines(seen):
        out.print(f"[bold red]unreadable status[/] {escape(line)}", highlight=False)


def validate_site(policies: Policies, atlassian: Atlassian, out: Console, path: Path) -> int:
    """``validate --site``: the deal pages' statuses and the literal users, checked on the
    site; exit 1 when the site refuses the file (or the deal pages cannot be read)."""
    failed = False
    source = policies.deals.pages
    if source is not None:
        read = atlassian.confluence.read_deals(source).read
        seen = statuses_seen(read, policies)
        if seen is None:
            out.print(f"[bold red]deal pages not read[/]: {escape(read.failed or '')}",
                      highlight=False)
            failed = True
        else:
            out.print(f"{read.pages} deal page(s) found by {source.cql}", highlight=False,
                      markup=False)
            print_statuses(out, seen)
    problems = user_problems(policies, atlassian)
    for problem in problems:
        out.print(f"[bold red]refused[/] {escape(problem)}", highlight=False)
    if problems or failed:
        out.print(f"{path}: refused by the site ({len(problems)} user problem(s))",
                  highlight=False, markup=False)
        return EXIT_INVALID
    out.print(f"{path}: OK on the site", highlight=False, markup=False)
    return EXIT_OK

"""What each subcommand's ``--help`` says: a description and examples (one place, so every
command has both; a test checks it)."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandHelp:
    """A subcommand's description (what it does, for whom) and examples (shell lines)."""

    description: str
    examples: tuple[str, ...]


HELP: Mapping[str, CommandHelp] = {
    "run": CommandHelp(
        "Run cycles on the policy file's schedule until stopped (SIGTERM finishes the ticket "
        "in hand), with probes, metrics and the status page on HANDOFF_GUARD_HTTP_PORT; or one "
        "cycle with --once.",
        ("handoff-guard run",
         "handoff-guard run --once --dry-run     # a whole cycle, logged, writing nothing",
         "HANDOFF_GUARD_HTTP_PORT=9464 handoff-guard run   # then open http://127.0.0.1:9464/"),
    ),
    "plan": CommandHelp(
        "Read and decide like a cycle, write nothing. The table shows what would be "
        "written or needs a person's eye (act, exempt, skip, deferred, breaker) and one line "
        "counting the rest; --verdict shows others. JSON lists every decision unless filtered. "
        "--against NEW.yaml shows, ticket by ticket, what an edit of the policy file changes.",
        ("handoff-guard plan",
         "handoff-guard plan --verdict waiting,handled --policy engaged-before-signature",
         "handoff-guard plan --format json --issue ACME-1",
         "handoff-guard plan --against new-policies.yaml"),
    ),
    "explain": CommandHelp(
        "Read one ticket and show, for every policy, its decision with the evidence: the "
        "deal and its contract status, who owns it, the steps done and the next one.",
        ("handoff-guard explain ACME-1",
         "handoff-guard explain ACME-1 --format json"),
    ),
    "validate": CommandHelp(
        "Check a policy file without touching Jira: every problem at once, sorted by line, "
        "as file:line:col: path: message; a valid file is summarized. Exit 1 when invalid.",
        ("handoff-guard validate",
         "handoff-guard validate config/policies.yaml"),
    ),
    "revert": CommandHelp(
        "Undo what the bot changed on tickets: give each back to its previous assignee, "
        "remove the labels it added, take back its comments (rewritten into 'Withdrawn by an "
        "admin: <reason>', or deleted with --delete-comments) and say so in one comment. "
        "Exactly once; try it with --dry-run first.",
        ("handoff-guard revert --run 20261104T090000-abc123 --reason 'Lee Okafor' --dry-run",
         "handoff-guard revert --run 20261104T090000-abc123 --reason 'Lee Okafor'",
         "handoff-guard revert ACME-1 ACME-2 --reason 'Lee Okafor' --delete-comments"),
    ),
    "schema": CommandHelp(
        "Print the policy file's JSON Schema, for an editor's completion and checks "
        "(VS Code's yaml.schemas, JetBrains' JSON Schema mappings).",
        ("handoff-guard schema > policies.schema.json",),
    ),
    "history": CommandHelp(
        "Every recorded decision (dry-run matches included and marked) with what was written "
        "in the same cycle. --issue tells one ticket's story. Spans like 7d count back from "
        "the newest cycle in the store.",
        ("handoff-guard history --issue ACME-1",
         "handoff-guard history --since 7d --outcome failed",
         "handoff-guard history --format csv > history.csv",
         "handoff-guard history --cycles"),
    ),
    "report": CommandHelp(
        "The leadership report since the first cycle the store knows: tickets flagged per "
        "week by cause, customer, PM and account executive; what happened next; the list of "
        "flagged tickets with links; dry-run policies as 'would have'; a trend once there is "
        "enough history; a PNG chart.",
        ("handoff-guard report",
         "handoff-guard report --format html --out report.html",
         "handoff-guard report --since 2026-10-01 --format json",
         "handoff-guard report --publish      # also update the Confluence page"),
    ),
    "sandbox": CommandHelp(
        "Serve a simulated Jira and Confluence (Cloud or Data Center) on loopback, from a "
        "site file or generated, to try policies with no Atlassian account. Its control API "
        "(/_sandbox/...) resets it, moves its clock and injects faults.",
        ("handoff-guard sandbox",
         "handoff-guard sandbox --site site.yaml --port 8090",
         "handoff-guard sandbox --generate 5000 --flavor datacenter"),
    ),
    "snapshot": CommandHelp(
        "Copy what the policies read from your site (tickets in scope, people, deal pages) "
        "into a site file the sandbox serves, optionally anonymized, to try an edit against "
        "your own conventions.",
        ("handoff-guard snapshot --out site.yaml",
         "handoff-guard snapshot --out site.yaml --anonymize --issues 200"),
    ),
    "settings": CommandHelp(
        "Every environment variable the worker reads, the value in force (from the "
        "environment or --env-file; credentials masked) and its default. Exits 1 when a value "
        "is malformed, naming it.",
        ("handoff-guard settings",
         "handoff-guard settings --env-file /etc/handoff-guard/env --format json"),
    ),
    "demo": CommandHelp(
        "Tell the story on the demo site in a few minutes, with no network and no account: "
        "a sandbox, the default policies, cycles over simulated days.",
        ("handoff-guard demo",),
    ),
}


def document_command(name: str, parser: argparse.ArgumentParser, *, epilog: str = "") -> None:
    """Give ``parser`` (the subcommand ``name``) its description and examples."""
    found = HELP.get(name)
    if found is None:  # a new command without its entry here: a test fails, the CLI still runs
        return
    parser.description = textwrap.fill(found.description, width=79)
    lines = "\n".join(f"  {line}" for line in found.examples)
    parser.epilog = f"examples:\n{lines}" + (f"\n\n{epilog}" if epilog else "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter

"""``make demo``: the story of one Monday on the demo site, told in a terminal.

No network and no Atlassian account: the sandbox serves ``config/sandbox/demo-site.yaml``
in-process on a free loopback port, the settings point at it, and the state store lives in a
temporary folder. The story is deterministic (the site has its own clock): the plan, an
enforcing cycle, the comments as the PMs read them in Jira, three days later a cycle that
reassigns, then a cycle with nothing left to do, and a summary.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table

from worker.cli.render import plan_table
from worker.cycle.report import CycleReport
from worker.cycle.runner import CycleRunner
from worker.model.issue import IssueSnapshot
from worker.model.plan import Plan
from worker.policy import plan as make_plan
from worker.policy import search_spec
from worker.read.site import read_site, spec_for_issues
from worker.report import load_report
from worker.report.build import period_start
from worker.report.chart import ChartUnavailableError, write_chart
from worker.report.render import markdown
from worker.settings.env import Settings
from worker.settings.secret import Secret
from worker.state.history import store_now
from worker.state.store import Store
from worker.telemetry import logs

ROOT = Path(__file__).resolve().parents[2]


def shipped_config(root: Path = ROOT, prefix: Path = Path(sys.prefix)) -> Path:
    """The folder of the shipped policy file, its templates and the demo site: ``config/`` of
    the checkout this code runs from, else the copy an installed package put under
    ``<prefix>/share/handoff-guard`` (pyproject.toml's data-files)."""
    checkout = root / "config"
    if (checkout / "sandbox" / "demo-site.yaml").is_file():
        return checkout
    return prefix / "share" / "handoff-guard"


DEMO_SITE = shipped_config() / "sandbox" / "demo-site.yaml"
DEMO_POLICIES = shipped_config() / "policies.yaml"
#: Monday 09:00 UTC + 3 days = Thursday: three business days, past the two-day grace
ADVANCE = "3d"


@dataclass(frozen=True, slots=True)
class Chapter:
    """One cycle of the story and what it did."""

    title: str
    report: CycleReport


def _console(stream: TextIO) -> Console:
    tty = stream.isatty() if hasattr(stream, "isatty") else False
    return Console(file=stream, width=None if tty else 132, highlight=False, soft_wrap=False)


def _customers(site: dict[str, Any]) -> Table:
    table = Table(title="Customers (Confluence deal pages in SALES)", title_justify="left")
    for name in ("Account", "Jira project", "Contract status", "Signed on", "Account executive"):
        table.add_column(name)
    users = {str(u.get("name")): u for u in site.get("users", [])}
    pages = site.get("confluence", {}).get("pages", [])
    for page in pages:
        props = page.get("properties") or {}
        if "deal" not in (page.get("labels") or []) or not props:
            continue
        ae = str(props.get("Account executive", "")).lstrip("@")
        person = users.get(ae, {})
        who = str(person.get("display_name", ae))
        if person and person.get("active") is False:
            who += " (left the company)"
        table.add_row(
            str(props.get("Account", "")),
            str(props.get("Jira project", "")) or "-",
            str(props.get("Contract status", "")),
            str(props.get("Signed on", "")) or "-",
            who,
        )
    table.add_row("Hooli", "HOOLI", "[dim](no deal page)[/]", "-", "-")
    return table


def _outcomes_table(report: CycleReport, *, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("Ticket", style="bold")
    table.add_column("Outcome")
    table.add_column("Actions")
    table.add_column("Policies")
    policies: dict[str, list[str]] = {}
    if report.plan is not None:
        for w in report.plan.writes:
            policies[w.issue] = list(w.policies)
    for o in report.results:
        table.add_row(o.issue, o.status, ", ".join(o.actions) or "-",
                      ", ".join(policies.get(o.issue, [])))
    return table


def _report_line(report: CycleReport) -> str:
    writes = sum(report.outcomes.get(s, 0) for s in ("applied", "fallback"))
    return (
        f"cycle {report.status}: {report.issues_read} tickets read, "
        f"{sum(sum(v.values()) for v in report.counts.values())} decisions, "
        f"{writes} ticket(s) written, {report.actions_applied} action(s) applied, "
        f"{report.actions_failed} failed, {report.requests} HTTP requests, "
        f"{report.retries} retries"
    )


def _bot_comments(snapshots: Sequence[IssueSnapshot], bot_id: str) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    for s in snapshots:
        assignee = s.assignee.display_name if s.assignee else "nobody"
        found.extend(
            (s.key, assignee, c.text) for c in s.comments if c.author and c.author.id == bot_id
        )
    return found


def _plan_now(runner: CycleRunner) -> tuple[Plan, tuple[IssueSnapshot, ...]]:
    policies = runner.source.current()
    atlassian = runner.atlassian()
    reading = read_site(atlassian, search_spec(policies), journal=runner.store)
    the_plan = make_plan([*reading.snapshots, *reading.malformed], reading.directory,
                         reading.deal_read, policies, reading.now, keep_no_match=False)
    return the_plan, reading.snapshots


def run_demo(
    *,
    stream: TextIO | None = None,
    site_path: Path = DEMO_SITE,
    policies_path: Path = DEMO_POLICIES,
    state_dir: Path | None = None,
) -> int:
    """Tell the story; returns 0 when every chapter did what the story says, else 1.

    The store and the report's chart stay in ``state_dir`` (default ``./var/demo``) after the
    demo, so the ``history`` command it prints at the end finds them; each run starts afresh.
    """
    from worker.sandbox import Sandbox

    out = _console(stream or sys.stdout)
    # The story is the output; the JSON logs would drown it. Warnings and errors still show.
    logs.configure(log_format="console", level="WARNING", stream=sys.stderr)
    folder = (state_dir or Path.cwd() / "var" / "demo").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "handoff-guard.db"
    for old in folder.glob("handoff-guard.db*"):
        old.unlink()  # a new story every time: yesterday's demo must not show in its report
    with Sandbox.start(site_path) as sandbox:
        settings = Settings(
            jira_url=sandbox.url,
            jira_username=sandbox.bot_email,
            jira_api_token=Secret(sandbox.bot_token),
            jira_flavor="datacenter" if sandbox.flavor == "datacenter" else "cloud",
            config_path=policies_path,
            state=str(state),
        )
        logs.register_secrets(settings.secrets(), usernames=[sandbox.bot_email])
        store = Store.open(settings.state)
        runner = CycleRunner(settings, store)
        try:
            return _story(out, sandbox, runner, store, folder=folder)
        finally:
            store.close()


def _story(out: Console, sandbox: object, runner: CycleRunner, store: Store, *,
           folder: Path) -> int:
    from worker.sandbox import Sandbox

    assert isinstance(sandbox, Sandbox)
    problems: list[str] = []
    never = threading.Event()

    out.print(Rule("[bold]Handoff Guard demo[/]"))
    out.print(
        "A simulated Jira Cloud + Confluence site (the sandbox, in this process) for a small "
        "services firm. Sales owns a customer until the contract is signed; project managers "
        "engage at the handoff, not before. Site clock: "
        f"[bold]{sandbox.now():%A %d %B %Y, %H:%M} UTC[/]."
    )
    site = sandbox.site()
    issues = site.get("issues", [])
    out.print(f"{len(issues)} tickets in {len(site.get('projects', []))} projects, "
              f"{len(site.get('users', []))} people.")
    out.print(_customers(site))

    out.print(Rule("1. The plan: what a cycle would do, before anything is written"))
    the_plan, snapshots = _plan_now(runner)
    out.print(plan_table(the_plan.decisions,
                         title="Decisions (tickets no policy matches are left out)"))
    verdicts = Counter(d.verdict for d in the_plan.decisions)
    out.print(f"{len(the_plan.writes)} ticket(s) would be written; verdicts: "
              + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items())))
    decided = {d.issue for d in the_plan.decisions}
    untouched = [s for s in snapshots if s.key not in decided]
    out.print(
        f"The search reads only open tickets assigned to PMs ({len(snapshots)}); "
        f"{len(untouched)} of them match no policy and are left alone:"
    )
    for s in untouched:
        out.print(f"  {s.key} {s.summary!r} ({s.issue_type}, {s.project})")

    out.print(Rule("2. An enforcing cycle"))
    sandbox.clear_requests()
    first = runner.run(dry_run=False, stopping=never)
    out.print(_report_line(first))
    out.print(_outcomes_table(first, title="What the bot wrote"))
    if first.status != "ok" or first.actions_applied == 0:
        problems.append(f"the first cycle should comment: {first.summary()}")

    out.print(Rule("3. The comments, as the PMs read them in Jira"))
    commented = [o.issue for o in first.results if "comment" in o.actions]
    if commented:
        policies = runner.source.current()
        reading = read_site(runner.atlassian(),
                            spec_for_issues(search_spec(policies), commented),
                            journal=None)
        bot_id = runner.atlassian().bot.id
        shown = 0
        for key, assignee, text in _bot_comments(
            sorted(reading.snapshots, key=lambda s: s.key), bot_id
        ):
            if shown < 3:
                out.print(Panel(text, title=f"{key} (assigned to {assignee})",
                                title_align="left", expand=False, width=100))
            shown += 1
        if shown > 3:
            out.print(f"... and {shown - 3} more comment(s) like these.")
        if shown == 0:
            problems.append("no bot comment could be read back from Jira")

    out.print(Rule(f"4. The site clock moves {ADVANCE} (three business days, past the grace)"))
    sandbox.advance(ADVANCE)
    out.print(f"Site clock: [bold]{sandbox.now():%A %d %B %Y, %H:%M} UTC[/]. Nobody reacted.")

    out.print(Rule("5. A cycle that reassigns"))
    second = runner.run(dry_run=False, stopping=never)
    out.print(_report_line(second))
    out.print(_outcomes_table(second, title="What the bot wrote"))
    reassigned = [o.issue for o in second.results if "reassign" in o.actions]
    if not reassigned:
        problems.append("the second cycle should reassign")
    else:
        now_site = sandbox.site()
        names = {u["name"]: u["display_name"] for u in now_site.get("users", [])}
        by_key = {i["key"]: i for i in now_site.get("issues", [])}
        for key in reassigned:
            issue = by_key.get(key, {})
            who = issue.get("assignee")
            out.print(f"  {key} is now assigned to {names.get(who, who)} "
                      f"(labels: {', '.join(issue.get('labels', []))})")

    out.print(Rule("6. The next cycle has nothing left to do"))
    third = runner.run(dry_run=False, stopping=never)
    out.print(_report_line(third))
    written = sum(third.outcomes.get(s, 0) for s in ("applied", "fallback", "failed"))
    if written:
        problems.append(f"the third cycle should write nothing, wrote {written}")
    else:
        out.print("No comment twice, no reassignment twice: the state lives on the tickets.")

    out.print(Rule("Summary"))
    table = Table(title="Cycles", title_justify="left")
    for name in ("Cycle", "Site time", "Tickets read", "Tickets written", "Actions", "Failed",
                 "HTTP requests", "Retries"):
        table.add_column(name)
    for label, r in (("enforcing", first), ("after 3 days", second), ("steady", third)):
        table.add_row(
            label,
            f"{r.site_now:%a %d %b %H:%M}" if r.site_now else "-",
            str(r.issues_read),
            str(sum(r.outcomes.get(s, 0) for s in ("applied", "fallback"))),
            str(r.actions_applied),
            str(r.actions_failed),
            str(r.requests),
            str(r.retries),
        )
    out.print(table)
    counts = store.table_counts()
    out.print(
        f"State store: {counts['cycles']} cycles, {counts['decisions']} decisions with evidence, "
        f"{counts['outcomes']} outcomes recorded."
    )

    out.print(Rule("The report leadership reads (`python -m worker report`)"))
    policies = runner.source.current()
    newest = store_now(store)
    until = newest + timedelta(seconds=1)
    report = load_report(store, since=period_start(until, 1, policies.tz), until=until,
                         tz=policies.tz, generated_at=newest, store_name=str(store_path(folder)))
    try:
        chart: str | None = str(write_chart(report, folder / "handoff-guard-report.png"))
    except ChartUnavailableError as exc:
        chart, chart_said = None, f"not drawn ({exc})"
    else:
        chart_said = str(chart)
    # Deal-page links carry the sandbox's random port; the published page has them.
    out.print(markdown(report, chart=chart, links=False), markup=False, highlight=False,
              soft_wrap=True, emoji=False)
    out.print(f"Chart: {chart_said}", markup=False, highlight=False, soft_wrap=True)
    if report.flagged == 0:
        problems.append("the report should count the flagged tickets")
    reassigned_key = reassigned[0] if reassigned else "ACME-1"
    if problems:
        for p in problems:
            out.print(f"[bold red]unexpected:[/] {p}")
        return 1
    out.print("[bold green]Demo complete.[/] Next: `make test`, or point it at your own site "
              "(see README.md).")
    out.print(Rule("Ask the audit trail"))
    out.print("Every decision, comment and reassignment of one ticket, with run ids and times:")
    out.print(f"  {history_command(folder, reassigned_key)}", markup=False, highlight=False,
              soft_wrap=True)
    return 0


def store_path(folder: Path) -> Path:
    """Where the demo keeps its state store."""
    return folder / "handoff-guard.db"


def history_command(folder: Path, key: str) -> str:
    """The ``history`` command, exactly as it works from the current folder."""
    python = Path(sys.executable)
    try:
        shown = str(python.relative_to(Path.cwd()))
    except ValueError:
        shown = str(python)
    return f"HANDOFF_GUARD_STATE={store_path(folder)} {shown} -m worker history --issue {key}"


def main() -> int:
    """Entry point for ``python -m worker.cli.demo``."""
    return run_demo()


if __name__ == "__main__":
    sys.exit(main())

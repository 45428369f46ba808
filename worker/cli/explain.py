"""``explain KEY``: for one ticket, every policy's decision and evidence, the deal and sales
owner found, the bot's recorded state, what the next step would be and when, and what the
store remembers doing to it."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from rich.table import Table

from worker.cli.render import VERDICT_STYLE, console, print_json, reading_progress
from worker.cycle.runner import CycleRunner
from worker.exits import EXIT_INVALID, EXIT_OK
from worker.model.state import PolicyState
from worker.model.vocabulary import step_number
from worker.policy import Explanation, explain, search_spec
from worker.read.site import read_site, spec_for_issues
from worker.state.records import decision_to_json
from worker.state.store import Store
from worker.telemetry import logs


def _state_json(state: PolicyState) -> dict[str, Any]:
    return {
        "first_flagged_at": state.first_flagged_at.isoformat() if state.first_flagged_at else None,
        "steps": [
            {"step": step_number(s.step), "at": s.at.isoformat(), "actions": list(s.actions)}
            for s in state.steps
        ],
        "reassigned_to": state.reassigned_to,
        "overridden_at": state.overridden_at.isoformat() if state.overridden_at else None,
        "overridden_by": state.overridden_by,
    }


def explanation_json(found: Explanation, *, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The one JSON object ``explain --format json`` prints."""
    deal = found.deal
    return {
        "issue": found.issue,
        "decisions": [decision_to_json(d) for d in found.decisions],
        "deal": None
        if deal is None
        else {
            "account": deal.account,
            "jira_project": deal.jira_project,
            "contract_status": deal.contract_status,
            "signed_on": deal.signed_on.isoformat() if deal.signed_on else None,
            "account_executive": deal.account_executive.display_name
            if deal.account_executive
            else None,
            "source": deal.source,
            "page_url": deal.page_url,
        },
        "deal_evidence": found.deal_evidence,
        "deal_found_by": found.deal_found_by,
        "contract_state": found.contract_state,
        "sales_owner": None
        if found.sales_owner is None
        else {"id": found.sales_owner.id, "name": found.sales_owner.display_name},
        "sales_owner_why": found.sales_owner_why,
        "state": {p: _state_json(s) for p, s in found.states.items() if s != PolicyState()},
        "next_steps": [
            {"policy": n.policy, "what": n.words,
             "due_at": n.due_at.isoformat() if n.due_at else None}
            for n in found.next_steps
        ],
        "history": [{**h, "step": step_number(h.get("step"))} for h in history],
    }


def explain_issue(runner: CycleRunner, store: Store, key: str, *, fmt: str) -> int:
    """Read one ticket (whatever the scopes say) and explain it; exit 1 when it is not found."""
    policies = runner.source.current()
    atlassian = runner.atlassian()
    # The changelog says who added an opt-out label, and when (one ticket: cheap).
    spec = replace(spec_for_issues(search_spec(policies), [key]), changelog=True)
    with reading_progress("Reading the ticket") as on_issue:
        reading = read_site(atlassian, spec, journal=store, on_issue=on_issue,
                              policies=policies)
    matches = [s for s in reading.snapshots if s.key.upper() == key.upper()]
    out = console()
    if not matches:
        bad = [m for m in reading.malformed if m.key.upper() == key.upper()]
        reason = bad[0].reason if bad else "not found, or the bot account cannot browse it"
        sys.stderr.write(logs.scrub(f"handoff-guard: error: {key}: {reason}") + "\n")
        return EXIT_INVALID
    snapshot = matches[0]
    found = explain(snapshot, reading.directory, reading.deal_read, policies, reading.now)
    history = store.decisions_for(snapshot.key, limit=20)
    if fmt == "json":
        print_json(explanation_json(found, history=history))
        return EXIT_OK

    out.print(f"[bold]{snapshot.key}[/] {snapshot.summary}", highlight=False)
    out.print(
        f"  {snapshot.issue_type} · {snapshot.status} · assignee "
        f"{snapshot.assignee.display_name if snapshot.assignee else 'nobody'} · reporter "
        f"{snapshot.reporter.display_name if snapshot.reporter else 'nobody'}",
        highlight=False,
    )
    out.print(f"  site time {reading.now:%Y-%m-%d %H:%M} UTC", highlight=False)
    out.print()
    out.print(f"[bold]Deal[/]: {found.deal_evidence} (contract {found.contract_state})",
              highlight=False)
    owner = found.sales_owner.display_name if found.sales_owner else "nobody"
    out.print(f"[bold]Sales owner[/]: {owner} - {found.sales_owner_why}", highlight=False)
    out.print()
    for d in found.decisions:
        heading = (
            f"[bold]{d.policy}[/] ({d.mode}): [{VERDICT_STYLE.get(d.verdict, '')}]{d.verdict}[/]"
            + (f" - {d.reason}" if d.reason else "")
        )
        if not d.evidence:
            # Nothing was evaluated (claimed by an earlier policy, malformed): a line, no table.
            out.print(heading, highlight=False)
            out.print()
            continue
        table = Table(title=heading, title_justify="left")
        table.add_column("Condition")
        table.add_column("Holds", no_wrap=True)
        table.add_column("Because")
        for e in d.evidence:
            table.add_row(e.condition, "yes" if e.result else "no", e.detail)
        out.print(table)
    states = {p: s for p, s in found.states.items() if s != PolicyState()}
    if states:
        out.print("[bold]Recorded on the ticket[/]:")
        for policy, state in states.items():
            steps = ", ".join(
                f"step {step_number(s.step)} {'+'.join(s.actions)} at {s.at:%Y-%m-%d %H:%M}"
                for s in state.steps
            )
            out.print(f"  {policy}: {steps or 'flagged'}"
                      + (f"; reassigned to {state.reassigned_to}" if state.reassigned_to else "")
                      + (f"; overridden by {state.overridden_by}" if state.overridden_by else ""),
                      highlight=False)
    else:
        out.print("[bold]Recorded on the ticket[/]: nothing yet")
    out.print("[bold]Next[/]:")
    for step in found.next_steps:
        out.print(f"  {step.policy}: {step.words}", highlight=False)
    if history:
        out.print(f"[bold]In the state store[/]: {len(history)} recorded decision(s), latest "
                  f"{history[0]['at']} ({history[0]['verdict']})", highlight=False)
    return EXIT_OK

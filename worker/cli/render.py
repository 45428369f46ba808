"""How the CLI shows things: rich tables on a terminal, one JSON object with ``--format json``."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from worker.model.plan import Decision, Plan
from worker.model.vocabulary import VERDICTS
from worker.settings.catalogue import SettingValue
from worker.state.records import CycleHistory, decision_to_json
from worker.telemetry import logs

VERDICT_STYLE = {
    "act": "bold red",
    "waiting": "cyan",
    "handled": "dim",
    "deferred": "yellow",
    "exempt": "green",
    "no-match": "dim",
    "skip": "yellow",
    "breaker": "bold magenta",
}
#: what ``plan`` shows by default: what would be written, or needs a person's eye
NOTEWORTHY: frozenset[str] = frozenset({"act", "exempt", "skip", "deferred", "breaker"})


def console(stream: TextIO | None = None) -> Console:
    """A console on ``stream`` (stdout by default); plain text when it is not a terminal."""
    return Console(file=stream or sys.stdout, soft_wrap=False, width=None if _tty(stream) else 160)


def _tty(stream: TextIO | None) -> bool:
    target = stream or sys.stdout
    try:
        return target.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def reading_progress(label: str = "Reading issues") -> Iterator[Callable[[int], None]]:
    """A spinner with a running count on stderr when it is a terminal; a no-op otherwise."""
    if not _tty(sys.stderr):
        yield lambda _n: None
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed} read"),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    )
    with progress:
        task = progress.add_task(label, total=None)
        yield lambda n: progress.update(task, completed=n)


def print_json(value: object, *, stream: TextIO | None = None) -> None:
    """One JSON document on stdout (sorted keys off: the shape documents itself)."""
    out = stream or sys.stdout
    # the one scrubber: an error detail or reason in the document may quote a credential
    value = logs.scrub_value(value, keys=False)
    out.write(json.dumps(value, indent=2, ensure_ascii=False, default=str))
    out.write("\n")


def plan_summary(the_plan: Plan, **extra: Any) -> dict[str, Any]:
    """The ``summary`` object of ``plan --format json``."""
    by_policy: dict[str, Counter[str]] = {}
    for d in the_plan.decisions:
        by_policy.setdefault(d.policy, Counter())[d.verdict] += 1
    verdicts = Counter(d.verdict for d in the_plan.decisions)
    return {
        "now": the_plan.now.isoformat(),
        "decisions": len(the_plan.decisions),
        "verdicts": dict(sorted(verdicts.items())),
        "by_policy": {p: dict(sorted(c.items())) for p, c in sorted(by_policy.items())},
        "writes": len(the_plan.writes),
        "actions": sum(len(w.actions) for w in the_plan.writes),
        "breakers": dict(the_plan.breakers),
        "deferred": dict(the_plan.deferred),
        "promises": dict(the_plan.promises),
        **extra,
    }


def plan_json(the_plan: Plan, **extra: Any) -> dict[str, Any]:
    """The one JSON object ``plan --format json`` prints."""
    return {
        "decisions": [decision_to_json(d) for d in the_plan.decisions],
        "summary": plan_summary(the_plan, **extra),
    }


def _actions_words(decision: Decision) -> str:
    parts: list[str] = []
    for action in decision.actions:
        if action.kind == "comment":
            parts.append(f"comment ({action.template})")
        elif action.kind == "reassign":
            parts.append(f"reassign -> {action.to.display_name}")
        elif action.kind == "label":
            parts.append("label " + " ".join([f"+{x}" for x in action.add]
                                              + [f"-{x}" for x in action.remove]))
        else:
            parts.append("flag" if action.on else "unflag")
    return ", ".join(parts) or "-"


@dataclass(frozen=True, slots=True)
class PlanRows:
    """The decisions a ``plan`` view shows, and how many it leaves out, by verdict."""

    shown: tuple[Decision, ...]
    #: verdict -> decisions not shown because of their verdict or policy
    hidden: Mapping[str, int]
    #: decisions that passed the filters but fell beyond ``--limit``
    beyond_limit: int = 0

    def hidden_line(self) -> str | None:
        """One line that counts what is not shown ("not shown: no-match 412, waiting 3")."""
        parts = [f"{v} {n}" for v, n in sorted(self.hidden.items(), key=_verdict_order) if n]
        if self.beyond_limit:
            parts.append(f"{self.beyond_limit} more beyond --limit")
        return "not shown: " + ", ".join(parts) if parts else None


def _verdict_order(item: tuple[str, int]) -> int:
    return VERDICTS.index(item[0]) if item[0] in VERDICTS else len(VERDICTS)


def select_decisions(
    decisions: Sequence[Decision],
    *,
    verdicts: Collection[str] = NOTEWORTHY,
    policies: Collection[str] = (),
    limit: int | None = None,
    unlisted: Mapping[str, int] | None = None,
) -> PlanRows:
    """Filter decisions by verdict and policy (empty: all policies), then cap at ``limit``.

    ``unlisted`` counts decisions the planner did not keep (no-match rows of a lean plan), so
    the hidden line stays exact without materializing them.
    """
    hidden: Counter[str] = Counter(unlisted or {})
    shown: list[Decision] = []
    over = 0
    for d in decisions:
        if d.verdict not in verdicts or (policies and d.policy not in policies):
            hidden[d.verdict] += 1
        elif limit is not None and len(shown) >= limit:
            over += 1
        else:
            shown.append(d)
    return PlanRows(tuple(shown), dict(hidden), over)


def plan_table(decisions: Iterable[Decision], *, title: str = "Plan") -> Table:
    """One row per decision: ticket, policy, mode, verdict, actions, why."""
    table = Table(title=title, show_lines=False, expand=False)
    table.add_column("Ticket", style="bold", no_wrap=True)
    table.add_column("Policy", no_wrap=True)
    table.add_column("Mode", no_wrap=True)
    table.add_column("Verdict", no_wrap=True)
    table.add_column("Actions")
    table.add_column("Why")
    for d in decisions:
        table.add_row(
            d.issue,
            d.policy,
            d.mode,
            f"[{VERDICT_STYLE.get(d.verdict, '')}]{d.verdict}[/]",
            _actions_words(d),
            d.reason or _why(d),
        )
    return table


_ROUTINE = frozenset({"assignee_in", "not", "status_category_in"})


def _why(decision: Decision) -> str:
    if decision.verdict == "act":
        # Who is assigned and that the ticket is open are true of every match; what kind of
        # work it is and the contract are what a reader wants to see.
        telling = [e for e in decision.evidence if e.condition not in _ROUTINE]
        chosen = telling[-2:] or list(decision.evidence[-1:])
    else:
        chosen = [e for e in decision.evidence if not e.result][:1]
    return "; ".join(e.detail for e in chosen)


def history_json(items: Sequence[CycleHistory]) -> dict[str, Any]:
    """The one JSON object ``history --format json`` prints."""
    return {
        "cycles": [
            {
                "run_id": h.cycle.run_id,
                "started_at": h.cycle.started_at.isoformat(),
                "finished_at": h.cycle.finished_at.isoformat() if h.cycle.finished_at else None,
                "site_now": h.cycle.site_now.isoformat() if h.cycle.site_now else None,
                "dry_run": h.cycle.dry_run,
                "status": h.cycle.status,
                "error": h.cycle.error,
                "issues_read": h.cycle.issues_read,
                "actions_applied": h.cycle.actions_applied,
                "actions_failed": h.cycle.actions_failed,
                "requests": h.cycle.requests,
                "retries": h.cycle.retries,
                "duration_s": h.cycle.duration_s,
                "decisions": {p: dict(v) for p, v in h.cycle.counts.items()},
                "config_sha256": h.cycle.config_sha256,
                "outcomes": [
                    {
                        "issue": o.issue,
                        "status": o.status,
                        "actions": list(o.actions),
                        "detail": o.detail,
                        "http_status": o.http_status,
                        "why": {p: list(v) for p, v in o.policies.items()},
                        "changes": None if o.changes is None else dict(o.changes),
                    }
                    for o in h.outcomes
                ],
            }
            for h in items
        ]
    }


def history_tables(items: Sequence[CycleHistory]) -> list[Table]:
    """A table of cycles, then one of what they wrote and why."""
    cycles = Table(title="Cycles (newest first)")
    for name in ("Run", "Started (UTC)", "Site time", "Mode", "Status", "Issues", "Applied",
                 "Failed", "Requests", "Retries", "Seconds"):
        cycles.add_column(name, no_wrap=True)
    writes = Table(title="What the bot did, and why")
    for name in ("Run", "Site time", "Ticket", "Outcome", "Actions", "Policy: why"):
        writes.add_column(name)
    for h in items:
        c = h.cycle
        cycles.add_row(
            c.run_id,
            f"{c.started_at:%Y-%m-%d %H:%M:%S}",
            f"{c.site_now:%Y-%m-%d %H:%M}" if c.site_now else "-",
            "dry-run" if c.dry_run else "enforce",
            c.status if not c.error else f"{c.status}: {c.error}",
            str(c.issues_read),
            str(c.actions_applied),
            str(c.actions_failed),
            str(c.requests),
            str(c.retries),
            f"{c.duration_s:.2f}" if c.duration_s is not None else "-",
        )
        for o in h.outcomes:
            why = "; ".join(
                f"{policy}: " + (entries[0].get("reason") or _evidence_words(entries[0]))
                for policy, entries in o.policies.items()
                if entries
            )
            writes.add_row(
                c.run_id,
                f"{o.at:%Y-%m-%d %H:%M}",
                o.issue,
                o.status,
                ", ".join(o.actions) or "-",
                why or o.detail or "-",
            )
    return [cycles, writes]


def _evidence_words(entry: Mapping[str, Any]) -> str:
    evidence = [e for e in entry.get("evidence") or [] if isinstance(e, dict)]
    telling = [e for e in evidence if e.get("condition") not in _ROUTINE]
    return "; ".join(str(e.get("detail", "")) for e in (telling[-2:] or evidence[-1:]))


def settings_table(rows: Iterable[SettingValue]) -> Table:
    """``settings``: each variable, the value in force (credentials masked) and its default;
    a value set by the environment or an env file is marked ``*``."""
    table = Table(title="Settings (* set by the environment or --env-file)")
    for column in ("setting", "value", "default", "what"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.name + (" *" if row.is_set else ""), logs.scrub(row.value),
                      row.default, row.about)
    return table

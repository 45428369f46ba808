"""The report's tables, and the report as Markdown (terminal), JSON and CSV (HTML and
Confluence storage format: :mod:`worker.report.html`).

Every format is made from the same tables (:func:`tables`), so they cannot disagree.
Inserted text is always escaped: summaries, customer and people names come from Jira and
Confluence.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from worker.report.build import FATE_WORDS, FATES, NOBODY, Breakdown, Report
from worker.report.context import GROUP_WORDS, HANDBACK, HEADS_UP


@dataclass(frozen=True, slots=True)
class Status:
    """A ticket's state as a coloured word (a Confluence status lozenge on the page)."""

    text: str
    #: Confluence's status colours: Grey, Red, Yellow, Green, Blue, Purple
    colour: str


#: text, a number, (text, url) for a link, or a status word
Cell = str | int | tuple[str, str] | Status

#: each fate's colour: done (green), handed on (blue), a person's choice (grey), waiting (yellow)
FATE_COLOURS: Mapping[str, str] = {
    "moved": "Green", "reassigned": "Blue", "opted-out": "Grey", "overridden": "Grey",
    "reverted": "Purple", "open": "Yellow",
}


@dataclass(frozen=True, slots=True)
class Table:
    """One table of the report: a title, a header row and body rows."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str | None = None


def _days(hours: float | None) -> str:
    if hours is None:
        return "n/a"
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def _day(moment: datetime, report: Report) -> str:
    return f"{moment.astimezone(ZoneInfo(report.timezone)):%d %b %Y}"


def title(report: Report) -> str:
    """The report's heading (one time zone throughout: the policy file's)."""
    last = report.weeks[-1].start if report.weeks else report.until.date()
    first = report.weeks[0].start if report.weeks else report.since.date()
    weeks = len(report.weeks)
    return (f"Handoff Guard report: weeks of {first:%d %b %Y} to {last:%d %b %Y} "
            f"({weeks} week{'' if weeks == 1 else 's'}, times in {report.timezone})")


def since_line(report: Report) -> str | None:
    """"Since <date>" when the period starts at the bot's first cycle."""
    if report.started_at is None or report.since > report.started_at:
        return None
    return (f"Since {_day(report.started_at, report)}, when Handoff Guard's first cycle ran "
            "(no week before it is shown).")


def footer(report: Report) -> str:
    """Where the numbers come from and when (in the report's time zone)."""
    at = report.generated_at.astimezone(ZoneInfo(report.timezone))
    return (f"Generated {at:%Y-%m-%d %H:%M} ({report.timezone}, site time) by Handoff Guard "
            "from its state store.")


def _fate_words(fates: Mapping[str, int]) -> str:
    return ", ".join(f"{FATE_WORDS[f]} {fates[f]}" for f in FATES if fates[f]) or "none yet"


def summary_lines(report: Report) -> list[str]:
    """The summary in sentences, numbers first."""
    if report.empty_reason is not None and not report.cycles:
        return [report.empty_reason]
    ctx = report.context
    by_group = {g: [s for s in report.stories if s.mode != "dry-run" and ctx.group(s.policy) == g]
                for g in (HANDBACK, HEADS_UP)}
    lines = [
        f"Flagged: {report.flagged} ticket(s) by enforcing policies in {report.cycles} "
        f"cycle(s): {len(by_group[HANDBACK])} {GROUP_WORDS[HANDBACK]}, "
        f"{len(by_group[HEADS_UP])} {GROUP_WORDS[HEADS_UP]}"
        + (f"; dry-run policies would have flagged {report.would_have} more "
           "(not counting tickets an enforcing policy before them in the file already takes)."
           if report.would_have else "."),
        f"Deliverables, what happened next: {_fate_words(report.group_fates(HANDBACK))}.",
        f"Median time from the first comment to the deliverable being with Sales: "
        f"{_days(report.median_to_sales_h)} ({report.to_sales_n} ticket(s) reassigned by the "
        f"bot); to the PM moving it on: {_days(report.median_to_moved_h)} "
        f"({report.to_moved_n} ticket(s)).",
    ]
    if by_group[HEADS_UP]:
        lines.append(f"Heads-up comments: {len(by_group[HEADS_UP])} posted; "
                     f"{_fate_words(report.group_fates(HEADS_UP))}.")
    if report.left:
        names = ", ".join(f"{b.name} ({b.flagged})" for b in report.left)
        lines.append(f"People who have left (their account is deactivated), shown apart and "
                     f"not charged: {names}.")
    lines.append(report.trend)
    since = since_line(report)
    if since is not None:
        lines.insert(0, since)
    if report.empty_reason is not None:
        lines.insert(0, report.empty_reason)
    return lines


def _breakdown_table(name: str, title: str, items: Sequence[Breakdown], *,
                     links: bool = False) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for b in items:
        label: Cell = (b.name, b.link) if links and b.link else b.name
        rows.append((label, b.flagged, b.open))
    return Table(title, (name, "Flagged", "Deliverables still open"), tuple(rows),
                 None if rows else "Nothing flagged.")


def _ticket(issue: str, report: Report) -> Cell:
    url = report.context.ticket_url(issue)
    return (issue, url) if url else issue


def ticket_table(report: Report) -> Table:
    """Every ticket an enforcing policy flagged in the period: link, summary, cause, who,
    when, and where it stands now."""
    ctx = report.context
    rows = tuple(
        (_ticket(s.issue, report), s.summary or "", ctx.name(s.policy),
         s.customer or NOBODY, s.pm or NOBODY, _day(s.flagged_at, report),
         Status("comment posted", "Grey")
         if s.fate == "open" and ctx.group(s.policy) == HEADS_UP
         else Status(FATE_WORDS[s.fate], FATE_COLOURS[s.fate]))
        for s in sorted(report.stories, key=lambda s: (s.flagged_at, s.issue))
        if s.mode != "dry-run"
    )
    return Table("Tickets flagged in the period",
                 ("Ticket", "Summary", "Cause", "Customer", "PM", "Flagged on", "Now"), rows,
                 None if rows else "No ticket was flagged in the period.")


def second_sign_tables(report: Report) -> list[Table]:
    """The second sign: Sales directing, chasing or approving PMs' work, per week and per
    person, with a few quoted comments (empty without a dry-run policy's quoted match)."""
    sign = report.second_sign
    if sign is None:
        return []
    weeks = tuple((f"{w:%d %b %Y}", c, a) for w, (c, a) in sorted(sign.weeks.items()))
    people = tuple((name, c, a) for name, c, a in sign.people)
    quotes: list[tuple[Cell, ...]] = []
    for q in sign.quotes:
        url = report.context.comment_url(q.issue, q.comment_id)
        quotes.append(((q.issue, url) if url else q.issue, q.author,
                       _day(q.written_at, report), f"“{q.excerpt}”"))
    headers = ("Chasing or directing", "Approving")
    return [
        Table("Second sign: Sales directing, chasing or approving PMs before signature, "
              "by week", ("Week of", *headers), weeks,
              note=f"{sign.total} Sales comment(s) matched by the dry-run policy; nothing was "
                   "written about them."),
        Table("Second sign, by Sales person", ("Sales person", *headers), people),
        Table("Second sign, in their words", ("Ticket", "Who", "When", "Comment"),
              tuple(quotes)),
    ]


def tables(report: Report, *, links: bool = True) -> list[Table]:
    """The report's tables, in reading order (``links``: customers link to deal pages)."""
    ctx = report.context
    weekly: list[tuple[Cell, ...]] = []
    for w in report.weeks:
        handback = sum(n for p, n in w.flagged.items() if ctx.group(p) == HANDBACK)
        weekly.append((
            f"{w.start:%d %b %Y}", handback, w.flagged_total - handback,
            sum(w.would_have.values()), w.comments, w.reassignments, w.backlog,
        ))
    fates: list[tuple[Cell, ...]] = []
    for group in (HANDBACK, HEADS_UP):
        counts = report.group_fates(group)
        if sum(counts.values()):
            fates.append((GROUP_WORDS[group], sum(counts.values()),
                          *(counts[f] for f in FATES)))
    out = [
        Table("Per week", ("Week of", "Deliverables flagged", "Heads-up comments",
                           "Would have (dry-run)", "Comments posted", "Reassigned by the bot",
                           "Deliverables open at week end"), tuple(weekly)),
        Table("What happened next", ("Flagged", "Tickets", *(FATE_WORDS[f] for f in FATES)),
              tuple(fates), None if fates else "Nothing flagged."),
        ticket_table(report),
        _breakdown_table("Customer", "By customer" + (" (linked to its deal page)" if links
                                                       else ""),
                         report.by_customer, links=links),
        _breakdown_table("PM", "By PM", report.by_pm),
        _breakdown_table("Account executive", "By account executive",
                         report.by_account_executive),
    ]
    if report.left:
        out.append(Table("People who have left (not charged)", ("Person", "Flagged"),
                         tuple((b.name, b.flagged) for b in report.left)))
    if report.dry_run_policies:
        rows = []
        for p in report.dry_run_policies:
            mine = [s for s in report.stories if s.policy == p]
            rows.append((ctx.name(p), len(mine), sum(1 for s in mine if s.fate == "open")))
        out.append(Table("Would have (dry-run policies: reported, never acted on)",
                         ("Policy", "Would have flagged", "Still matching"), tuple(rows)))
    return out + second_sign_tables(report)


# --------------------------------------------------------------------------- Markdown


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Status):
        return _md_escape(cell.text)
    if isinstance(cell, tuple):
        text, url = cell
        return f"[{_md_escape(text)}]({url})"
    return _md_escape(str(cell))


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Report, *, chart: str | None = None, links: bool = True) -> str:
    """The report as Markdown (what the terminal and the demo show)."""
    lines = [f"# {title(report)}", ""]
    lines += [f"- {line}" for line in summary_lines(report)]
    if chart:
        lines += ["", f"![flagged tickets per week and open backlog]({chart})"]
    for table in tables(report, links=links):
        lines += ["", f"## {table.title}", ""]
        if table.note and not table.rows:
            lines.append(table.note)
            continue
        if table.note:
            lines += [table.note, ""]
        lines.append("| " + " | ".join(_md_escape(h) for h in table.headers) + " |")
        numeric = [all(isinstance(row[i], int) for row in table.rows)
                   for i in range(len(table.headers))]
        lines.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    lines += ["", f"_{footer(report)}_", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- JSON / CSV


def as_json(report: Report) -> dict[str, Any]:
    """The documented JSON shape of ``report --format json`` (see docs/history.md)."""

    def breakdown(items: Sequence[Breakdown]) -> list[dict[str, Any]]:
        return [{"name": b.name, "flagged": b.flagged, "open": b.open, "link": b.link}
                for b in items]

    return {
        "period": {"since": report.since.isoformat(), "until": report.until.isoformat(),
                   "timezone": report.timezone, "weeks": len(report.weeks)},
        "generated_at": report.generated_at.isoformat(),
        "empty_reason": report.empty_reason,
        "summary": {
            "cycles": report.cycles,
            "flagged": report.flagged,
            "would_have": report.would_have,
            "fates": report.fates(),
            "median_first_comment_to_sales_hours": report.median_to_sales_h,
            "reassigned_measured": report.to_sales_n,
            "median_first_comment_to_moved_hours": report.median_to_moved_h,
            "moved_measured": report.to_moved_n,
            "trend": report.trend,
        },
        "weeks": [
            {"week_of": w.start.isoformat(), "flagged": w.flagged_total,
             "by_policy": dict(w.flagged), "would_have": dict(w.would_have),
             "fates": {f: w.fates.get(f, 0) for f in FATES}, "comments": w.comments,
             "reassignments": w.reassignments, "backlog": w.backlog}
            for w in report.weeks
        ],
        "by_customer": breakdown(report.by_customer),
        "by_pm": breakdown(report.by_pm),
        "by_account_executive": breakdown(report.by_account_executive),
        "tickets": [
            {"issue": s.issue, "policy": s.policy, "mode": s.mode,
             "group": report.context.group(s.policy),
             "flagged_at": s.flagged_at.isoformat(), "fate": s.fate,
             "closed_at": s.closed_at.isoformat() if s.closed_at else None,
             "customer": s.customer, "pm": s.pm, "account_executive": s.account_executive,
             "summary": s.summary, "url": report.context.ticket_url(s.issue)}
            for s in report.stories
        ],
        "since_first_cycle": report.started_at.isoformat() if report.started_at else None,
        "left": breakdown(report.left),
        "second_sign": None if report.second_sign is None else {
            "total": report.second_sign.total,
            "weeks": [{"week_of": w.isoformat(), "chasing": c, "approving": a}
                      for w, (c, a) in sorted(report.second_sign.weeks.items())],
            "people": [{"name": n, "chasing": c, "approving": a}
                       for n, c, a in report.second_sign.people],
            "quotes": [{"issue": q.issue, "comment_id": q.comment_id, "author": q.author,
                        "written_at": q.written_at.isoformat(), "excerpt": q.excerpt,
                        "url": report.context.comment_url(q.issue, q.comment_id)}
                       for q in report.second_sign.quotes],
        },
    }


def write_csv(report: Report, stream: TextIO) -> None:
    """One row per week: flagged by policy, would-have, what happened next, writes, backlog."""
    policies = sorted({p for w in report.weeks for p in w.flagged} | set(report.policies))
    dry = sorted({p for w in report.weeks for p in w.would_have})
    writer = csv.writer(stream)
    writer.writerow(["week_of", "flagged", *(f"flagged:{p}" for p in policies),
                     *(f"would_have:{p}" for p in dry), *FATES, "comments", "reassignments",
                     "backlog"])
    for w in report.weeks:
        writer.writerow([w.start.isoformat(), w.flagged_total,
                         *(w.flagged.get(p, 0) for p in policies),
                         *(w.would_have.get(p, 0) for p in dry),
                         *(w.fates.get(f, 0) for f in FATES), w.comments, w.reassignments,
                         w.backlog])

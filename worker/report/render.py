"""The report as Markdown (terminal), HTML, JSON, CSV, and Confluence storage format.

Every format is made from the same tables (:func:`tables`), so they cannot disagree.
Inserted text is always escaped: customer and people names come from Jira and Confluence.
"""

from __future__ import annotations

import csv
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from worker.report.build import FATE_WORDS, FATES, Breakdown, Report

Cell = str | int | tuple[str, str]  # text, a number, or (text, url) for a link


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


def title(report: Report) -> str:
    """The report's heading."""
    last = report.weeks[-1].start if report.weeks else report.until.date()
    first = report.weeks[0].start if report.weeks else report.since.date()
    weeks = len(report.weeks)
    return (f"Handoff Guard report: weeks of {first:%Y-%m-%d} to {last:%Y-%m-%d} "
            f"({weeks} week{'' if weeks == 1 else 's'}, {report.timezone})")


def summary_lines(report: Report) -> list[str]:
    """The summary in sentences, numbers first."""
    if report.empty_reason is not None and not report.cycles:
        return [report.empty_reason]
    fates = report.fates()
    lines = [
        f"Flagged: {report.flagged} ticket(s) by enforcing policies in {report.cycles} "
        "cycle(s)" + (f"; dry-run policies would have flagged {report.would_have} more "
                      "(not counting tickets an enforcing policy before them in the file "
                      "already takes)." if report.would_have else "."),
        "What happened next: " + ", ".join(f"{FATE_WORDS[f]} {fates[f]}" for f in FATES) + ".",
        f"Median time from the first comment to the ticket being with Sales: "
        f"{_days(report.median_to_sales_h)} ({report.to_sales_n} ticket(s) reassigned by the "
        f"bot); to the PM moving it on: {_days(report.median_to_moved_h)} "
        f"({report.to_moved_n} ticket(s)).",
        report.trend,
    ]
    if report.empty_reason is not None:
        lines.insert(0, report.empty_reason)
    return lines


def _breakdown_table(name: str, title: str, items: Sequence[Breakdown], *,
                     links: bool = False) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for b in items:
        label: Cell = (b.name, b.link) if links and b.link else b.name
        rows.append((label, b.flagged, b.open))
    return Table(title, (name, "Flagged", "Still open"), tuple(rows),
                 None if rows else "Nothing flagged.")


def tables(report: Report, *, links: bool = True) -> list[Table]:
    """The report's tables, in reading order (``links``: customers link to deal pages)."""
    policies = report.policies
    weekly: list[tuple[Cell, ...]] = []
    for w in report.weeks:
        weekly.append((
            f"{w.start:%Y-%m-%d}", w.flagged_total, *(w.flagged.get(p, 0) for p in policies),
            sum(w.would_have.values()), w.comments, w.reassignments, w.backlog,
        ))
    out = [
        Table("Per week", ("Week of", "Flagged", *policies, "Would have (dry-run)",
                           "Comments posted", "Reassigned by the bot", "Open at week end"),
              tuple(weekly)),
        Table("What happened next, by week flagged",
              ("Week of", "Flagged", *(FATE_WORDS[f] for f in FATES)),
              tuple((f"{w.start:%Y-%m-%d}", w.flagged_total, *(w.fates.get(f, 0) for f in FATES))
                    for w in report.weeks)),
        _breakdown_table("Customer", "By customer" + (" (linked to its deal page)" if links
                                                       else ""),
                         report.by_customer, links=links),
        _breakdown_table("PM", "By PM", report.by_pm),
        _breakdown_table("Account executive", "By account executive",
                         report.by_account_executive),
    ]
    if report.dry_run_policies:
        rows = []
        for p in report.dry_run_policies:
            mine = [s for s in report.stories if s.policy == p]
            rows.append((p, len(mine), sum(1 for s in mine if s.fate == "open")))
        out.append(Table("Would have (dry-run policies: reported, never acted on)",
                         ("Policy", "Would have flagged", "Still matching"), tuple(rows)))
    return out


# --------------------------------------------------------------------------- Markdown


def _md_cell(cell: Cell) -> str:
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
        lines.append("| " + " | ".join(_md_escape(h) for h in table.headers) + " |")
        lines.append("|" + "|".join("---" if i == 0 else "---:"
                                    for i in range(len(table.headers))) + "|")
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    lines += ["", f"_Generated {report.generated_at:%Y-%m-%d %H:%M} UTC from the state store "
                  f"(site time)._", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- HTML / storage


def _html_cell(cell: Cell) -> str:
    if isinstance(cell, tuple):
        text, url = cell
        return f'<a href="{html.escape(url, quote=True)}">{html.escape(text)}</a>'
    return html.escape(str(cell))


def _html_tables(report: Report, *, image: str) -> list[str]:
    parts = [f"<h1>{html.escape(title(report))}</h1>", "<ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in summary_lines(report)]
    parts.append("</ul>")
    parts.append(image)
    for table in tables(report):
        parts.append(f"<h2>{html.escape(table.title)}</h2>")
        if table.note and not table.rows:
            parts.append(f"<p>{html.escape(table.note)}</p>")
            continue
        head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
        body = "".join("<tr>" + "".join(f"<td>{_html_cell(c)}</td>" for c in row) + "</tr>"
                       for row in table.rows)
        parts.append(f"<table><tbody><tr>{head}</tr>{body}</tbody></table>")
    parts.append(f"<p><em>Generated {report.generated_at:%Y-%m-%d %H:%M} UTC by Handoff Guard "
                 "from its state store.</em></p>")
    return parts


def html_page(report: Report, *, chart: str | None = None) -> str:
    """A standalone HTML page (the chart, when given, as a relative image link)."""
    image = (f'<p><img src="{html.escape(chart, quote=True)}" '
             'alt="flagged tickets per week and open backlog"/></p>') if chart else ""
    body = "\n".join(_html_tables(report, image=image))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title(report))}</title></head><body>\n{body}\n</body></html>\n")


def storage(report: Report, *, attachment: str | None, note: str | None = None) -> str:
    """The Confluence page body in storage format; the chart is the page's attachment
    (``note``, in its place, says why there is none)."""
    image = (f'<p><ac:image ac:width="900"><ri:attachment ri:filename='
             f'"{html.escape(attachment, quote=True)}"/></ac:image></p>') if attachment else ""
    if not attachment and note:
        image = f"<p><em>{html.escape(note)}</em></p>"
    return "".join(_html_tables(report, image=image))


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
             "flagged_at": s.flagged_at.isoformat(), "fate": s.fate,
             "closed_at": s.closed_at.isoformat() if s.closed_at else None,
             "customer": s.customer, "pm": s.pm, "account_executive": s.account_executive}
            for s in report.stories
        ],
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

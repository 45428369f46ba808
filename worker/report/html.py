"""The report as a styled HTML page and as a Confluence page (storage format).

The page is for forwarding: every style is inline (mail clients drop ``<style>`` blocks and
external sheets), nothing is loaded from elsewhere (the chart, when there is one, is embedded
as a ``data:`` image), it prints on A4/Letter, and it uses one typeface stack that every
system has. The Confluence page uses Confluence's own table markup (header cells, which
Confluence styles itself) and its status macro for each ticket's state.

Everything inserted is escaped: summaries, names and comment excerpts are other people's text.
"""

from __future__ import annotations

import base64
from html import escape

from worker.report.build import Report
from worker.report.render import Cell, Status, Table, footer, summary_lines, tables, title

_FONT = "font-family:Helvetica,Arial,sans-serif;"
_BODY = f"{_FONT}color:#172b4d;font-size:14px;line-height:1.45;margin:0;padding:24px;"
_H1 = f"{_FONT}font-size:22px;margin:0 0 12px 0;color:#172b4d;"
_H2 = (f"{_FONT}font-size:16px;margin:28px 0 8px 0;padding-bottom:4px;"
       "border-bottom:1px solid #dfe1e6;color:#172b4d;")
_TABLE = "border-collapse:collapse;margin:4px 0 12px 0;font-size:13px;"
_TH = ("border:1px solid #c1c7d0;background:#f4f5f7;padding:5px 8px;text-align:left;"
       "font-weight:bold;vertical-align:bottom;")
_TD = "border:1px solid #dfe1e6;padding:5px 8px;text-align:left;vertical-align:top;"
_NUM = "border:1px solid #dfe1e6;padding:5px 8px;text-align:right;vertical-align:top;"
_NOTE = "color:#5e6c84;margin:4px 0;"
_LINK = "color:#0052cc;"
#: lozenge colours (text, background) for Confluence's status colour names
_LOZENGE = {
    "Green": ("#006644", "#e3fcef"), "Blue": ("#0747a6", "#deebff"),
    "Grey": ("#42526e", "#dfe1e6"), "Yellow": ("#172b4d", "#fff0b3"),
    "Red": ("#bf2600", "#ffebe6"), "Purple": ("#403294", "#eae6ff"),
}


def _cell(cell: Cell) -> str:
    if isinstance(cell, Status):
        fg, bg = _LOZENGE.get(cell.colour, _LOZENGE["Grey"])
        return (f'<span style="{_FONT}font-size:11px;font-weight:bold;text-transform:uppercase;'
                f'color:{fg};background:{bg};border-radius:3px;padding:1px 5px;'
                f'white-space:nowrap;">{escape(cell.text)}</span>')
    if isinstance(cell, tuple):
        text, url = cell
        return f'<a href="{escape(url, quote=True)}" style="{_LINK}">{escape(text)}</a>'
    return escape(str(cell))


def _table(table: Table) -> str:
    parts = [f'<h2 style="{_H2}">{escape(table.title)}</h2>']
    if table.note:
        parts.append(f'<p style="{_NOTE}">{escape(table.note)}</p>')
    if not table.rows:
        return "".join(parts)
    head = "".join(f'<th style="{_TH}">{escape(h)}</th>' for h in table.headers)
    body = "".join(
        "<tr>" + "".join(
            f'<td style="{_NUM if isinstance(c, int) else _TD}">{_cell(c)}</td>' for c in row)
        + "</tr>"
        for row in table.rows)
    parts.append(f'<table style="{_TABLE}" cellpadding="0" cellspacing="0"><thead><tr>{head}'
                 f"</tr></thead><tbody>{body}</tbody></table>")
    return "".join(parts)


def html_page(report: Report, *, chart_png: bytes | None = None,
              chart_note: str | None = None) -> str:
    """A standalone HTML page: inline styles, the chart embedded (no file beside it)."""
    summary = "".join(f'<li style="margin:2px 0;">{escape(line)}</li>'
                      for line in summary_lines(report))
    if chart_png is not None:
        data = base64.b64encode(chart_png).decode("ascii")
        image = (f'<p><img src="data:image/png;base64,{data}" width="900" '
                 'alt="Tickets flagged per week by cause, and the open deliverables" '
                 'style="max-width:100%;height:auto;border:0;"/></p>')
    else:
        image = f'<p style="{_NOTE}">{escape(chart_note)}</p>' if chart_note else ""
    body = "".join(_table(t) for t in tables(report))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title(report))}</title></head>"
        f'<body style="{_BODY}"><div style="max-width:1000px;">'
        f'<h1 style="{_H1}">{escape(title(report))}</h1>'
        f'<ul style="padding-left:20px;margin:0 0 8px 0;">{summary}</ul>{image}{body}'
        f'<p style="{_NOTE}margin-top:24px;"><em>{escape(footer(report))}</em></p>'
        "</div></body></html>\n"
    )


# --------------------------------------------------------------------------- Confluence


def _storage_cell(cell: Cell) -> str:
    if isinstance(cell, Status):
        return ('<ac:structured-macro ac:name="status" ac:schema-version="1">'
                f'<ac:parameter ac:name="colour">{escape(cell.colour)}</ac:parameter>'
                f'<ac:parameter ac:name="title">{escape(cell.text)}</ac:parameter>'
                "</ac:structured-macro>")
    if isinstance(cell, tuple):
        text, url = cell
        return f'<a href="{escape(url, quote=True)}">{escape(text)}</a>'
    return escape(str(cell))


def _storage_table(table: Table) -> str:
    parts = [f"<h2>{escape(table.title)}</h2>"]
    if table.note:
        parts.append(f"<p><em>{escape(table.note)}</em></p>")
    if not table.rows:
        return "".join(parts)
    head = "".join(f"<th><p>{escape(h)}</p></th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td><p>{_storage_cell(c)}</p></td>" for c in row)
                   + "</tr>" for row in table.rows)
    parts.append(f'<table data-layout="full-width"><tbody><tr>{head}</tr>{body}</tbody>'
                 "</table>")
    return "".join(parts)


def storage(report: Report, *, attachment: str | None, note: str | None = None) -> str:
    """The Confluence page body in storage format; the chart is the page's attachment
    (``note``, in its place, says why there is none)."""
    image = (f'<p><ac:image ac:width="900"><ri:attachment ri:filename='
             f'"{escape(attachment, quote=True)}"/></ac:image></p>') if attachment else ""
    if not attachment and note:
        image = f"<p><em>{escape(note)}</em></p>"
    summary = "".join(f"<li><p>{escape(line)}</p></li>" for line in summary_lines(report))
    return (f"<h1>{escape(title(report))}</h1><ul>{summary}</ul>{image}"
            + "".join(_storage_table(t) for t in tables(report))
            + f"<p><em>{escape(footer(report))}</em></p>")

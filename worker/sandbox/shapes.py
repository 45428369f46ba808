"""Page Properties as real Confluence sites store them: one renderer per page ``shape``.

A site file's page ``properties`` are canonical ("Contract status": "Signed", "Signed on":
"2026-10-15", "Account executive": "@dana"); the page's ``shape`` decides how they are
written into storage format, the way the Cloud editor, the Server/DC editor, migrated pages
and half-filled templates write them (see ``../shared/reference/ATLASSIAN.md``):

- ``tidy`` (the default): ``<th><p>Key</p></th><td><p>value</p></td>``, ``<time>`` dates;
- ``cloud-editor``: a ``data-layout`` table with ``colgroup``, keys in ``<th><p><strong>``,
  status lozenges, ``<time>`` dates;
- ``title-case``: migrated from Server: "Contract Status:" + NBSP keys in ``<span>``, bare
  text values, lozenges in CAPITALS, "15 Oct 2026";
- ``header-row``: the editor's header row switched on: the first pair in a ``<thead>`` row of
  ``th`` cells, later keys in ``td`` cells, "15.10.2026";
- ``layout``: the macro in a layout cell, inside a panel and an expand macro, after another
  details macro; "October 15, 2026";
- ``horizontal``: keys in the first row, values in the second; "2026/10/15";
- ``template``: a template left half filled: empty values are ``<ac:placeholder>`` hints.

Mentions are ``ri:account-id`` on Cloud and ``ri:userkey`` (Confluence's own 32-hex key) on
Data Center, whatever the shape.

What people add to a value, in any shape:

- a value of several lines (``"Signed\ncountersigned copy in DocuSign"``) is a paragraph per
  line; where the shape writes the status as a lozenge, the first line is the lozenge and the
  later lines paragraphs beside it;
- a page's ``project_link`` writes the Jira project cell as a link instead of the typed key
  (:data:`PROJECT_LINKS`): a Cloud smart link to an issue, an ``<a href>`` to the project or
  its board, an ``ac:link`` card, a Jira issue macro, or a link to another site.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping
from datetime import date

from worker.sandbox.site import PROJECT_LINKS, User

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: a Jira site that is not the sandbox's (a link there names no project of this site)
ELSEWHERE = "https://other-company.atlassian.net"
NBSP = "&nbsp;"

#: what a half-filled template shows in an empty cell (the editor's instructional text)
PLACEHOLDERS = {
    "signed": "When was the contract signed? Type // to add a date",
    "status": "Draft, In negotiation, Sent for signature, Signed or Lost",
    "executive": "Type @ to mention the account executive",
}
_DEFAULT_PLACEHOLDER = "Type here"

UserLookup = Callable[[str], User | None]


def confluence_key(user: User) -> str:
    """Confluence Data Center's user key of ``user``: the site file's, else derived from the
    name (stable, 32 hex digits, never equal to a Jira key)."""
    if user.confluence_key is not None:
        return user.confluence_key
    return hashlib.md5(f"confluence:{user.name}".encode(), usedforsecurity=False).hexdigest()


def _date_text(value: str, shape: str) -> str:
    day = date.fromisoformat(value)
    if shape == "title-case":
        return f"{day.day} {day:%b %Y}"
    if shape == "header-row":
        return f"{day:%d.%m.%Y}"
    if shape == "layout":
        return f"{day:%B} {day.day}, {day.year}"
    if shape == "horizontal":
        return f"{day:%Y/%m/%d}"
    return value


def _lozenge(title: str, *, caps: bool) -> str:
    colour = "Green" if title.casefold() == "signed" else "Yellow"
    return ('<ac:structured-macro ac:name="status" ac:schema-version="1">'
            f'<ac:parameter ac:name="colour">{colour}</ac:parameter>'
            f'<ac:parameter ac:name="title">{html.escape(title.upper() if caps else title)}'
            "</ac:parameter></ac:structured-macro>")


def _placeholder_for(key: str) -> str:
    low = key.casefold()
    for word, text in PLACEHOLDERS.items():
        if word in low:
            return text
    return _DEFAULT_PLACEHOLDER


def _mention(user: User, *, cloud: bool) -> str:
    attr = (f'ri:account-id="{html.escape(user.account_id)}"' if cloud
            else f'ri:userkey="{confluence_key(user)}"')
    return f"<ac:link><ri:user {attr} /></ac:link>"


def project_link(key: str, how: str, *, site_url: str) -> str:
    """The Jira project cell for project ``key`` written as ``how`` (one of
    ``PROJECT_LINKS``), linking to ``site_url`` (the Jira site)."""
    issue = f"{site_url}/browse/{html.escape(key)}-1"
    if how == "smart":  # what the Cloud editor stores for a pasted issue URL
        return f'<p><a href="{issue}" data-card-appearance="inline">{issue}</a>&nbsp;</p>'
    if how == "href":
        url = f"{site_url}/projects/{html.escape(key)}"
        return f'<p><a href="{url}">{html.escape(key)} project</a></p>'
    if how == "board":
        url = f"{site_url}/jira/software/projects/{html.escape(key)}/boards/3"
        return f'<p><a href="{url}">Implementation board</a></p>'
    if how == "card":
        return (f'<p><ac:link><ri:url ri:value="{issue}" /><ac:plain-text-link-body>'
                f"<![CDATA[{key}-1]]></ac:plain-text-link-body></ac:link></p>")
    if how == "macro":
        return ('<p><ac:structured-macro ac:name="jira" ac:schema-version="1">'
                '<ac:parameter ac:name="server">System JIRA</ac:parameter>'
                f'<ac:parameter ac:name="key">{html.escape(key)}-1</ac:parameter>'
                "</ac:structured-macro></p>")
    if how == "elsewhere":
        url = f"{ELSEWHERE}/browse/{html.escape(key)}-1"
        return f'<p><a href="{url}" data-card-appearance="inline">{url}</a></p>'
    raise ValueError(f"project_link must be one of {', '.join(PROJECT_LINKS)}, got {how!r}")


def _value(key: str, value: str, shape: str, *, cloud: bool, users: UserLookup) -> str:
    """The inner storage of one value cell (without the cell element); a value of several
    lines is its first line as the shape writes it, then a paragraph per later line."""
    first, *later = value.split("\n") if value else [""]
    inner = _one_value(key, first.strip(), shape, cloud=cloud, users=users)
    return inner + "".join(f"<p>{html.escape(line.strip())}</p>" for line in later
                           if line.strip())


def _one_value(key: str, value: str, shape: str, *, cloud: bool, users: UserLookup) -> str:
    if not value:
        if shape == "template":
            return f"<p><ac:placeholder>{html.escape(_placeholder_for(key))}</ac:placeholder></p>"
        return "<p />" if shape == "cloud-editor" else "<p></p>"
    if value.startswith("@") and (user := users(value[1:])) is not None:
        inner = _mention(user, cloud=cloud)
        return f"<p>{inner}&nbsp;</p>" if shape == "cloud-editor" else f"<p>{inner}</p>"
    if _ISO_DATE.match(value):
        if shape in ("tidy", "cloud-editor", "template"):
            return f'<p><time datetime="{value}" /></p>'
        return f"<p>{html.escape(_date_text(value, shape))}</p>"
    if "status" in key.casefold() and shape in ("cloud-editor", "title-case"):
        return f"<p>{_lozenge(value, caps=shape == 'title-case')}</p>"
    if shape == "title-case":
        return html.escape(value)  # migrated Server pages: bare text in the cell
    return f"<p>{html.escape(value)}</p>"


def _key(key: str, shape: str) -> str:
    escaped = html.escape(key)
    if shape == "cloud-editor":
        return f"<p><strong>{escaped}</strong></p>"
    if shape == "title-case":
        return f"<p><span>{html.escape(key.title())}:{NBSP}</span></p>"
    return f"<p>{escaped}</p>"


def _details(table: str, *, macro_id: str = "", extra: str = "") -> str:
    ident = f' ac:macro-id="{macro_id}"' if macro_id else ""
    return (f'<ac:structured-macro ac:name="details" ac:schema-version="1"{ident}{extra}>'
            f"<ac:rich-text-body>{table}</ac:rich-text-body></ac:structured-macro>")


def render_properties(properties: Mapping[str, str], shape: str, *, cloud: bool,
                      users: UserLookup, link: str | None = None, site_url: str = "") -> str:
    """The Page Properties macro (and what surrounds it) for ``properties`` in ``shape``;
    with ``link``, the Jira project cell as that kind of link to ``site_url``."""
    items = [
        (k, project_link(v, link, site_url=site_url)
         if link is not None and "project" in k.casefold() and v
         else _value(k, v, shape, cloud=cloud, users=users))
        for k, v in properties.items()
    ]
    if shape == "horizontal":
        head = "".join(f"<th>{_key(k, shape)}</th>" for k, _ in items)
        values = "".join(f"<td>{v}</td>" for _, v in items)
        return _details(f"<table><tbody><tr>{head}</tr><tr>{values}</tr></tbody></table>",
                        macro_id="deal-h")
    if shape == "header-row":
        if not items:
            return _details("<table><tbody></tbody></table>", macro_id="deal-hr")
        (k0, v0), rest = items[0], items[1:]
        thead = f"<thead><tr><th>{_key(k0, shape)}</th><th>{v0}</th></tr></thead>"
        rows = "".join(f"<tr><td>{_key(k, shape)}</td><td>{v}</td></tr>" for k, v in rest)
        return _details(f"<table>{thead}<tbody>{rows}</tbody></table>", macro_id="deal-hr")
    rows = "".join(f"<tr><th>{_key(k, shape)}</th><td>{v}</td></tr>" for k, v in items)
    if shape == "cloud-editor":
        table = ('<table data-table-width="760" data-layout="default" '
                 'ac:local-id="5c1f0a3e-7d2b-4f6e-9a41-2f0d8c3b6e10"><colgroup>'
                 '<col style="width: 226.0px;" /><col style="width: 533.0px;" /></colgroup>'
                 f"<tbody>{rows}</tbody></table>")
        return _details(table, macro_id="0b8c3f6e-1d2a-4c5b-8e9f-a1b2c3d4e5f6",
                        extra=' data-layout="default" ac:local-id="a7e1c2d3"')
    table = f"<table><tbody>{rows}</tbody></table>"
    if shape == "layout":
        other = _details("<table><tbody><tr><th><p>Document owner</p></th>"
                         "<td><p>Sales operations</p></td></tr></tbody></table>",
                         macro_id="doc-owner")
        deal = _details(table, macro_id="deal-l")
        panel = ('<ac:structured-macro ac:name="panel" ac:schema-version="1">'
                 '<ac:parameter ac:name="title">Deal</ac:parameter><ac:rich-text-body>'
                 '<ac:structured-macro ac:name="expand" ac:schema-version="1">'
                 '<ac:parameter ac:name="title">Contract details</ac:parameter>'
                 f"<ac:rich-text-body>{deal}</ac:rich-text-body></ac:structured-macro>"
                 "</ac:rich-text-body></ac:structured-macro>")
        return ('<ac:layout><ac:layout-section ac:type="two_equal">'
                f"<ac:layout-cell>{other}</ac:layout-cell>"
                f"<ac:layout-cell>{panel}</ac:layout-cell>"
                "</ac:layout-section></ac:layout>")
    return _details(table, macro_id="deal-t" if shape == "template" else "")

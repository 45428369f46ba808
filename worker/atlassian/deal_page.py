"""One deal page -> a :class:`Deal` (or a :class:`DealSkip` with the reason), purely.

Parsing Page Properties lives in :mod:`worker.atlassian.pageprops`; this module turns one
page's properties into facts (:class:`PageFacts`, what incremental cycles keep of pages that
did not change) and facts into a deal, resolving the people it names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from worker.atlassian.pageprops import (
    CellValue,
    StorageError,
    UserRef,
    lookup,
    page_properties,
    read_date,
)
from worker.atlassian.project_links import project_from_cell
from worker.model.deals import Deal, DealSkip, DealSource, status_key
from worker.model.people import Person

#: a page's user mention -> the person (None: not found)
PersonResolver = Callable[[UserRef], Person | None]


@dataclass(frozen=True, slots=True)
class PageFacts:
    """What the bot reads from one deal page's body: the Page Properties cells it uses (by
    the policy file's property names), or why the page cannot be used.

    Turning facts into a :class:`Deal` (:func:`deal_from_facts`) needs no body, so facts are
    what incremental cycles keep of pages that did not change (:mod:`worker.read.deal_facts`).
    """

    page_id: str
    title: str
    url: str | None
    #: why the page cannot be used (no body, unparsable, no table, no customer); None: usable
    skip: str | None = None
    #: property name (as the policy file names it) -> its cell, for the cells present
    cells: Mapping[str, CellValue] = field(default_factory=dict)


def page_facts(page: Mapping[str, Any], source: DealSource, *, base_url: str) -> PageFacts:
    """The facts of one page JSON (with ``body.storage``); pure."""
    page_id = str(page.get("id", ""))
    title = str(page.get("title", ""))
    url = _page_url(page, base_url)
    body = page.get("body")
    storage_node = body.get("storage") if isinstance(body, dict) else None
    storage = storage_node.get("value") if isinstance(storage_node, dict) else None
    if not isinstance(storage, str):
        return PageFacts(page_id, title, url, "page has no storage-format body")
    keys = (
        source.account_property,
        source.project_property,
        source.status_property,
        source.signed_on_property,
        source.executive_property,
    )
    try:
        props = page_properties(storage, keys=keys, macro_id=source.details_id)
    except StorageError as exc:
        return PageFacts(page_id, title, url, str(exc))
    if not props:
        return PageFacts(page_id, title, url, "no Page Properties table on the page")
    cells = {k: cell for k in keys if (cell := lookup(props, k)) is not None}
    account = _text(cells.get(source.account_property))
    project_cell = cells.get(source.project_property)
    project = _text(project_cell) or (" ".join(project_cell.links) if project_cell else "")
    if not account and not project:
        return PageFacts(
            page_id,
            title,
            url,
            f"Page Properties have no {source.account_property!r} or "
            f"{source.project_property!r} value",
        )
    return PageFacts(page_id, title, url, None, cells)


def deal_from_facts(
    facts: PageFacts, source: DealSource, *, resolve: PersonResolver, jira_url: str | None = None
) -> Deal | DealSkip:
    """One deal from a page's facts, or a skip with the reason.

    A page that names a customer (account or Jira project) is always a :class:`Deal`; when
    its contract status cannot be read, ``Deal.unreadable`` says why. Values that could not
    be read (a date, a person) are ``Deal.notes``, never a reason to drop the deal. People
    are resolved now (the directory changes from cycle to cycle; the page may not have).

    The Jira project is a typed key or read from a link to ``jira_url``'s site (the page's own
    site when not given); the contract status is the cell's leading value (first lozenge,
    else first line), the rest of the cell kept in ``Deal.status_rest``.
    """
    page_id, title, url = facts.page_id, facts.title, facts.url
    if facts.skip is not None:
        return DealSkip(page_id, title, facts.skip, url)
    cells = facts.cells
    account = _text(cells.get(source.account_property))
    site = jira_url or _site_root(url)
    project_cell = project_from_cell(cells.get(source.project_property), jira_url=site)
    project = project_cell.key
    status, rest, unreadable = _status(cells.get(source.status_property), source)
    notes: list[str] = []
    if project_cell.how is not None:
        notes.append(f"the Jira project {project} was read {project_cell.how}")
    signed_on = None
    signed = cells.get(source.signed_on_property)
    if signed is not None:
        reading = read_date(signed, order=source.date_order)
        signed_on = reading.value
        if reading.problem is not None:
            notes.append(
                f"the {source.signed_on_property} date could not be read: {reading.problem}"
            )
    executive = None
    cell = cells.get(source.executive_property)
    if cell is not None and cell.users:
        executive = resolve(cell.users[0])
        if executive is None:
            notes.append(
                f"the account executive ({cell.users[0].describe()}) could not be found"
            )
    elif cell is not None and cell.text:
        notes.append(f"the account executive {cell.text!r} is not a user mention")
    return Deal(
        account=account or project or "",
        jira_project=project or None,
        contract_status=status,
        signed_on=signed_on,
        account_executive=executive,
        source=f"the page {title}",
        page_id=page_id or None,
        page_title=title or None,
        page_url=url,
        unreadable=unreadable,
        notes=tuple(notes),
        status_rest=rest,
        project_problem=project_cell.problem,
    )


def deal_from_page(
    page: Mapping[str, Any],
    source: DealSource,
    *,
    resolve: PersonResolver,
    base_url: str,
    jira_url: str | None = None,
) -> Deal | DealSkip:
    """One deal from one page JSON (with ``body.storage``), or a skip with the reason (see
    :func:`deal_from_facts`)."""
    return deal_from_facts(page_facts(page, source, base_url=base_url), source, resolve=resolve,
                           jira_url=jira_url)


def zero_pages_reason(source: DealSource) -> str:
    """Why a read that found no deal page at all, with no earlier good read to compare
    with, is failed: it names the CQL and the space, and the setting that accepts zero."""
    space = re.search(r"space\s*=\s*\"?([^\"\s)]+)", source.cql, re.IGNORECASE)
    where = f"the space {space.group(1)}" if space else "the spaces it names"
    return (
        f"the CQL {source.cql!r} found no deal page at all, and no earlier read found any: "
        f"check that the bot can read {where} and that the CQL matches the deal pages "
        "(if the site has no deal page yet, set deals.pages.zero_pages_ok: true)"
    )


def _text(cell: CellValue | None) -> str:
    return cell.text if cell is not None else ""


def _status(
    cell: CellValue | None, source: DealSource
) -> tuple[str | None, tuple[str, ...], str | None]:
    """The contract status's leading value (the first lozenge, else the first line) and the
    rest of the cell, or None and why it cannot be read. Whether the value is signed is the
    policy file's to say (:mod:`worker.policy.contract_status`)."""
    name = source.status_property
    if cell is None:
        return None, (), f"the page has no {name!r} row"
    distinct = {status_key(s): s for s in cell.statuses}
    if len(distinct) > 1:
        return None, (), f"{name!r} holds several statuses: {', '.join(distinct.values())}"
    lines = list(cell.lines) or ([cell.text] if cell.text else [])
    if cell.status:
        rest = _without_once(lines, cell.status)
        return cell.status, tuple(rest), None
    if not lines:
        return None, (), f"{name!r} is empty"
    return lines[0], tuple(lines[1:]), None


def _without_once(lines: list[str], value: str) -> list[str]:
    """``lines`` with the first occurrence of ``value`` (a lozenge's title) taken out."""
    out: list[str] = []
    done = False
    for line in lines:
        if not done and value in line:
            line = " ".join(line.replace(value, " ", 1).split())
            done = True
        if line:
            out.append(line)
    return out


def _site_root(page_url: str | None) -> str:
    """The site a page lives on (scheme, host, port), for links when no Jira URL is given."""
    if not page_url:
        return ""
    parts = urlsplit(page_url)
    return f"{parts.scheme}://{parts.netloc}"


def _page_url(page: Mapping[str, Any], base_url: str) -> str | None:
    links = page.get("_links")
    webui = links.get("webui") if isinstance(links, dict) else None
    return base_url.rstrip("/") + webui if isinstance(webui, str) else None

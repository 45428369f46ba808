"""Confluence: deal pages found by CQL, their Page Properties parsed into :class:`Deal` values.

Storage format is XML with ``ac:``/``ri:`` prefixes that are never declared and HTML named
entities (``&nbsp;``) that XML does not know. We wrap the body in a root element that
declares both prefixes, turn named entities into character references, and parse with lxml
in recover mode. Never regex over markup.
"""

from __future__ import annotations

import html.entities
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import structlog
from dateutil.parser import isoparse
from lxml import etree

from worker.atlassian.transport import Transport, UnexpectedBodyError
from worker.model import Deal, DealSkip, DealSource, Directory, Flavor, Person

if TYPE_CHECKING:
    from worker.atlassian.jira import JiraGateway

log = structlog.get_logger(__name__)

AC = "http://atlassian.com/content"
RI = "http://atlassian.com/resource/identifier"
_WRAP_OPEN = f'<hg-root xmlns:ac="{AC}" xmlns:ri="{RI}">'
_WRAP_CLOSE = "</hg-root>"
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
CQL_PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user link in a page: exactly one of the three identities is set."""

    account_id: str | None = None
    username: str | None = None
    user_key: str | None = None


@dataclass(frozen=True, slots=True)
class CellValue:
    """One Page Properties value: its text, and the structured things found in it."""

    text: str
    users: tuple[UserRef, ...] = ()
    status: str | None = None  # a status lozenge's title
    dates: tuple[str, ...] = ()  # <time datetime="...">


class StorageError(ValueError):
    """The storage-format body could not be parsed at all."""


def _named_entities_to_refs(storage: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES:
            return match.group(0)
        codepoint = html.entities.name2codepoint.get(name)
        return f"&#{codepoint};" if codepoint is not None else match.group(0)

    return _ENTITY.sub(replace, storage)


def parse_storage(storage: str) -> etree._Element:
    """Parse a storage-format body into an element tree (prefixes declared, recover mode)."""
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=False)
    text = _WRAP_OPEN + _named_entities_to_refs(storage) + _WRAP_CLOSE
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError as exc:
        raise StorageError(f"storage format unreadable: {exc}") from exc
    if root is None:
        raise StorageError("storage format unreadable")
    return root


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _text(element: etree._Element) -> str:
    return " ".join("".join(str(t) for t in element.itertext()).split())


def cell_value(cell: etree._Element) -> CellValue:
    """The value of one table cell: user links, status lozenge, dates and plain text."""
    users: list[UserRef] = []
    for user in cell.iter(f"{{{RI}}}user"):
        users.append(
            UserRef(
                account_id=user.get(f"{{{RI}}}account-id") or None,
                username=user.get(f"{{{RI}}}username") or None,
                user_key=user.get(f"{{{RI}}}userkey") or None,
            )
        )
    status: str | None = None
    for macro in cell.iter(f"{{{AC}}}structured-macro"):
        if macro.get(f"{{{AC}}}name") == "status":
            for param in macro.iter(f"{{{AC}}}parameter"):
                if param.get(f"{{{AC}}}name") == "title":
                    status = _text(param) or None
    dates = tuple(t.get("datetime", "") for t in cell.iter("time") if t.get("datetime"))
    text = " ".join(_visible_text(cell).split())
    return CellValue(
        text=text or (dates[0] if dates else ""), users=tuple(users), status=status, dates=dates
    )


def _visible_text(element: etree._Element) -> str:
    """Text a reader sees: macro parameters hidden, a status lozenge shown as its title."""
    parts: list[str] = [element.text or ""] if isinstance(element.text, str) else []
    for child in element:
        if child.tag == f"{{{AC}}}structured-macro" and child.get(f"{{{AC}}}name") == "status":
            parts.extend(
                _text(p) for p in child.iter(f"{{{AC}}}parameter")
                if p.get(f"{{{AC}}}name") == "title"
            )
        elif child.tag != f"{{{AC}}}parameter":  # a parameter is hidden; its tail is not
            inner = _visible_text(child)
            parts.append(f" {inner} " if child.tag in _BLOCK_TAGS else inner)
        if isinstance(child.tail, str):
            parts.append(child.tail)
    return "".join(parts)


_BLOCK_TAGS = frozenset({"p", "div", "li", "br"})


def _rows(table: etree._Element) -> list[list[etree._Element]]:
    rows: list[list[etree._Element]] = []
    for row in table.iter("tr"):
        cells = [c for c in row if _local(c.tag) in ("th", "td")]
        if cells:
            rows.append(cells)
    return rows


def page_properties(storage: str) -> dict[str, CellValue]:
    """Every key/value of every Page Properties ("details") macro on a page.

    Vertical tables (a ``th`` key and a ``td`` value per row) and horizontal ones (a header
    row of keys, then one row of values) are both read; the first value of a key wins.
    """
    root = parse_storage(storage)
    out: dict[str, CellValue] = {}
    for macro in root.iter(f"{{{AC}}}structured-macro"):
        if macro.get(f"{{{AC}}}name") != "details":
            continue
        for table in macro.iter("table"):
            rows = _rows(table)
            if not rows:
                continue
            horizontal = (
                len(rows) >= 2 and all(_local(c.tag) == "th" for c in rows[0]) and len(rows[0]) > 1
            )
            pairs: list[tuple[etree._Element, etree._Element]]
            if horizontal:
                pairs = list(zip(rows[0], rows[1], strict=False))
            else:
                pairs = [(r[0], r[1]) for r in rows if len(r) >= 2]
            for key_cell, value_cell in pairs:
                key = _text(key_cell)
                if key and key not in out:
                    out[key] = cell_value(value_cell)
    return out


def _parse_date(value: CellValue) -> date | None:
    raw = value.dates[0] if value.dates else value.text
    if not raw:
        return None
    try:
        return isoparse(raw).date()
    except ValueError as exc:
        raise ValueError(f"date {raw!r} is not an ISO date") from exc


PersonResolver = Callable[[UserRef], Person | None]


def deal_from_page(
    page: Mapping[str, Any], source: DealSource, *, resolve: PersonResolver, base_url: str
) -> Deal | DealSkip:
    """One deal from one page JSON (with ``body.storage``), or a skip with the reason."""
    page_id = str(page.get("id", ""))
    title = str(page.get("title", ""))
    body = page.get("body")
    storage_node = body.get("storage") if isinstance(body, dict) else None
    storage = storage_node.get("value") if isinstance(storage_node, dict) else None
    if not isinstance(storage, str):
        return DealSkip(page_id, title, "page has no storage-format body")
    try:
        props = page_properties(storage)
    except StorageError as exc:
        return DealSkip(page_id, title, str(exc))
    if not props:
        return DealSkip(page_id, title, "no Page Properties table on the page")
    account = props.get(source.account_property)
    if account is None or not account.text:
        return DealSkip(
            page_id, title, f"Page Properties have no {source.account_property!r} value"
        )
    project = props.get(source.project_property)
    status = props.get(source.status_property)
    signed = props.get(source.signed_on_property)
    try:
        signed_on = _parse_date(signed) if signed is not None else None
    except ValueError as exc:
        return DealSkip(page_id, title, f"{source.signed_on_property!r}: {exc}")
    executive_cell = props.get(source.executive_property)
    executive = None
    if executive_cell is not None and executive_cell.users:
        executive = resolve(executive_cell.users[0])
    links = page.get("_links") if isinstance(page.get("_links"), dict) else {}
    webui = links.get("webui") if isinstance(links, dict) else None
    return Deal(
        account=account.text,
        jira_project=(project.text or None) if project is not None else None,
        contract_status=((status.status or status.text or None) if status is not None else None),
        signed_on=signed_on,
        account_executive=executive,
        source=f"the page {title}",
        page_id=page_id or None,
        page_title=title or None,
        page_url=base_url.rstrip("/") + webui if isinstance(webui, str) else None,
    )


class ConfluenceGateway:
    """Every Confluence request the worker makes."""

    def __init__(self, transport: Transport, *, flavor: Flavor, jira: JiraGateway) -> None:
        self.transport = transport
        self.flavor: Flavor = flavor
        self._jira = jira

    def deals(
        self, source: DealSource, *, directory: Directory | None = None
    ) -> tuple[list[Deal], list[DealSkip]]:
        """Every deal page the CQL finds, parsed; one request per result page.

        Account executives resolve from ``directory`` first (no request), then from Jira's
        user endpoint (cached per process).
        """
        people = directory.people if directory is not None else {}

        def resolve(ref: UserRef) -> Person | None:
            ident = ref.account_id if self.flavor == "cloud" else ref.username
            if ident and ident in people:
                return people[ident]
            try:
                return self._jira.user(
                    account_id=ref.account_id, username=ref.username, user_key=ref.user_key
                )
            except Exception as exc:  # an unresolved AE must not end the cycle
                log.warning("confluence.user_unresolved", error=str(exc))
                return None

        deals: list[Deal] = []
        skips: list[DealSkip] = []
        for page in self._pages(source.cql):
            result = deal_from_page(
                page, source, resolve=resolve, base_url=self.transport.client.url
            )
            (deals if isinstance(result, Deal) else skips).append(result)  # type: ignore[arg-type]
        for skip in skips:
            log.warning("deal.skipped", page_id=skip.page_id, title=skip.title, reason=skip.reason)
        return deals, skips

    def _pages(self, cql: str) -> Iterator[Mapping[str, Any]]:
        path = "rest/api/content/search"
        params: dict[str, Any] | None = {
            "cql": cql,
            "expand": "body.storage,version",
            "limit": CQL_PAGE_SIZE,
        }
        absolute = False
        while True:
            page = self.transport.call("GET", path, params=params, absolute=absolute)
            if not isinstance(page, dict):
                raise UnexpectedBodyError("content/search: expected a JSON object")
            for result in page.get("results") or []:
                if isinstance(result, dict):
                    yield result
            links = page.get("_links") if isinstance(page.get("_links"), dict) else {}
            nxt = links.get("next") if isinstance(links, dict) else None
            if not isinstance(nxt, str) or not nxt or not page.get("results"):
                return
            base = links.get("base") if isinstance(links, dict) else None
            path = _absolute_next(
                nxt, base if isinstance(base, str) else None, self.transport.client.url
            )
            params, absolute = None, True


def _absolute_next(next_link: str, base: str | None, client_url: str) -> str:
    """The absolute URL of a ``_links.next`` cursor link (relative to the context base)."""
    if next_link.startswith(("http://", "https://")):
        return next_link
    root = (base or client_url).rstrip("/")
    if root.endswith("/wiki") and next_link.startswith("/wiki/"):
        root = root[: -len("/wiki")]
    return root + next_link

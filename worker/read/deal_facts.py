"""The deal pages' facts kept between cycles, so that an incremental cycle reads the bodies of
the pages that changed only (:meth:`worker.atlassian.confluence.ConfluenceGateway.read_deals`).

Kept in the store's ``meta`` table as one JSON value: per page its title, link, and either
why it cannot be used or the few Page Properties cells the bot reads (the five the policy
file names), never the body. That is about 300 bytes a page: a few thousand deal pages make
a value of a megabyte or so, written only when a read changed it. The facts depend on how
the policy file says deals are read (CQL, property names, details macro): under another
``deals.pages`` section they are not used, and every page is read again.

People named on a page are kept as the page names them (account id, username or user key)
and resolved again every cycle, as a full read does: the directory changes between cycles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from worker.atlassian.deal_page import PageFacts
from worker.atlassian.pageprops import CellValue, UserRef
from worker.model.deals import DealRead, DealSource
from worker.policy.deal_index import DealIndex
from worker.policy.statuses_seen import MAX_LABELLED_VALUES, unreadable_line
from worker.state.store import Store

if TYPE_CHECKING:
    from worker.policy import Policies
    from worker.telemetry.metrics import Metrics

log = structlog.get_logger(__name__)

#: the meta key (``{"source": digest, "pages": {page id: facts}}``)
META_DEAL_FACTS = "deal_page_facts"


class MetaStore(Protocol):
    """The store's small key/value table (``worker.state.store.Store`` implements it)."""

    def get_meta(self, key: str) -> str | None:
        """The value, or None when absent."""

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace the value."""


#: the shape of the kept cells; facts kept in an older shape are not used (read again once)
FACTS_FORMAT = 2


def source_digest(source: DealSource) -> str:
    """What the facts depend on in the policy file (and the facts' format), as a short
    digest."""
    return hashlib.sha256(f"{FACTS_FORMAT}:{source!r}".encode()).hexdigest()[:16]


def _cell_json(cell: CellValue) -> list[Any]:
    users = [[u.account_id, u.username, u.user_key] for u in cell.users]
    return [cell.text, users, cell.status, list(cell.dates), list(cell.statuses),
            list(cell.lines), list(cell.links)]


def _cell(value: object) -> CellValue:
    if not isinstance(value, list) or len(value) != 7:
        raise ValueError("a cell is [text, users, status, dates, statuses, lines, links]")
    text, users, status, dates, statuses, lines, links = value
    if not isinstance(text, str) or not isinstance(users, list):
        raise ValueError("a cell's text is a string and its users a list")
    refs = []
    for user in users:
        if not isinstance(user, list) or len(user) != 3:
            raise ValueError("a user is [account id, username, user key]")
        refs.append(UserRef(*(v if isinstance(v, str) else None for v in user)))
    return CellValue(
        text=text,
        users=tuple(refs),
        status=status if isinstance(status, str) else None,
        dates=tuple(str(d) for d in dates or ()),
        statuses=tuple(str(s) for s in statuses or ()),
        lines=tuple(str(line) for line in lines or ()),
        links=tuple(str(link) for link in links or ()),
    )


def facts_to_json(facts: Mapping[str, PageFacts]) -> dict[str, list[Any]]:
    """Page id -> [title, url, skip, {property: cell}] (compact, JSON-ready)."""
    return {
        page_id: [f.title, f.url, f.skip, {k: _cell_json(c) for k, c in f.cells.items()}]
        for page_id, f in facts.items()
    }


def facts_from_json(value: object) -> dict[str, PageFacts]:
    """Read :func:`facts_to_json`'s shape; raises ValueError on anything else."""
    if not isinstance(value, dict):
        raise ValueError("the pages are an object")
    out: dict[str, PageFacts] = {}
    for page_id, item in value.items():
        if not isinstance(item, list) or len(item) != 4 or not isinstance(item[3], dict):
            raise ValueError("a page is [title, url, skip, cells]")
        title, url, skip, cells = item
        out[str(page_id)] = PageFacts(
            page_id=str(page_id),
            title=str(title),
            url=url if isinstance(url, str) else None,
            skip=skip if isinstance(skip, str) else None,
            cells={str(k): _cell(c) for k, c in cells.items()},
        )
    return out


@dataclass(slots=True)
class StoredDealFacts:
    """The facts of the last good deal read, in the store's ``meta`` table."""

    store: MetaStore
    #: the value as last read or written (a read that changed nothing writes nothing)
    _seen: str | None = None

    def load(self, source: DealSource) -> dict[str, PageFacts] | None:
        """The facts kept for ``source``; None when there are none (absent, unreadable, or
        kept for another ``deals.pages`` section): every page is then read."""
        raw = self.store.get_meta(META_DEAL_FACTS)
        self._seen = raw
        if not raw:
            return None
        try:
            value = json.loads(raw)
            if not isinstance(value, dict) or value.get("source") != source_digest(source):
                return None
            return facts_from_json(value.get("pages"))
        except ValueError as exc:
            log.warning("deal.cache_unreadable", error=str(exc))
            return None

    def save(self, source: DealSource, facts: Mapping[str, PageFacts]) -> None:
        """Keep the facts of a read that did not fail."""
        raw = json.dumps({"source": source_digest(source), "pages": facts_to_json(facts)},
                         sort_keys=True, separators=(",", ":"))
        if raw != self._seen:
            self.store.set_meta(META_DEAL_FACTS, raw)
            self._seen = raw


class DealPageCount(Protocol):
    """Where the number of deal pages of the last successful read is kept."""

    def last(self) -> int | None:
        """The count of the last successful read (None: never read)."""

    def remember(self, pages: int) -> None:
        """Record a successful read's count."""


@dataclass(slots=True)
class StoredDealPageCount:
    """The count kept in the store's ``meta`` table, so a restart remembers it."""

    store: Store
    key: str = "deal_pages_last"

    def last(self) -> int | None:
        """The count of the last successful read (None: never read, or unreadable)."""
        value = self.store.get_meta(self.key)
        return int(value) if value is not None and value.isdigit() else None

    def remember(self, pages: int) -> None:
        """Record a successful read's count."""
        self.store.set_meta(self.key, str(pages))


def report_deal_problems(
    read: DealRead, policies: Policies, metrics: Metrics | None, *, full: bool = True
) -> None:
    """Log each deal page the bot cannot trust this cycle once (``deal.unreadable``,
    ``deal.conflicting``, ``deal.read_failed``) and count them in the metrics; on a full read
    also the statuses seen (``deal.statuses``) and, loudly, each one the bot cannot read
    (``deal.status_unreadable``), kept in ``handoff_guard_deal_statuses_unreadable{value}``."""
    index = DealIndex(read, policies.deals.signed_values, policies.deals.unsigned_values)
    problems = index.problems()
    if full and read.failed is None and policies.deals.pages is not None:
        seen = index.statuses_seen()
        log.info("deal.statuses", seen={s.value: s.pages for s in seen})
        for s in seen:
            if (line := unreadable_line(s)) is not None:
                log.warning("deal.status_unreadable", value=s.value, pages=s.pages, hint=line)
        if metrics is not None:
            metrics.deal_statuses_unreadable.clear()
            bad = [s for s in seen if s.state in ("unreadable", "conflicting")]
            for s in bad[:MAX_LABELLED_VALUES]:
                metrics.deal_statuses_unreadable.labels(value=s.value[:60]).set(s.pages)
    for p in problems:
        log.warning(f"deal.{p.kind}", page_id=p.page_id, title=p.title, url=p.url,
                    reason=p.reason)
    if metrics is not None:
        for p in problems:
            metrics.deal_problems.labels(kind=p.kind).inc()
        if read.failed is not None:
            metrics.deal_problems.labels(kind="read_failed").inc()

"""Confluence: deal pages found by CQL, read into :class:`Deal` values, or the reason why not.

Parsing Page Properties lives in :mod:`worker.atlassian.pageprops` and turning one page into a
deal in :mod:`worker.atlassian.deal_page`; this module finds the pages, resolves the people
they name, and pages through CQL results without trusting the server blindly:

* a 2xx answer that is not a CQL result (an empty body, an HTML page, an object without
  ``results``), or far fewer deal pages than the last successful read found, is a *failed
  read* (``DealRead.failed``), never "no deals";
* ``_links.next`` is followed only when it stays on the configured site (scheme, host and
  port): the client sends the bot's credentials with every request.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import structlog

from worker.atlassian.deal_page import (
    PageFacts,
    PersonResolver,
    deal_from_facts,
    page_facts,
    zero_pages_reason,
)
from worker.atlassian.discovery import confluence_url_error
from worker.atlassian.pageprops import UserRef
from worker.atlassian.transport import (
    AtlassianHTTPError,
    Transport,
    TransportFailedError,
    UnexpectedBodyError,
    default_port,
    same_site,
)
from worker.model.deals import Deal, DealRead, DealSkip, DealSource
from worker.model.people import Directory, Person
from worker.model.vocabulary import Flavor

if TYPE_CHECKING:
    from worker.atlassian.jira import JiraGateway

log = structlog.get_logger(__name__)

#: results per CQL page with bodies: Confluence caps ``limit`` at 50 when it expands a body
CQL_PAGE_SIZE = 50
#: results per CQL page without any expansion (Confluence's cap then: 1,000)
CQL_ID_PAGE_SIZE = 1000
#: page ids per ``id in (...)`` body read: one page of results
IDS_PER_QUERY = CQL_PAGE_SIZE
#: pages of CQL results read at most in one cycle (a server looping on ``next`` stops here)
MAX_RESULT_PAGES = 1000

@dataclass(frozen=True, slots=True)
class DealPages:
    """One read of the deal pages: what the planner gets, and (when the read did not fail)
    the facts of every page, for the next incremental read."""

    read: DealRead
    facts: Mapping[str, PageFacts] | None


class DealReadFailedError(Exception):
    """The deal pages could not be read in a way a server can hide behind a 2xx."""


def next_url(next_link: str, base: str | None, client_url: str) -> str:
    """The absolute URL of a ``_links.next`` cursor link (relative to the context base)."""
    root = (base or client_url).rstrip("/")
    if next_link.startswith("/") and not next_link.startswith("//"):
        if root.endswith("/wiki") and next_link.startswith("/wiki/"):
            root = root[: -len("/wiki")]
        return root + next_link
    return urljoin(root + "/", next_link)


class ConfluenceGateway:
    """Every Confluence request the worker makes."""

    def __init__(self, transport: Transport, *, flavor: Flavor, jira: JiraGateway,
                 guessed: bool = False) -> None:
        self.transport = transport
        self.flavor: Flavor = flavor
        self._jira = jira
        #: True when the base URL is Jira's (``CONFLUENCE_URL`` unset on Data Center)
        self.guessed = guessed

    def deals(
        self,
        source: DealSource,
        *,
        directory: Directory | None = None,
        last_pages: int | None = None,
    ) -> DealRead:
        """Every deal page the CQL finds, read (see :meth:`read_deals`)."""
        return self.read_deals(source, directory=directory, last_pages=last_pages).read

    def read_deals(
        self,
        source: DealSource,
        *,
        directory: Directory | None = None,
        last_pages: int | None = None,
        known: Mapping[str, PageFacts] | None = None,
        since: str | None = None,
    ) -> DealPages:
        """The deal pages the CQL finds, as deals (or skips), and the facts they came from.

        Without ``known``: every page is read with its body (one request per 50 pages).
        With ``known`` (the facts of the last good read) and ``since`` (a CQL date literal:
        the last successful cycle's start less the margin, in the bot's time zone), only
        what can have changed is read: the ids of the deal pages (one request per 1,000,
        no bodies), the bodies of the pages modified since then, and the bodies of pages
        the last read did not have (a label added: labels do not move ``lastmodified``). A
        page missing from the ids is gone (deleted, or its label removed). The result is
        the one a full read gives, in the same order.

        Either way, a 2xx that is not a CQL answer, a ``next`` link off the site, or finding
        fewer than ``source.min_pages_share`` of ``last_pages`` makes the read failed. People
        resolve from ``directory`` first (no request), then through Confluence (a
        ``ri:userkey``) and Jira, cached for this call.
        """
        resolve = self._resolver(directory)
        base_url = self.transport.client.url
        jira_url = self._jira.transport.client.url
        facts: dict[str, PageFacts] = {}
        failed: str | None = None
        try:
            if known is not None and since is not None:
                facts = self._changed_facts(source, known, since)
            else:
                for page in self._pages(source.cql):
                    found = page_facts(page, source, base_url=base_url)
                    facts.setdefault(found.page_id, found)
        except DealReadFailedError as exc:
            failed = str(exc)
        pages = len(facts)
        deals: list[Deal] = []
        skips: list[DealSkip] = []
        for found in facts.values():
            result = deal_from_facts(found, source, resolve=resolve, jira_url=jira_url)
            if isinstance(result, Deal):
                deals.append(result)
            else:
                skips.append(result)
        if failed is None and not pages and not last_pages and not source.zero_pages_ok:
            failed = zero_pages_reason(source)
        elif failed is None and last_pages and pages < last_pages * source.min_pages_share:
            failed = (
                f"found {pages} deal page(s), under {source.min_pages_share:.0%} of the "
                f"{last_pages} the last successful read found (if pages were removed on "
                "purpose, lower deals.pages.min_pages_share for one cycle)"
            )
        for skip in skips:
            log.warning("deal.skipped", page_id=skip.page_id, title=skip.title, reason=skip.reason)
        if failed is not None:
            log.warning("deal.read_failed", reason=failed, pages=pages, last_pages=last_pages)
        read = DealRead(tuple(deals), tuple(skips), failed=failed, pages=pages)
        return DealPages(read, facts if failed is None else None)

    def _changed_facts(
        self, source: DealSource, known: Mapping[str, PageFacts], since: str
    ) -> dict[str, PageFacts]:
        """Every deal page's facts, reading only the bodies that can have changed (see
        :meth:`read_deals`), in the order of the CQL's answer."""
        base_url = self.transport.client.url
        order = list(dict.fromkeys(
            str(page.get("id", "")) for page in self._pages(source.cql, expand=None,
                                                            limit=CQL_ID_PAGE_SIZE)
        ))
        fresh: dict[str, PageFacts] = {}
        for page in self._pages(f"({source.cql}) and lastmodified >= {since}"):
            found = page_facts(page, source, base_url=base_url)
            fresh.setdefault(found.page_id, found)
        unseen = [i for i in order if i not in fresh and i not in known]
        for start in range(0, len(unseen), IDS_PER_QUERY):
            chunk = ", ".join(f'"{i}"' for i in unseen[start : start + IDS_PER_QUERY])
            for page in self._pages(f"({source.cql}) and id in ({chunk})"):
                found = page_facts(page, source, base_url=base_url)
                fresh.setdefault(found.page_id, found)
        log.info("deal.pages_read", pages=len(order), bodies=len(fresh), new=len(unseen),
                 gone=len(set(known) - set(order)))
        out: dict[str, PageFacts] = {}
        for page_id in order:
            facts = fresh.get(page_id) or known.get(page_id)
            if facts is not None:  # a page that lost its label between two requests: gone
                out[page_id] = facts
        return out

    # ----------------------------------------------------------------- people

    def _resolver(self, directory: Directory | None) -> PersonResolver:
        people = directory.people if directory is not None else {}
        cache: dict[UserRef, Person | None] = {}

        def resolve(ref: UserRef) -> Person | None:
            if ref not in cache:
                cache[ref] = self._person(ref, people)
            return cache[ref]

        return resolve

    def _person(self, ref: UserRef, people: Mapping[str, Person]) -> Person | None:
        """The Jira person a page's user link names; None (logged) when nobody is found."""
        account_id, username = ref.account_id, ref.username
        try:
            if ref.user_key and not (account_id or username):
                found = self.confluence_user(key=ref.user_key)
                if found is None:
                    log.warning("confluence.user_unresolved", user=ref.describe())
                    return None
                account_id, username = found
            ident = account_id if self.flavor == "cloud" else username
            if ident and ident in people:
                return people[ident]
            person = self._jira.user(account_id=account_id, username=username)
        except (AtlassianHTTPError, TransportFailedError, UnexpectedBodyError) as exc:
            log.warning("confluence.user_unresolved", user=ref.describe(), error=str(exc))
            return None
        if person is None:
            log.warning("confluence.user_unresolved", user=ref.describe())
        return person

    def confluence_user(self, *, key: str) -> tuple[str | None, str | None] | None:
        """(accountId, username) of a Confluence user key; None when Confluence knows none.

        Data Center answers the username, Cloud the accountId (for users migrated from
        Server, whose old pages still carry ``ri:userkey``).
        """
        try:
            raw = self.transport.call("GET", "rest/api/user", params={"key": key})
        except AtlassianHTTPError as exc:
            if exc.status in (400, 404):
                return None
            raise
        if not isinstance(raw, dict):
            return None
        account_id = raw.get("accountId") if self.flavor == "cloud" else None
        username = raw.get("username") if self.flavor != "cloud" else None
        if not isinstance(account_id, str) and not isinstance(username, str):
            return None
        return (
            account_id if isinstance(account_id, str) else None,
            username if isinstance(username, str) else None,
        )

    # ----------------------------------------------------------------- paging

    def _pages(
        self, cql: str, *, expand: str | None = "body.storage,version", limit: int = CQL_PAGE_SIZE
    ) -> Iterator[Mapping[str, Any]]:
        path = "rest/api/content/search"
        first: dict[str, Any] = {"cql": cql, "limit": limit}
        if expand:
            first["expand"] = expand
        params: dict[str, Any] | None = first
        absolute = False
        site = self.transport.client.url
        for _ in range(MAX_RESULT_PAGES):
            try:
                page = self.transport.call("GET", path, params=params, absolute=absolute)
            except AtlassianHTTPError as exc:
                if self.guessed and exc.status == 404:
                    raise confluence_url_error(site, f"GET {path} answered 404",
                                               self._jira.transport) from None
                raise
            except UnexpectedBodyError as exc:
                if self.guessed:
                    raise confluence_url_error(site, "it answered something else than "
                                               "Confluence's JSON", self._jira.transport) from None
                raise DealReadFailedError(
                    f"Confluence answered something else than JSON ({exc})"
                ) from exc
            if not isinstance(page, dict) or not isinstance(page.get("results"), list):
                raise DealReadFailedError(
                    "Confluence answered a 2xx without a list of results "
                    f"({'an empty body' if page is None else type(page).__name__})"
                )
            results = page["results"]
            for result in results:
                if isinstance(result, dict):
                    yield result
            links = page.get("_links") if isinstance(page.get("_links"), dict) else {}
            nxt = links.get("next") if isinstance(links, dict) else None
            if not isinstance(nxt, str) or not nxt or not results:
                return
            base = links.get("base") if isinstance(links, dict) else None
            url = next_url(nxt, base if isinstance(base, str) else None, site)
            if not same_site(url, site):
                where = urlsplit(url)
                log.error("confluence.link_refused", link="next", host=where.hostname,
                          port=where.port, site=urlsplit(site).hostname)
                raise DealReadFailedError(
                    f"Confluence's _links.next points off the site ({where.scheme}://"
                    f"{where.hostname}:{default_port(where.scheme, where.port)}); paging stopped "
                    "and no credentials were sent there"
                )
            path, params, absolute = url, None, True
        raise DealReadFailedError(f"more than {MAX_RESULT_PAGES} pages of CQL results")

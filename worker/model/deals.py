"""Deals as read from Confluence: where the deal pages are, one deal (customer, account
executive, contract status), and what could not be read, with why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from worker.model.people import Person


@dataclass(frozen=True, slots=True)
class DealSource:
    """Where deals come from: Confluence deal pages found by CQL and the names of
    the Page Properties rows that hold each part of the deal."""

    cql: str = 'space = "SALES" and label = "deal"'
    account_property: str = "Account"
    project_property: str = "Jira project"
    status_property: str = "Contract status"
    signed_on_property: str = "Signed on"
    executive_property: str = "Account executive"
    #: the ``id`` parameter of the details macro to read when a page has several
    details_id: str | None = None
    #: a read finding fewer than this share of the last successful read's pages failed
    min_pages_share: float = 0.5
    #: how ``10/11/2026`` reads: day first, month first, or not at all (None)
    date_order: Literal["dmy", "mdy"] | None = None
    #: True when an admin says that finding no deal page at all is right (a new site with no
    #: deals yet); otherwise a read finding none, with no earlier good read to compare with,
    #: is a failed read (the bot may lack permission on the space, or the CQL may be wrong)
    zero_pages_ok: bool = False



@dataclass(frozen=True, slots=True)
class Deal:
    """One customer's commercial record, read from a Confluence deal page."""

    account: str
    jira_project: str | None
    contract_status: str | None
    signed_on: date | None
    account_executive: Person | None
    #: where it came from, in words a PM understands ("the page Deal: Acme Corp")
    source: str
    page_id: str | None = None
    page_title: str | None = None
    page_url: str | None = None
    #: why the contract status cannot be read (the customer is then *unreadable*)
    unreadable: str | None = None
    #: values that could not be read, in words ("the Signed on date could not be read: …")
    notes: tuple[str, ...] = ()
    #: what the status cell holds besides its leading value (``contract_status``): later
    #: lines, text beside a lozenge; read for a contradiction, kept as evidence
    status_rest: tuple[str, ...] = ()
    #: why the page's Jira project cell gave no key (a link to another site, text that is not
    #: a key), in words; the page can then still be matched by its account
    project_problem: str | None = None



@dataclass(frozen=True, slots=True)
class DealSkip:
    """A deal page that could not be used, with the reason (never an exception)."""

    page_id: str
    title: str
    reason: str
    url: str | None = None



@dataclass(frozen=True, slots=True)
class DealRead:
    """One cycle's read of the deal pages."""

    deals: tuple[Deal, ...] = ()
    skips: tuple[DealSkip, ...] = ()
    #: why this read cannot be trusted as a whole (a 2xx that is not a CQL answer, far
    #: fewer pages than last time, a ``next`` link off the site); None when it can
    failed: str | None = None
    #: deal pages the CQL returned
    pages: int = 0



def status_key(value: str) -> str:
    """A contract status as compared: case and every space ignored ("SIGNED", "Signed ")."""
    return "".join(value.split()).casefold()  # str.split() also splits on NBSP

"""Which deal page is a customer's, or why none can be trusted.

A customer's contract state is one of:

* ``signed`` / ``unsigned``: one or more deal pages whose status reads so and agree (a status
  is signed or unsigned only when it is in ``deals.signed_values`` or
  ``deals.unsigned_values``: :mod:`worker.policy.contract_status`);
* ``unreadable``: a deal page names the customer but its contract status is in neither list
  or cannot be read (or a page that could not be read at all carries the customer's name in
  its title, or its Jira project cell links elsewhere), or the whole read of deal pages failed;
* ``conflicting``: two deal pages for the customer disagree on the contract status, or one
  status cell contradicts itself ("Signed" then "pending countersignature");
* ``unknown``: no deal page at all.

Only ``unknown`` is a fact the policies may act on; ``unreadable`` and ``conflicting`` make
every contract-dependent policy skip the ticket with the reason and the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from worker.model.deals import Deal, DealRead
from worker.model.vocabulary import ContractState
from worker.policy.account_names import account_key
from worker.policy.contract_status import (
    DEFAULT_UNSIGNED_VALUES,
    StatusReading,
    StatusVocabulary,
    status_core,
)


@dataclass(frozen=True, slots=True)
class DealFinding:
    """A ticket's deal and contract state, and how they were found, in plain words."""

    deal: Deal | None
    status: str | None
    state: ContractState
    evidence: str
    #: how the deal page was matched ("project ACME", "account Acme Corp") or None
    found_by: str | None


@dataclass(frozen=True, slots=True)
class DealProblem:
    """A deal page the bot cannot trust this cycle (logged once per cycle per page)."""

    kind: Literal["unreadable", "conflicting"]
    page_id: str
    title: str
    url: str | None
    reason: str


def page_ref(title: str | None, url: str | None) -> str:
    """A page as a PM reads it in evidence: its title and its link."""
    name = f"the page {title}" if title else "an untitled page"
    return f"{name} ({url})" if url else name


class DealIndex:
    """Deal pages indexed by Jira project and account (both compared case-insensitively; an
    account also after :func:`account_key`), each page's status read three ways."""

    __slots__ = (
        "_by_account", "_by_account_key", "_by_project", "_deals", "_loose", "_readings",
        "_skips", "failed", "vocabulary",
    )  # fmt: skip

    def __init__(
        self,
        read: DealRead | Sequence[Deal],
        signed_values: Iterable[str],
        unsigned_values: Iterable[str] = DEFAULT_UNSIGNED_VALUES,
    ) -> None:
        if not isinstance(read, DealRead):
            read = DealRead(tuple(read))
        self.failed = read.failed
        self.vocabulary = StatusVocabulary.of(signed_values, unsigned_values)
        self._by_project: dict[str, list[Deal]] = {}
        self._by_account: dict[str, list[Deal]] = {}
        self._by_account_key: dict[str, list[Deal]] = {}
        #: pages whose Jira project cell gave no key (matched by account, or by title)
        self._loose: list[Deal] = []
        self._readings: dict[int, StatusReading] = {}
        self._deals = sorted(read.deals, key=lambda d: (d.page_id or "", d.account))
        # Sorted so that the same pages resolve the same way every time.
        for deal in self._deals:
            if deal.jira_project:
                self._by_project.setdefault(deal.jira_project.casefold(), []).append(deal)
            if deal.account:
                self._by_account.setdefault(deal.account.casefold(), []).append(deal)
                self._by_account_key.setdefault(account_key(deal.account), []).append(deal)
            if deal.project_problem:
                self._loose.append(deal)
        self._skips = read.skips

    def reading(self, deal: Deal) -> StatusReading:
        """The page's contract status, read three ways (the page's own problem first)."""
        found = self._readings.get(id(deal))
        if found is None:
            if deal.unreadable or deal.contract_status is None:
                found = StatusReading("unreadable", deal.contract_status or "",
                                      "; ".join(deal.status_rest),
                                      deal.unreadable or "the status is empty")
            else:
                found = self.vocabulary.read(deal.contract_status, deal.status_rest)
            self._readings[id(deal)] = found
        return found

    def state(self, status: str | None) -> ContractState:
        """``signed``/``unsigned`` when ``status`` reads so, ``unknown`` when empty, else
        ``unreadable`` or ``conflicting`` (see :mod:`worker.policy.contract_status`)."""
        if not status or not status.strip():
            return "unknown"
        return self.vocabulary.read_text(status).state

    def find(self, project: str, account: str | None) -> DealFinding:
        """The deal pages of a ticket's customer (by project key, then account, then account
        after normalising company names), judged."""
        if self.failed is not None:
            return DealFinding(
                None, None, "unreadable",
                f"the deal pages could not be read this cycle: {self.failed}", None,
            )  # fmt: skip
        deals = self._by_project.get(project.casefold(), [])
        found_by = f"project {project}"
        if not deals and account:
            deals = self._by_account.get(account.casefold(), [])
            found_by = f"account {account}"
        if not deals and account and (loose := account_key(account)):
            deals = self._by_account_key.get(loose, [])
            if deals:
                names = ", ".join(sorted({repr(d.account) for d in deals}))
                found_by = (f"account {account}, matching {names} only after normalising "
                            f"company names (both read {loose!r})")
        if not deals:
            return self._not_found(project, account)
        customer = deals[0].account or project
        readings = [(d, self.reading(d)) for d in deals]
        broken = next(((d, r) for d, r in readings if r.state == "unreadable"), None)
        if broken is not None:
            deal, reading = broken
            return DealFinding(
                deal, None, "unreadable",
                f"the contract status of {customer} cannot be read from "
                f"{page_ref(deal.page_title, deal.page_url)}: {reading.reason}",
                found_by,
            )  # fmt: skip
        torn = next(((d, r) for d, r in readings if r.state == "conflicting"), None)
        if torn is not None:
            deal, reading = torn
            return DealFinding(
                deal, None, "conflicting",
                f"the contract status of {customer} on "
                f"{page_ref(deal.page_title, deal.page_url)} contradicts itself: {reading.reason}",
                found_by,
            )  # fmt: skip
        states = {r.state for _, r in readings}
        if len(states) > 1:
            said = ", ".join(
                f"{page_ref(d.page_title, d.page_url)} says {r.words()}" for d, r in readings
            )
            return DealFinding(
                None, None, "conflicting",
                f"deal pages disagree on the contract of {customer}: {said}", found_by,
            )  # fmt: skip
        deal, reading = readings[0]
        status = deal.contract_status
        evidence = f"deal {deal.account} is {reading.words()}, from {deal.source}"
        if found_by.startswith("account") and "normalising" in found_by:
            evidence += f" (matched by {found_by})"
        if deal.notes:
            evidence += " (" + "; ".join(deal.notes) + ")"
        return DealFinding(deal, status, reading.state, evidence, found_by)

    def _not_found(self, project: str, account: str | None) -> DealFinding:
        names = [n for n in (project, account) if n]
        for skip in self._skips:
            hit = next((n for n in names if _names(skip.title, n)), None)
            if hit is not None:
                return DealFinding(
                    None, None, "unreadable",
                    f"{page_ref(skip.title, skip.url)} looks like the deal page of {hit} "
                    f"but cannot be read: {skip.reason}",
                    None,
                )  # fmt: skip
        for deal in self._loose:
            hit = next((n for n in names if _names(deal.page_title or "", n)
                        or _names(deal.project_problem or "", n)), None)
            if hit is not None:
                return DealFinding(
                    deal, None, "unreadable",
                    f"{page_ref(deal.page_title, deal.page_url)} looks like the deal page of "
                    f"{hit} but its Jira project cannot be read: {deal.project_problem}",
                    None,
                )  # fmt: skip
        where = f"project {project}"
        where += f" or account {account}" if account else " (the ticket has no account)"
        return DealFinding(None, None, "unknown", f"no deal found for {where}", None)

    def problems(self) -> list[DealProblem]:
        """Pages that name a customer but cannot be trusted: unreadable, or disagreeing."""
        out: dict[tuple[str, str], DealProblem] = {}
        groups = [*self._by_project.values(), *self._by_account_key.values()]
        for deals in groups:
            for d in deals:
                reading = self.reading(d)
                kind: Literal["unreadable", "conflicting"] | None = (
                    "unreadable" if reading.state == "unreadable"
                    else "conflicting" if reading.state == "conflicting" else None
                )  # fmt: skip
                if kind is not None:
                    out.setdefault((kind, d.page_id or ""), DealProblem(
                        kind, d.page_id or "", d.page_title or "", d.page_url,
                        reading.reason or "",
                    ))  # fmt: skip
            readable = [d for d in deals if self.reading(d).state in ("signed", "unsigned")]
            if len({self.reading(d).state for d in readable}) > 1:
                said = ", ".join(f"{d.page_title}: {self.reading(d).words()}" for d in readable)
                for d in readable:
                    out.setdefault(("conflicting", d.page_id or ""), DealProblem(
                        "conflicting", d.page_id or "", d.page_title or "", d.page_url,
                        f"deal pages of {d.account} disagree ({said})",
                    ))  # fmt: skip
        for d in self._loose:
            out.setdefault(("unreadable", d.page_id or ""), DealProblem(
                "unreadable", d.page_id or "", d.page_title or "", d.page_url,
                d.project_problem or "",
            ))  # fmt: skip
        return sorted(out.values(), key=lambda p: (p.kind, p.page_id))

    def statuses_seen(self) -> list[StatusSeen]:
        """Each status value the deal pages hold (as compared), with its reading and how many
        pages hold it, most pages first: what an admin checks before going live."""
        counts: dict[str, tuple[str, StatusReading, int]] = {}
        for d in self._deals:
            reading = self.reading(d)
            key = status_core(reading.value) or "(empty)"
            value, first, pages = counts.get(key, (reading.value or "(empty)", reading, 0))
            counts[key] = (value, first, pages + 1)
        return sorted(
            (StatusSeen(value, reading.state, pages, reading.reason)
             for value, reading, pages in counts.values()),
            key=lambda s: (-s.pages, s.value.casefold()),
        )


@dataclass(frozen=True, slots=True)
class StatusSeen:
    """One status value found on deal pages: as first written, its reading, on how many."""

    value: str
    state: str
    pages: int
    reason: str | None = None


def _names(title: str, name: str) -> bool:
    """True when ``title`` holds ``name`` as whole words (case-insensitive)."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", title, re.IGNORECASE) is not None


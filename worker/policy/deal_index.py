"""Which deal page is a customer's, or why none can be trusted.

A customer's contract state is one of:

* ``signed`` / ``unsigned``: one or more readable deal pages that agree;
* ``unreadable``: a deal page names the customer but its contract status cannot be read (or
  a page that could not be read at all carries the customer's name in its title), or the
  whole read of deal pages failed this cycle;
* ``conflicting``: two deal pages for the customer disagree on the contract status;
* ``unknown``: no deal page at all.

Only ``unknown`` is a fact the policies may act on; ``unreadable`` and ``conflicting`` make
every contract-dependent policy skip the ticket with the reason and the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from worker.model import ContractState, Deal, DealRead, status_key


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
    """Deal pages indexed by Jira project and account (both compared case-insensitively)."""

    __slots__ = ("_by_account", "_by_project", "_skips", "failed", "signed")

    def __init__(self, read: DealRead | Sequence[Deal], signed_values: Iterable[str]) -> None:
        if not isinstance(read, DealRead):
            read = DealRead(tuple(read))
        self.failed = read.failed
        self.signed = frozenset(status_key(v) for v in signed_values)
        self._by_project: dict[str, list[Deal]] = {}
        self._by_account: dict[str, list[Deal]] = {}
        # Sorted so that the same pages resolve the same way every time.
        for deal in sorted(read.deals, key=lambda d: (d.page_id or "", d.account)):
            if deal.jira_project:
                self._by_project.setdefault(deal.jira_project.casefold(), []).append(deal)
            if deal.account:
                self._by_account.setdefault(deal.account.casefold(), []).append(deal)
        self._skips = read.skips

    def state(self, status: str | None) -> ContractState:
        """``signed`` when ``status`` is one of the signed values, ``unknown`` when empty."""
        if not status:
            return "unknown"
        return "signed" if status_key(status) in self.signed else "unsigned"

    def find(self, project: str, account: str | None) -> DealFinding:
        """The deal pages of a ticket's customer (by project key, then account), judged."""
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
        if not deals:
            return self._not_found(project, account)
        customer = deals[0].account or project
        broken = next((d for d in deals if d.unreadable), None)
        if broken is not None:
            return DealFinding(
                broken, None, "unreadable",
                f"the contract status of {customer} cannot be read from "
                f"{page_ref(broken.page_title, broken.page_url)}: {broken.unreadable}",
                found_by,
            )  # fmt: skip
        statuses = {status_key(d.contract_status or ""): d for d in deals}
        if len(statuses) > 1:
            said = ", ".join(
                f"{page_ref(d.page_title, d.page_url)} says {d.contract_status}"
                for d in statuses.values()
            )
            return DealFinding(
                None, None, "conflicting",
                f"deal pages disagree on the contract of {customer}: {said}", found_by,
            )  # fmt: skip
        deal = deals[0]
        status = deal.contract_status
        evidence = f"deal {deal.account} is {status}, from {deal.source}"
        if deal.notes:
            evidence += " (" + "; ".join(deal.notes) + ")"
        return DealFinding(deal, status, self.state(status), evidence, found_by)

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
        where = f"project {project}"
        where += f" or account {account}" if account else " (the ticket has no account)"
        return DealFinding(None, None, "unknown", f"no deal found for {where}", None)

    def problems(self) -> list[DealProblem]:
        """Pages that name a customer but cannot be trusted: unreadable, or disagreeing."""
        out: dict[tuple[str, str], DealProblem] = {}
        groups = [*self._by_project.values(), *self._by_account.values()]
        for deals in groups:
            for d in deals:
                if d.unreadable:
                    out.setdefault(("unreadable", d.page_id or ""), DealProblem(
                        "unreadable", d.page_id or "", d.page_title or "", d.page_url,
                        d.unreadable,
                    ))  # fmt: skip
            readable = [d for d in deals if not d.unreadable]
            if len({status_key(d.contract_status or "") for d in readable}) > 1:
                said = ", ".join(f"{d.page_title}: {d.contract_status}" for d in readable)
                for d in readable:
                    out.setdefault(("conflicting", d.page_id or ""), DealProblem(
                        "conflicting", d.page_id or "", d.page_title or "", d.page_url,
                        f"deal pages of {d.account} disagree ({said})",
                    ))  # fmt: skip
        return sorted(out.values(), key=lambda p: (p.kind, p.page_id))


def _names(title: str, name: str) -> bool:
    """True when ``title`` holds ``name`` as whole words (case-insensitive)."""
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", title, re.IGNORECASE) is not None


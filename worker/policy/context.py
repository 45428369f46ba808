"""What conditions and actions see: people sets, the deal and the sales owner of a ticket.

A :class:`PlanContext` is built once per ``plan`` call (people sets resolved, deals indexed);
a :class:`TicketContext` wraps one snapshot and finds its deal and sales owner lazily, once.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from worker.model.deals import Deal, DealRead
from worker.model.issue import IssueSnapshot
from worker.model.people import Directory, Person
from worker.model.plan import Evidence
from worker.policy.deal_index import DealFinding, DealIndex
from worker.policy.sections import SALES_SET, FileView

__all__ = ["DealFinding", "PlanContext", "SalesOwner", "StepContext", "TicketContext"]


@dataclass(frozen=True, slots=True)
class SalesOwner:
    """Who owns pre-signature Sales work on a ticket, and why (or why nobody)."""

    person: Person | None
    why: str


class PlanContext:
    """Per-plan lookups, computed once: people sets and the deal index."""

    __slots__ = (
        "_findings",
        "_groups",
        "_users",
        "deal_index",
        "directory",
        "memo",
        "now",
        "policies",
        "scope_ctx",
        "tz",
    )

    def __init__(
        self,
        policies: FileView,
        directory: Directory,
        deals: DealRead | Sequence[Deal],
        now: datetime,
    ) -> None:
        self.policies = policies
        self.directory = directory
        self.now = now
        self.tz: ZoneInfo = policies.tz
        self.deal_index = DealIndex(
            deals, policies.deals.signed_values, policies.deals.unsigned_values
        )
        self._groups: dict[str, frozenset[str]] = {}
        self._users: dict[str, frozenset[str]] = {}
        for name, pset in policies.people.items():
            ids: set[str] = set()
            for group in pset.groups:
                ids.update(directory.groups.get(group, frozenset()))
            self._groups[name] = frozenset(ids)
            self._users[name] = frozenset(pset.users)
        #: evidence memo for conditions (see ``Condition.memo_key``), per plan call
        self.memo: dict[tuple[int, Hashable], Evidence] = {}
        #: the JQL context for local scope checks (built on first use)
        self.scope_ctx: Any = None
        self._findings: dict[tuple[str, str | None, str | None], DealFinding] = {}

    def is_member(self, set_name: str, person: Person | None) -> bool:
        """True when ``person`` is an active member of the named people set."""
        if person is None or not person.active:
            return False
        return person.id in self._groups[set_name] or person.id in self._users[set_name]

    def has_set(self, set_name: str) -> bool:
        """True when the policy file defines the named people set."""
        return set_name in self._groups

    def person(self, user_id: str) -> Person:
        """The directory's Person for ``user_id`` (a bare id when the directory lacks it)."""
        return self.directory.people.get(user_id) or Person(id=user_id, display_name=user_id)

    def find_deal(self, snapshot: IssueSnapshot) -> DealFinding:
        """The ticket's deal: field first, then the deal page by project key or account."""
        cfg = self.policies.deals
        account = _field_str(snapshot.fields, cfg.account_field)
        field_status = _field_str(snapshot.fields, cfg.status_field)
        key = (snapshot.project, account, field_status)
        found = self._findings.get(key)
        if found is None:
            found = self._findings[key] = self._find(snapshot.project, account, field_status)
        return found

    def _find(self, project: str, account: str | None, field_status: str | None) -> DealFinding:
        cfg = self.policies.deals
        pages: DealFinding | None = None
        if cfg.pages is not None:
            pages = self.deal_index.find(project, account)
        if field_status:
            # The ticket's own field is read three ways too: a value in neither list is
            # unreadable, whatever the deal page says (the field comes first).
            reading = self.deal_index.vocabulary.read_text(field_status)
            said = f"the ticket's field {cfg.status_field} says {field_status!r}"
            evidence = (
                f"contract status {reading.words()}, from the ticket's field {cfg.status_field}"
                if reading.reason is None else f"{said}: {reading.reason}"
            )
            return DealFinding(
                pages.deal if pages is not None else None,
                field_status if reading.reason is None else None,
                reading.state,
                evidence,
                pages.found_by if pages is not None else None,
            )
        if pages is not None:
            return pages
        where = f"project {project}"
        where += f" or account {account}" if account else " (the ticket has no account)"
        return DealFinding(None, None, "unknown", f"no deal found for {where}", None)

    def sales_owner(self, snapshot: IssueSnapshot, finding: DealFinding) -> SalesOwner:
        """Account executive (if active), else a reporter in Sales, else the fallback."""
        reasons: list[str] = []
        deal = finding.deal
        ae = deal.account_executive if deal else None
        if deal is not None and ae is not None and ae.active:
            return SalesOwner(ae, f"the account executive on {deal.source}")
        if finding.deal is None:
            reasons.append("no deal found" if finding.state == "unknown" else finding.evidence)
        elif ae is None:
            missing = [n for n in finding.deal.notes if "account executive" in n]
            reasons.append(missing[0] if missing else "deal has no account executive")
        else:
            reasons.append(f"deal has no active account executive ({ae.display_name} is inactive)")
        if self.has_set(SALES_SET) and self.is_member(SALES_SET, snapshot.reporter):
            return SalesOwner(snapshot.reporter, "the ticket's reporter, who is in Sales")
        reasons.append("the reporter is not in Sales")
        fallback = self.policies.sales_owner_fallback
        if fallback is not None:
            return SalesOwner(fallback, "the configured fallback sales owner")
        reasons.append("no fallback is configured")
        return SalesOwner(None, "no sales owner: " + ", ".join(reasons))


class TicketContext:
    """One snapshot's view for conditions and actions; deal and owner found once, lazily."""

    __slots__ = ("_finding", "_owner", "plan", "snapshot")

    def __init__(self, snapshot: IssueSnapshot, plan: PlanContext) -> None:
        self.snapshot = snapshot
        self.plan = plan
        self._finding: DealFinding | None = None
        self._owner: SalesOwner | None = None

    @property
    def now(self) -> datetime:
        """The planning time (never the wall clock)."""
        return self.plan.now

    def deal(self) -> DealFinding:
        """The ticket's deal finding (computed on first use)."""
        if self._finding is None:
            self._finding = self.plan.find_deal(self.snapshot)
        return self._finding

    def sales_owner(self) -> SalesOwner:
        """The ticket's sales owner (computed on first use)."""
        if self._owner is None:
            self._owner = self.plan.sales_owner(self.snapshot, self.deal())
        return self._owner


def _field_str(fields: Mapping[str, str | tuple[str, ...] | None], name: str | None) -> str | None:
    if not name:
        return None
    value = fields.get(name)
    if isinstance(value, tuple):
        value = value[0] if value else None
    return value.strip() or None if value else None


@dataclass(frozen=True, slots=True)
class StepContext:
    """What a step's actions know besides the ticket: the policy and what comes next."""

    policy_id: str
    policy_description: str
    step: int
    evidence: tuple[Evidence, ...]
    next_step: str | None
    next_step_at: datetime | None

"""Incremental reads: after one full read, a cycle reads only the tickets that can have changed.

A ticket's decision is a pure function of its snapshot, the people sets, the deals, the
policies and the time. An incremental cycle therefore reads, inside the usual scope:

* tickets **updated** since the last successful cycle began (by the site clock), minus a
  margin larger than the search lag (``updated`` moves with any human edit, comment or
  transition, and with the bot's own writes);
* tickets whose verdict can change **with time alone**: the planner gives each one a
  ``recheck_at`` (a ladder step coming due, an ``idle_for`` or ``comments_by`` window ending,
  a write that did not land, a step deferred by the budget); the due ones are read by key;
* tickets of the customers whose **deal page** changed (every deal page is read each cycle,
  and each one's fingerprint compared with the last cycle's: edits, new pages, deleted
  pages and removed labels all show up as a difference);
* tickets of people who **joined the PM set**.

Everything is read again when the policy file or its templates changed, when any other
people set changed (a condition may read it: a new Sales member's old comment can change a
verdict), when the last successful cycle is older than the journal window, when ``full_sweep``
has passed since the last full read, or when a scope depends on the time itself. The state
moves only after a successful cycle.

Reading more than needed is always safe (the planner decides each ticket on its own); this
module only has to make sure it never reads less.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from worker.model.deals import Deal
from worker.model.people import Directory

#: meta keys (the agreed store shape): the first three are named in the store's design
META_WATERMARK = "read_watermark"
META_FULL_SWEEP = "last_full_sweep"
META_DEAL_PAGES = "deal_page_ids"
#: page id -> [fingerprint of what the planner reads from it, Jira project, account]
META_DEALS = "deal_fingerprints"
#: group -> active member ids, as read by the last successful cycle
META_PEOPLE = "people"
#: issue key -> when its verdict can change with time alone
META_RECHECKS = "rechecks"
#: what the last successful cycle read with (policy file and templates, search spec)
META_READ_CONFIG = "read_config"
#: policy id -> tickets in its scope at the last full read
META_SCOPES = "scope_sizes"

#: more due tickets than this and a full read is cheaper than reading them by key
MAX_KEYS_BY_KEY = 1_000
#: more changed customers than this and a full read is simpler than one clause each
MAX_CHANGED_DEALS = 50
#: keys per ``key in (...)`` search: one page each
KEYS_PER_QUERY = 100


class MetaStore(Protocol):
    """The store's small key/value table (``worker.state.store.Store`` implements it)."""

    def get_meta(self, key: str) -> str | None:
        """The value, or None when absent."""

    def set_meta(self, key: str, value: str) -> None:
        """Insert or replace the value."""


@dataclass(frozen=True, slots=True)
class ReadState:
    """What the last successful cycle left for the next one to read incrementally."""

    watermark: datetime | None = None
    last_full_sweep: datetime | None = None
    config: str | None = None
    people: Mapping[str, frozenset[str]] = field(default_factory=dict)
    deals: Mapping[str, DealPrint] = field(default_factory=dict)
    rechecks: Mapping[str, datetime] = field(default_factory=dict)
    #: policy id -> tickets in its scope at the last full read (the breaker's percentage)
    scope_sizes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, store: MetaStore) -> ReadState:
        """The state kept in ``store``; an unreadable value counts as absent (a full read)."""
        try:
            return cls(
                watermark=_time(store.get_meta(META_WATERMARK)),
                last_full_sweep=_time(store.get_meta(META_FULL_SWEEP)),
                config=store.get_meta(META_READ_CONFIG),
                people={
                    g: frozenset(_strings(ids))
                    for g, ids in _json(store.get_meta(META_PEOPLE)).items()
                },
                deals={
                    str(k): DealPrint.from_json(v)
                    for k, v in _json(store.get_meta(META_DEALS)).items()
                },
                rechecks={
                    str(k): _aware(datetime.fromisoformat(str(v)))
                    for k, v in _json(store.get_meta(META_RECHECKS)).items()
                },
                scope_sizes={
                    str(k): int(str(v)) for k, v in _json(store.get_meta(META_SCOPES)).items()
                },
            )
        except (ValueError, TypeError):
            return cls()

    def save(self, store: MetaStore) -> None:
        """Write the state (after a successful cycle only)."""
        store.set_meta(META_PEOPLE, _dump({g: sorted(ids) for g, ids in self.people.items()}))
        store.set_meta(META_DEALS, _dump({k: v.to_json() for k, v in self.deals.items()}))
        store.set_meta(META_SCOPES, _dump(dict(self.scope_sizes)))
        store.set_meta(META_DEAL_PAGES, _dump(sorted(self.deals)))
        self.save_rechecks(store)
        if self.config is not None:
            store.set_meta(META_READ_CONFIG, self.config)
        if self.last_full_sweep is not None:
            store.set_meta(META_FULL_SWEEP, self.last_full_sweep.isoformat())
        # The watermark last: a crash before it leaves the previous one (reads more, not less).
        if self.watermark is not None:
            store.set_meta(META_WATERMARK, self.watermark.isoformat())


    def save_rechecks(self, store: MetaStore) -> None:
        """Write the rechecks alone (a cycle that read only hinted tickets: the rest of
        the state, the watermark first, stays as the last scheduled cycle left it)."""
        store.set_meta(
            META_RECHECKS, _dump({k: t.isoformat() for k, t in sorted(self.rechecks.items())})
        )


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        raise ValueError("expected a JSON list")
    return [str(v) for v in value]


def _time(value: str | None) -> datetime | None:
    return None if not value else _aware(datetime.fromisoformat(value))


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _json(value: str | None) -> dict[str, object]:
    if not value:
        return {}
    loaded = json.loads(value)
    if not isinstance(loaded, dict):
        raise ValueError("expected a JSON object")
    return loaded


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------- fingerprints


@dataclass(frozen=True, slots=True)
class DealPrint:
    """What the next cycle must know of a deal page to see that it changed, and whose
    tickets it concerned (a page that vanished can only be traced through this)."""

    digest: str
    project: str | None
    account: str | None

    def to_json(self) -> list[str | None]:
        """Compact JSON."""
        return [self.digest, self.project, self.account]

    @classmethod
    def from_json(cls, value: object) -> DealPrint:
        """Read :meth:`to_json`'s shape; raises ValueError on anything else."""
        if not isinstance(value, list) or len(value) != 3:
            raise ValueError("a deal print is [digest, project, account]")
        digest, project, account = value
        if not isinstance(digest, str):
            raise ValueError("a deal print's digest is a string")
        return cls(digest, _opt(project), _opt(account))


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None


def deal_prints(deals: Iterable[Deal]) -> dict[str, DealPrint]:
    """Page id (or account, for a deal without one) -> a digest of every field the planner
    and the comment templates read from the deal, with its project and account."""
    out: dict[str, DealPrint] = {}
    for deal in deals:
        ae = deal.account_executive
        parts = [
            deal.account, deal.jira_project, deal.contract_status,
            deal.signed_on.isoformat() if deal.signed_on else None,
            None if ae is None else [ae.id, ae.display_name, ae.active],
            deal.source, deal.page_title, deal.page_url,
        ]  # fmt: skip
        digest = hashlib.sha256(_dump(parts).encode()).hexdigest()[:24]
        out[deal.page_id or f"account:{deal.account}"] = DealPrint(
            digest, deal.jira_project, deal.account
        )
    return out


def people_of(directory: Directory) -> dict[str, frozenset[str]]:
    """Group -> active member ids (inactive people are never members)."""
    return {g: frozenset(ids) for g, ids in directory.groups.items()}


# --------------------------------------------------------------------------- the decision


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed outside the tickets since the last successful cycle."""

    #: Jira projects and accounts of deal pages that changed, appeared or vanished
    projects: frozenset[str] = frozenset()
    accounts: frozenset[str] = frozenset()
    #: people who joined the PM groups
    new_pms: frozenset[str] = frozenset()
    #: groups (other than the PM groups) whose membership changed
    other_groups: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """Full read, or the restrictions an incremental read searches for (OR-ed)."""

    full: bool
    reason: str
    #: ``updated >=`` this instant (site clock), None for a full read
    since: datetime | None = None
    #: keys whose recheck is due
    due: tuple[str, ...] = ()
    changes: Changes = field(default_factory=Changes)


@dataclass(frozen=True, slots=True)
class IncrementalSettings:
    """How far incremental reads may go before a full read is forced."""

    margin: timedelta = timedelta(minutes=10)
    full_sweep: timedelta = timedelta(hours=24)
    journal_window: timedelta = timedelta(hours=24)
    enabled: bool = True


def diff_people(
    old: Mapping[str, frozenset[str]], new: Mapping[str, frozenset[str]], pm_groups: Sequence[str]
) -> tuple[frozenset[str], tuple[str, ...]]:
    """(people who joined a PM group, other groups whose members changed)."""
    joined: set[str] = set()
    others: list[str] = []
    for group in sorted(set(old) | set(new)):
        before, after = old.get(group, frozenset()), new.get(group, frozenset())
        if before == after:
            continue
        if group in pm_groups:
            joined |= after - before
        else:
            others.append(group)
    return frozenset(joined), tuple(others)


def diff_deals(
    old: Mapping[str, DealPrint], new: Mapping[str, DealPrint]
) -> tuple[frozenset[str], frozenset[str], int]:
    """(projects, accounts) concerned by a page that is new, changed or gone, and how many
    pages that is. Both the old and the new version count: a ticket may move between deals."""
    projects: set[str] = set()
    accounts: set[str] = set()
    changed = 0
    for page in set(old) | set(new):
        before, after = old.get(page), new.get(page)
        if before is not None and after is not None and before.digest == after.digest:
            continue
        changed += 1
        for version in (before, after):
            if version is None:
                continue
            if version.project:
                projects.add(version.project)
            if version.account:
                accounts.add(version.account)
    return frozenset(projects), frozenset(accounts), changed


def _why_full(
    state: ReadState,
    *,
    now: datetime,
    config: str,
    settings: IncrementalSettings,
    time_dependent_scope: bool = False,
) -> str | None:
    """Why everything must be read, whatever changed (None: an incremental read may do)."""
    if not settings.enabled:
        return "incremental reads are switched off"
    if state.watermark is None or state.last_full_sweep is None:
        return "first read: no successful cycle recorded"
    if state.config != config:
        return "the policy file, its templates or the search changed"
    if time_dependent_scope:
        return "a policy scope depends on the time itself"
    if now - state.watermark > settings.journal_window:
        return "the last successful cycle is older than the journal window"
    if now < state.watermark:
        return "the site clock went back"
    if now - state.last_full_sweep >= settings.full_sweep:
        return "the periodic full sweep is due"
    return None


def deals_since(
    state: ReadState, *, now: datetime, config: str, settings: IncrementalSettings
) -> datetime | None:
    """From when deal pages must be read with their bodies (the pages modified since), or
    None when every deal page must be read (the same conditions as a full ticket read, but
    a scope that reads the clock does not matter: deal pages do not depend on it)."""
    if _why_full(state, now=now, config=config, settings=settings) is not None:
        return None
    assert state.watermark is not None
    return state.watermark - settings.margin


def decide(
    state: ReadState,
    *,
    now: datetime,
    config: str,
    settings: IncrementalSettings,
    time_dependent_scope: bool,
    people: Mapping[str, frozenset[str]],
    pm_groups: Sequence[str],
    deals: Mapping[str, DealPrint],
) -> ReadPlan:
    """Full or incremental, and why (pure)."""

    def full(reason: str) -> ReadPlan:
        return ReadPlan(full=True, reason=reason)

    why = _why_full(state, now=now, config=config, settings=settings,
                    time_dependent_scope=time_dependent_scope)
    if why is not None:
        return full(why)
    assert state.watermark is not None
    new_pms, other_groups = diff_people(state.people, people, pm_groups)
    if other_groups:
        return full(f"people set membership changed: {', '.join(other_groups)}")
    projects, accounts, changed = diff_deals(state.deals, deals)
    if changed > MAX_CHANGED_DEALS:
        return full(f"{changed} deal pages changed")
    due = tuple(sorted(k for k, t in state.rechecks.items() if t <= now))
    if len(due) > MAX_KEYS_BY_KEY:
        return full(f"{len(due)} tickets are due for a recheck")
    return ReadPlan(
        full=False,
        reason="incremental",
        since=state.watermark - settings.margin,
        due=due,
        changes=Changes(projects=projects, accounts=accounts, new_pms=new_pms),
    )


# --------------------------------------------------------------------------- JQL


def jql_minute(at: datetime, tz: ZoneInfo) -> str:
    """A JQL date literal for ``at`` in the searching user's time zone, rounded down to the
    minute (JQL has minute precision; rounding down reads a little more, never less)."""
    local = at.astimezone(tz)
    return local.strftime('"%Y-%m-%d %H:%M"')


def quote(value: str) -> str:
    """A JQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def restrictions(
    plan: ReadPlan, *, tz: ZoneInfo, account_field: str | None, due_keys: bool = True
) -> list[str]:
    """The JQL restrictions (each AND-ed with the base search) an incremental read runs.

    The first one carries everything that fits one clause; due keys (unless ``due_keys`` is
    False: Jira Cloud reads them with bulkfetch, :mod:`worker.read.recheck`) come in chunks of
    :data:`KEYS_PER_QUERY` so that every search is one page.
    """
    assert plan.since is not None
    ors = [f"updated >= {jql_minute(plan.since, tz)}"]
    if plan.changes.projects:
        projects = sorted(plan.changes.projects)
        ors.append("project in (" + ", ".join(quote(p) for p in projects) + ")")
    if account_field:
        # A phrase search finds every ticket whose account equals the deal's (and maybe a
        # few more: more is safe); the planner matches accounts exactly.
        for account in sorted(plan.changes.accounts):
            ors.append(f"{quote(account_field)} ~ {quote(quote(account))}")
    if plan.changes.new_pms:
        people = ", ".join(quote(p) for p in sorted(plan.changes.new_pms))
        ors.append(f"assignee in ({people})")
    out = ["(" + " OR ".join(ors) + ")"]
    keys = list(plan.due) if due_keys else []
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        out.append(keys_clause(chunk))
    return out


def keys_clause(refs: Sequence[str]) -> str:
    """``key in (...)`` for issue keys or ids (JQL's key field takes both)."""
    return "key in (" + ", ".join(quote(k) for k in refs) + ")"

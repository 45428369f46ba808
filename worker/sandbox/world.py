"""The live state of a running sandbox: the working site, its clock, the indexes the API
needs, search versions (eventual consistency), cached search results, faults and the log.

Everything here is guarded by ``World.lock`` (one re-entrant lock for the whole site): the
server is threaded and a request reads or writes the site as one unit.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from worker.sandbox.faults import FaultRule
from worker.sandbox.site import FieldDef, Issue, Page, Site, User
from worker.sandbox.webhooks import WebhookHub

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: how many evaluated searches stay cached for paging
SEARCH_CACHE_SIZE = 64


def parse_duration(text: str) -> timedelta:
    """``"3d"``, ``"90m"``, ``"1.5h"`` -> timedelta (units ``s m h d w``); ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not a duration like '3d' or '90m': {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])


@dataclass(slots=True)
class SearchResult:
    """One evaluated search: the matching issue versions in order, paged by token."""

    id: int
    issues: list[Issue]


@dataclass(slots=True)
class LoggedRequest:
    """One API request as the request log keeps it."""

    method: str
    path: str
    query: str
    status: int | None
    fault: str | None = None
    #: an issue search's parameters, sent in the body or the query: ``jql``, how many
    #: ``fields`` and ``reconcileIssues`` it named (a benchmark tells a batched state read,
    #: no fields and ids to reconcile, from a page of tickets by it)
    search: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form served by ``GET /_sandbox/requests`` (``search`` for searches only)."""
        out: dict[str, Any] = {"method": self.method, "path": self.path, "query": self.query,
               "status": self.status, "fault": self.fault}
        if self.search is not None:
            out["search"] = self.search
        return out


@dataclass(slots=True)
class Attachment:
    """A file attached to a Confluence page (live state: not in the site file)."""

    id: str
    page_id: str
    title: str
    media_type: str
    data: bytes
    comment: str
    minor_edit: bool
    created: datetime
    updated: datetime
    version: int = 1


@dataclass(slots=True)
class World:
    """The sandbox's mutable state (use only while holding ``lock``)."""

    pristine: Site
    site: Site = field(init=False)
    lock: threading.RLock = field(default_factory=threading.RLock)
    faults: list[FaultRule] = field(default_factory=list)
    log: list[LoggedRequest] = field(default_factory=list)
    #: issue key -> [(site time of write, issue version after it)], only when search lags
    versions: dict[str, list[tuple[datetime, Issue]]] = field(default_factory=dict)
    searches: OrderedDict[int, SearchResult] = field(default_factory=OrderedDict)
    _search_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _next_id: int = 0
    users_by_id: dict[str, User] = field(default_factory=dict)
    issues_by_key: dict[str, Issue] = field(default_factory=dict)
    issues_by_id: dict[str, Issue] = field(default_factory=dict)
    pages_by_id: dict[str, Page] = field(default_factory=dict)
    #: issue key -> index in ``site.issues`` (writes replace issues in place)
    positions: dict[str, int] = field(default_factory=dict)
    fields_list: list[FieldDef] = field(default_factory=list)
    fields_by_id: dict[str, FieldDef] = field(default_factory=dict)
    #: issue key -> the first version as loaded (what search shows before any write lands);
    #: None for an issue created since (search does not show it until the lag has passed)
    originals: dict[str, Issue | None] = field(default_factory=dict)
    #: page id -> its attachments, oldest first
    attachments: dict[str, list[Attachment]] = field(default_factory=dict)
    #: the admin webhooks and their delivery thread (:mod:`worker.sandbox.webhooks`)
    webhooks: WebhookHub = field(default_factory=WebhookHub)
    #: (version before or None for a new issue, version after, who) of each write since the
    #: request began, while a webhook listens: turned into events after the request
    changes: list[tuple[Issue | None, Issue, str | None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    # ------------------------------------------------------------------ lifecycle

    def reset(self) -> None:
        """Back to the loaded site; clears faults, the request log and search state."""
        self.site = self.pristine.copy()
        self.faults.clear()
        self.log.clear()
        self.versions.clear()
        self.searches.clear()
        self.originals.clear()
        self.attachments.clear()
        self.changes.clear()
        self.webhooks.clear()
        self.reindex()
        numbers = [int(i.id) for i in self.site.issues if i.id.isdigit()]
        numbers += [int(c.id) for i in self.site.issues for c in i.comments if c.id.isdigit()]
        self._next_id = max(numbers, default=10000) + 1

    def reindex(self) -> None:
        """Rebuild the lookup tables after the site's lists changed."""
        site = self.site
        self.users_by_id = {}
        for u in site.users:
            self.users_by_id[u.account_id] = u
            self.users_by_id[u.name] = u
        bot = User(site.bot.account_id, site.bot.name, site.bot.display_name, site.bot.email)
        self.users_by_id[bot.account_id] = bot
        self.users_by_id[bot.name] = bot
        # An old key of a moved issue still finds it, unless a current key took it over.
        self.issues_by_key = {k: i for i in site.issues for k in i.previous_keys}
        self.issues_by_key.update({i.key: i for i in site.issues})
        self.positions = {i.key: n for n, i in enumerate(site.issues)}
        self.fields_list = site.all_fields()
        self.fields_by_id = {f.id: f for f in self.fields_list}
        self.issues_by_id = {i.id: i for i in site.issues}
        self.pages_by_id = {p.id: p for p in site.pages}

    def new_id(self) -> str:
        """A fresh numeric id for comments, changelog entries and the like."""
        self._next_id += 1
        return str(self._next_id)

    # ------------------------------------------------------------------ people

    @property
    def cloud(self) -> bool:
        """True for a Jira Cloud site, False for Data Center."""
        return self.site.flavor == "cloud"

    def user(self, ref: str | None) -> User | None:
        """The user named by account id or name (None when unknown)."""
        return None if ref is None else self.users_by_id.get(ref)

    def user_by_key(self, key: str | None) -> User | None:
        """The user whose Jira Data Center user key is ``key`` (the username when the site
        file gives no ``jira_key``)."""
        if key is None:
            return None
        return next((u for u in self.site.users if (u.jira_key or u.name) == key), None)

    def ident(self, user: User) -> str:
        """The id a user is known by on this flavor (accountId on Cloud, name on DC)."""
        return user.account_id if self.cloud else user.name

    def ident_of(self, ref: str | None) -> str | None:
        """The flavor's id for a user reference from the site file."""
        u = self.user(ref)
        return None if u is None else self.ident(u)

    def bot_user(self) -> User:
        """The bot as a user."""
        return self.users_by_id[self.site.bot.account_id]

    def group(self, *, name: str | None = None, group_id: str | None = None) -> Any:
        """The group by name or id (None when unknown)."""
        for g in self.site.groups:
            if (name is not None and g.name == name) or (group_id is not None
                                                          and g.group_id == group_id):
                return g
        return None

    def members(self, group_name: str) -> list[User]:
        """A group's members (all of them, active or not); KeyError for an unknown group."""
        g = self.group(name=group_name)
        if g is None:
            raise KeyError(group_name)
        return [u for m in g.members if (u := self.user(m)) is not None]

    # ------------------------------------------------------------------ fields

    def field_defs(self) -> list[FieldDef]:
        """Custom fields including Jira Software's Flagged field."""
        return self.fields_list

    def field_def(self, field_id: str) -> FieldDef | None:
        """A custom field by id."""
        return self.fields_by_id.get(field_id)

    # ------------------------------------------------------------------ clock and writes

    @property
    def now(self) -> datetime:
        """The site clock."""
        return self.site.now

    def commit_issue(self, new: Issue, *, actor: str | None = None) -> None:
        """Replace an issue by its new version (the write is stamped with the site clock);
        ``actor``: who made the change (named in the webhook events it sends)."""
        old = self.issues_by_key[new.key]
        if self.webhooks.listening():
            self.changes.append((old, new, actor))
        self.site.issues[self.positions[new.key]] = new
        self.issues_by_key[new.key] = new
        self.issues_by_id[new.id] = new
        if self.site.search_lag_s > 0:
            self.originals.setdefault(new.key, old)
            self.versions.setdefault(new.key, []).append((self.now, new))

    def create_issue(self, issue: Issue, *, actor: str | None = None) -> None:
        """Add a new issue (``POST /issue``); under search lag search sees it only later."""
        if self.webhooks.listening():
            self.changes.append((None, issue, actor))
        self.positions[issue.key] = len(self.site.issues)
        self.site.issues.append(issue)
        self.issues_by_key[issue.key] = issue
        self.issues_by_id[issue.id] = issue
        if self.site.search_lag_s > 0:
            self.originals[issue.key] = None
            self.versions[issue.key] = [(self.now, issue)]

    def searchable(self, issue: Issue, *, reconcile: bool) -> Issue | None:
        """The version of ``issue`` search sees now: the one current ``search_lag_s`` ago."""
        history = self.versions.get(issue.key)
        if reconcile or not history:
            return issue
        cutoff = self.now - timedelta(seconds=self.site.search_lag_s)
        chosen = self.originals.get(issue.key, issue)
        for written_at, version in history:
            if written_at <= cutoff:
                chosen = version
        return chosen

    def remember_search(self, issues: list[Issue], *, keep: bool = True) -> SearchResult:
        """Cache an evaluated search so its pages are served without evaluating it again
        (``keep=False``: one page holds it all, nothing to page through)."""
        result = SearchResult(next(self._search_ids), issues)
        if not keep:
            return result
        self.searches[result.id] = result
        while len(self.searches) > SEARCH_CACHE_SIZE:
            self.searches.popitem(last=False)
        return result


def status_category(site: Site, status: str) -> str:
    """The category key of a status (``new``, ``indeterminate`` or ``done``)."""
    return site.workflow.get(status, "new")

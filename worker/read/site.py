"""Reading the site for one cycle: people, deals, then the tickets as a stream.

Issues the bot wrote to recently (per the journal) are named in ``reconcileIssues`` and overlaid
with what we wrote, because search may still return the old property value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from worker.atlassian.transport import (
    AtlassianHTTPError,
)
from worker.model.deals import Deal, DealRead, DealSkip
from worker.model.issue import IssueSnapshot, MalformedIssue, SearchSpec
from worker.model.outcome import RecordedWrite
from worker.model.people import Directory
from worker.policy.completeness import Completeness
from worker.read.deal_facts import DealPageCount, StoredDealFacts
from worker.read.hinted import read_hinted
from worker.read.incremental import (
    KEYS_PER_QUERY,
    IncrementalSettings,
    ReadPlan,
    ReadState,
    deal_prints,
    deals_since,
    decide,
    jql_minute,
    keys_clause,
    people_of,
    restrictions,
)
from worker.read.recheck import read_due
from worker.state.recent import overlay_recent
from worker.state.store import Store

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.policy import Policies

log = structlog.get_logger(__name__)


#: how far back the journal is consulted: far longer than any search lag seen on Cloud
JOURNAL_WINDOW = timedelta(hours=24)


#: Jira's ``reconcileIssues`` takes at most 50 ids
MAX_RECONCILE = 50


class CycleStoppedError(Exception):
    """A stop was requested while the cycle was still reading (nothing written yet)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything one cycle read before planning (issues held in memory: CLI and demo)."""

    now: datetime
    directory: Directory
    deal_read: DealRead
    snapshots: tuple[IssueSnapshot, ...]
    malformed: tuple[MalformedIssue, ...]

    @property
    def deals(self) -> tuple[Deal, ...]:
        """The deals read (what the planner gets is ``deal_read``: it also says why not)."""
        return self.deal_read.deals

    @property
    def deal_skips(self) -> tuple[DealSkip, ...]:
        """Deal pages that could not be used, with the reasons."""
        return self.deal_read.skips


@dataclass(slots=True)
class IssueStream:
    """The search results as a stream: counts what went through, keeps none of it.

    The service plans straight from this, so a cycle's memory does not grow with the
    backlog (the planner keeps only matches).
    """

    now: datetime
    directory: Directory
    deal_read: DealRead
    items: Iterator[IssueSnapshot | MalformedIssue]
    issues: int = 0
    malformed: int = 0
    #: issue key -> why the bot's state must be read before writing to it
    verify: dict[str, str] = field(default_factory=dict)
    #: how this cycle chose what to read (None: a plain full read, outside the service)
    read: ReadPlan | None = None
    #: the keys an incremental read returned (None for a full read)
    keys: frozenset[str] | None = None
    #: reviews each ticket as it is read (who wrote its state: see
    #: :mod:`worker.state.installation`); may mark it for a read before writing (in
    #: ``verify``) or as a skip
    review: Callable[[IssueSnapshot, dict[str, str]], IssueSnapshot] | None = None
    #: the journal's latest write per issue within :data:`JOURNAL_WINDOW`, as read for this
    #: cycle (its writers use the same: a second copy was 5 MB at 5,000 writes a day)
    recent: Mapping[str, RecordedWrite] = field(default_factory=dict)
    #: shown each ticket as it goes through, after ``review`` (keeps what it needs itself)
    watch: Callable[[IssueSnapshot], None] | None = None

    @property
    def deals(self) -> tuple[Deal, ...]:
        """The deals read."""
        return self.deal_read.deals

    @property
    def deal_skips(self) -> tuple[DealSkip, ...]:
        """Deal pages that could not be used, with the reasons."""
        return self.deal_read.skips

    def __iter__(self) -> Iterator[IssueSnapshot | MalformedIssue]:
        for item in self.items:
            if isinstance(item, MalformedIssue):
                self.malformed += 1
            else:
                self.issues += 1
                if not item.state_known:
                    self.verify[item.key] = "the search answer carried no issue properties"
                if self.review is not None:
                    item = self.review(item, self.verify)
                if self.watch is not None:
                    self.watch(item)
            yield item


@dataclass(frozen=True, slots=True)
class IncrementalRead:
    """What a cycle needs to read only what changed (see :mod:`worker.read.incremental`)."""

    state: ReadState
    settings: IncrementalSettings
    #: the policy file, its templates and the search, as one digest
    config: str
    #: a scope that reads the clock: every cycle is a full read
    time_dependent_scope: bool
    pm_groups: tuple[str, ...]
    #: the ticket field that names the customer (deal lookup by account)
    account_field: str | None

    def deals_since(self, now: datetime) -> datetime | None:
        """From when deal page bodies must be read (None: all of them)."""
        return deals_since(self.state, now=now, config=self.config, settings=self.settings)

    def decide(self, *, now: datetime, directory: Directory, deals: Iterable[Deal]) -> ReadPlan:
        """Full or incremental for this cycle, and why."""
        return decide(
            self.state,
            now=now,
            config=self.config,
            settings=self.settings,
            time_dependent_scope=self.time_dependent_scope,
            people=people_of(directory),
            pm_groups=self.pm_groups,
            deals=deal_prints(deals),
        )


def stream_site(
    atlassian: Atlassian,
    spec: SearchSpec,
    *,
    journal: Store | None,
    only: Iterable[str] = (),
    on_issue: Callable[[int], None] | None = None,
    stopping: Callable[[], bool] | None = None,
    policies: Policies | None = None,
    deal_pages: DealPageCount | None = None,
    incremental: IncrementalRead | None = None,
    deal_facts: StoredDealFacts | None = None,
    hint: Sequence[str] | None = None,
) -> IssueStream:
    """Read the directory and deals now; return the issues as a stream read page by page.

    With ``policies``, a ticket whose search answer left comments or changelog entries out
    gets them read in full when a policy's verdict depends on them (see
    :mod:`worker.policy.completeness`).

    Issues the bot wrote to recently (per the journal) are named in ``reconcileIssues`` and
    overlaid with what we wrote, because search may still return the old property value.
    ``only`` restricts the result to those issue keys (``plan --issue``). ``deal_pages``
    remembers how many deal pages the last successful read found (a read finding far fewer
    is a failed read). With
    ``incremental``, only the tickets that can have changed are read when that is safe, and
    with ``deal_facts`` too only the deal page bodies that can have changed. With ``hint``
    (issue keys a webhook named), exactly those tickets are read (:mod:`worker.read.hinted`).
    """
    # the clock no later than the directory's answers: before anything the cycle compares
    now, directory = atlassian.jira.read_with_clock(lambda: atlassian.jira.directory(spec.groups))
    deal_read = DealRead()
    if spec.deals is not None:
        last = deal_pages.last() if deal_pages is not None else None
        known = since = None
        if incremental is not None and deal_facts is not None:
            at = incremental.deals_since(now)
            known = deal_facts.load(spec.deals) if at is not None else None
            if at is not None and known is not None:
                since = jql_minute(at, atlassian.jira.time_zone())  # CQL reads it as JQL does
        got = atlassian.confluence.read_deals(spec.deals, directory=directory, last_pages=last,
                                              known=known, since=since)
        deal_read = got.read
        if deal_pages is not None and deal_read.failed is None:
            deal_pages.remember(deal_read.pages)
        if deal_facts is not None and got.facts is not None:
            deal_facts.save(spec.deals, got.facts)
    recent: Mapping[str, RecordedWrite] = (
        journal.recent_writes(since=now - JOURNAL_WINDOW) if journal is not None else {}
    )
    reconcile = [w.issue_id for w in sorted(recent.values(), key=lambda w: w.at, reverse=True)]
    reconcile = reconcile[:MAX_RECONCILE]
    complete = (
        Completeness(policies, directory, deal_read, now).needed if policies is not None else None
    )
    read: ReadPlan | None = None
    keys: frozenset[str] | None = None
    issues: Iterable[IssueSnapshot | MalformedIssue] | None = None
    if hint is not None:
        read = ReadPlan(full=False, reason=f"webhook: {len(hint)} tickets named",
                        due=tuple(hint))
        issues = read_hinted(atlassian, spec, hint, reconcile=reconcile, now=now,
                             directory=directory, complete=complete)
        keys = frozenset(item.key for item in issues)
        log.info("read.planned", full=False, reason=read.reason, due=len(hint))
    elif incremental is not None:
        read = incremental.decide(now=now, directory=directory, deals=deal_read.deals)
        if not read.full:
            try:
                changed = _read_changed(atlassian, spec, read, reconcile, incremental,
                                        now=now, directory=directory, complete=complete)
            except AtlassianHTTPError as exc:
                if exc.status != 400:
                    raise
                # A deal names a project that does not exist, a key was deleted, a field
                # refuses ``~``: Jira refuses the whole query. Read everything instead.
                read = replace(read, full=True, reason=f"the narrowed search was refused: {exc}")
            else:
                issues, keys = changed, frozenset(item.key for item in changed)
        log.info("read.planned", full=read.full, reason=read.reason, due=len(read.due),
                 since=read.since.isoformat() if read.since else None,
                 deal_projects=len(read.changes.projects), new_pms=len(read.changes.new_pms))
    if issues is None:
        issues = atlassian.jira.search(spec, reconcile_ids=reconcile, complete=complete)
    items = _issues(
        issues,
        recent,
        wanted={k.upper() for k in only},
        on_issue=on_issue,
        stopping=stopping,
    )
    return IssueStream(now, directory, deal_read, items, read=read, keys=keys, recent=recent)


def _read_changed(
    atlassian: Atlassian,
    spec: SearchSpec,
    read: ReadPlan,
    reconcile: list[str],
    incremental: IncrementalRead,
    *,
    now: datetime,
    directory: Directory,
    complete: Callable[[IssueSnapshot], frozenset[str]] | None,
) -> list[IssueSnapshot | MalformedIssue]:
    """The tickets an incremental read names, each once (a few pages: held in memory).

    Due tickets are read by key: bulkfetch on Cloud (:mod:`worker.read.recheck`), a ``key in``
    search on Data Center."""
    tz = atlassian.jira.time_zone()
    cloud = atlassian.jira.flavor == "cloud"
    seen: dict[str, IssueSnapshot | MalformedIssue] = {}

    def search(clause: str) -> Iterable[IssueSnapshot | MalformedIssue]:
        narrowed = replace(spec, jql=f"({spec.jql}) AND {clause}")
        return atlassian.jira.search(narrowed, reconcile_ids=reconcile, complete=complete)

    def by_refs(refs: Sequence[str]) -> Iterator[IssueSnapshot | MalformedIssue]:
        for start in range(0, len(refs), KEYS_PER_QUERY):
            yield from search(keys_clause(refs[start : start + KEYS_PER_QUERY]))

    for clause in restrictions(read, tz=tz, account_field=incremental.account_field,
                               due_keys=not cloud):
        for item in search(clause):
            seen.setdefault(item.key, item)
    if cloud and read.due:
        due = read_due(atlassian.jira, spec, read.due, now=now, groups=directory.groups,
                       search=by_refs, complete=complete)
        for item in due.items:
            seen.setdefault(item.key, item)
    return list(seen.values())


def _issues(
    found: Iterable[IssueSnapshot | MalformedIssue],
    recent: Mapping[str, RecordedWrite],
    *,
    wanted: set[str],
    on_issue: Callable[[int], None] | None,
    stopping: Callable[[], bool] | None,
) -> Iterator[IssueSnapshot | MalformedIssue]:
    seen = 0
    for item in found:
        if wanted and item.key.upper() not in wanted:
            continue
        seen += 1
        if isinstance(item, MalformedIssue):
            log.warning("issue.malformed", issue=item.key, reason=item.reason)
            yield item
        else:
            yield overlay_recent(item, recent)
        if stopping is not None and stopping():
            raise CycleStoppedError(f"stop requested after reading {seen} issues")
        if on_issue is not None:
            on_issue(seen)


def read_site(
    atlassian: Atlassian,
    spec: SearchSpec,
    *,
    journal: Store | None,
    only: Iterable[str] = (),
    on_issue: Callable[[int], None] | None = None,
    stopping: Callable[[], bool] | None = None,
    policies: Policies | None = None,
    deal_pages: DealPageCount | None = None,
) -> Reading:
    """Like :func:`stream_site`, with every issue read into memory (for the CLI and demo)."""
    stream = stream_site(
        atlassian, spec, journal=journal, only=only, on_issue=on_issue, stopping=stopping,
        policies=policies,
        deal_pages=deal_pages,
    )
    snapshots: list[IssueSnapshot] = []
    malformed: list[MalformedIssue] = []
    for item in stream:
        if isinstance(item, MalformedIssue):
            malformed.append(item)
        else:
            snapshots.append(item)
    return Reading(
        stream.now, stream.directory, stream.deal_read, tuple(snapshots), tuple(malformed)
    )


def spec_for_issues(spec: SearchSpec, keys: Iterable[str]) -> SearchSpec:
    """The same read, bounded to named issues whatever the policies' scopes say."""
    quoted = ", ".join(f'"{k}"' for k in keys)
    return replace(spec, jql=f"key in ({quoted})")

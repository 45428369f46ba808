"""One cycle end to end: load config, read, plan, execute, record.

Every log event of a cycle carries its ``run_id`` (bound with structlog's contextvars). Any
error is caught, classified (config, unreachable, auth, store, error), logged, recorded and
returned in the :class:`CycleReport`; a cycle never raises into the scheduler.

Hot reload lives here too: :class:`PolicySource` re-reads the policy file when its content
changed; an invalid file is reported (``config.invalid``) and the last good policies keep
running.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import requests
import structlog
from sqlalchemy.exc import SQLAlchemyError

from worker.deal_cache import StoredDealFacts
from worker.events import EventCounter
from worker.execute import IN_FLIGHT_MARGIN, WriteDispatch, dry_run_matches

# The codes live in worker.exits (light, for the CLI); re-exported here for older importers.
from worker.exits import EXIT_ANOTHER_ACTOR as EXIT_ANOTHER_ACTOR
from worker.exits import EXIT_DIFFERS as EXIT_DIFFERS
from worker.exits import EXIT_FAILED_ACTIONS as EXIT_FAILED_ACTIONS
from worker.exits import EXIT_INVALID as EXIT_INVALID
from worker.exits import EXIT_LEASE_HELD as EXIT_LEASE_HELD
from worker.exits import EXIT_OK as EXIT_OK
from worker.exits import EXIT_UNREACHABLE as EXIT_UNREACHABLE
from worker.incremental import (
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
from worker.installation import Actors
from worker.journal import GuardedJournal, abandoned_outcomes
from worker.lease import Fence, Lease, LeaseHeldError, Renewer
from worker.logs import register_secrets, scrub
from worker.model import (
    BotState,
    Deal,
    DealRead,
    DealSkip,
    Directory,
    IssueSnapshot,
    MalformedIssue,
    Outcome,
    Plan,
    RecordedWrite,
    SearchSpec,
    WriteJournal,
)
from worker.policy import PolicyError, load_policies, plan, promise_words, search_spec
from worker.policy.completeness import Completeness
from worker.policy.config import PM_SET
from worker.policy.load import POLICY_YAML_LIMITS, templates_folder
from worker.policy.plan import writes_wait_for_read
from worker.policy.scope import scope_time_dependent
from worker.settings import Settings, SettingsError
from worker.store import CycleRecord, Store

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.health import Health
    from worker.metrics import Metrics
    from worker.policy import Policies

log = structlog.get_logger(__name__)

ErrorKind = Literal["config", "unreachable", "auth", "store", "error"]
CycleStatus = Literal["ok", "failed", "stopped"]

#: how far back the journal is consulted: far longer than any search lag seen on Cloud
JOURNAL_WINDOW = timedelta(hours=24)
#: Jira's ``reconcileIssues`` takes at most 50 ids
MAX_RECONCILE = 50



# --------------------------------------------------------------------------- hot reload


class PolicySource:
    """The policy file, re-read when its content changes; the last good value survives."""

    def __init__(
        self,
        path: Path,
        *,
        health: Health | None = None,
        loader: Callable[[Path], Policies] = load_policies,
    ) -> None:
        self.path = path
        self._loader = loader
        self._health = health
        # current() runs in the cycle's thread and in the reload thread (file watch, SIGHUP)
        self._lock = threading.RLock()
        #: the templates folder the file on disk names, and the file digest it was read from
        self._templates: tuple[str, Path] | None = None
        self._loaded_sha: str | None = None
        self._bad_sha: str | None = None
        self.policies: Policies | None = None
        self.sha256: str | None = None
        #: problems of the file on disk when it is invalid, else ()
        self.problems: tuple[str, ...] = ()
        self.reloads = 0
        #: the policies a reload replaced, until the cycle logs the impact of the change
        self.replaced: Policies | None = None

    def current(self) -> Policies:
        """The policies to use now; raises :class:`PolicyError` only when none ever loaded.

        The file and its templates are hashed on every call (they are small): an edit that
        keeps the size and lands within the filesystem's timestamp resolution is still seen.
        Thread-safe: the cycle and the reload thread both call it.
        """
        with self._lock:
            return self._current()

    def _current(self) -> Policies:
        try:
            digest = self._digest()
        except OSError as exc:
            problem = f"{self.path}: cannot read the policy file: {exc.strerror or exc}"
            return self._invalid(None, (problem,), exc)
        if digest == self._loaded_sha and self.policies is not None:
            self._mark_valid()
            return self.policies
        if digest == self._bad_sha and self.policies is not None:
            return self.policies  # still the invalid file we reported; keep the last good
        try:
            loaded = self._loader(self.path)
        except PolicyError as exc:
            return self._invalid(digest, tuple(str(p) for p in exc.problems), exc)
        except Exception as exc:  # a loader bug must not stop enforcement: keep the last good
            problem = f"{self.path}: cannot load: {_one_line(exc)}"
            return self._invalid(digest, (problem,), exc)
        first = self.policies is None
        if not first and self.replaced is None:
            # several reloads before a cycle reports one: the impact since what last ran
            self.replaced = self.policies
        self.policies, self.sha256, self._loaded_sha = loaded, digest, digest
        self._mark_valid()
        if first:
            log.info("config.loaded", path=str(self.path), sha256=digest[:12],
                     policies=[p.id for p in loaded.policies])
        else:
            self.reloads += 1
            log.info("config.reloaded", path=str(self.path), sha256=digest[:12],
                     policies=[p.id for p in loaded.policies])
        return loaded

    def loaded(self) -> tuple[Policies, str | None]:
        """:meth:`current` and the digest of the file it came from, read together."""
        with self._lock:
            return self._current(), self.sha256

    def take_replaced(self, *, by: Policies | None = None) -> Policies | None:
        """The policies the last reload replaced (once; None when nothing was replaced).

        With ``by``: only when ``by`` is what replaced them. A reload on another thread after
        a cycle took ``by`` leaves its change for the next cycle to report.
        """
        with self._lock:
            if by is not None and by is not self.policies:
                return None
            replaced, self.replaced = self.replaced, None
            return replaced

    def templates_dir(self) -> Path:
        """The comment templates' folder the policy file names (``templates:``, relative to
        the file; ``templates`` when it names none)."""
        with self._lock:
            return self._templates[1] if self._templates else self.path.parent / "templates"

    def watched(self) -> tuple[Path, ...]:
        """The folders whose changes can change the config, each to watch on its own (not
        recursively: the policy file's folder may hold anything): the policy file's folder
        (editors and Kubernetes replace a file by renaming into it) and the templates folder
        with its subfolders."""
        templates = self.templates_dir()
        found = {self.path.parent}
        if templates.is_dir():
            found.add(templates)
            found.update(p for p in templates.rglob("*") if p.is_dir())
        return tuple(sorted(found))

    def _digest(self) -> str:
        """SHA-256 over the policy file and the comment templates folder it names, so an
        edit to either is picked up."""
        sha = hashlib.sha256()
        if self.path.stat().st_size <= POLICY_YAML_LIMITS.max_bytes:
            data = self.path.read_bytes()
            sha.update(data)
            templates = self._templates_folder(data)
        else:  # streamed: the loader refuses it unread, and so does the folder lookup
            _hash_file(sha, self.path)
            templates = self.templates_dir()
        if templates.is_dir():
            # recursive: a template may include one from a subfolder
            for item in sorted(templates.rglob("*")):
                if item.is_file():
                    sha.update(item.relative_to(templates).as_posix().encode() + b"\0")
                    _hash_file(sha, item)
        return sha.hexdigest()

    def _templates_folder(self, data: bytes) -> Path:
        """The folder the policy file's text names (parsed once per content; a file that
        does not parse keeps the folder known before)."""
        key = hashlib.sha256(data).hexdigest()
        if self._templates is not None and self._templates[0] == key:
            return self._templates[1]
        folder = templates_folder(data.decode("utf-8", errors="replace"), self.path.parent)
        self._templates = (key, folder or self.templates_dir())
        return self._templates[1]

    def _mark_valid(self) -> None:
        self.problems = ()
        self._bad_sha = None
        if self._health is not None:
            self._health.config_valid(self.sha256)

    def _invalid(self, digest: str | None, problems: tuple[str, ...], exc: Exception) -> Policies:
        if digest is None or digest != self._bad_sha:
            log.error(
                "config.invalid",
                path=str(self.path),
                problems=list(problems),
                keeping="last good config" if self.policies is not None else None,
            )
        self._bad_sha = digest
        self.problems = problems
        if self._health is not None:
            self._health.config_invalid(problems)
        if self.policies is None:
            if isinstance(exc, PolicyError):
                raise exc
            raise ConfigUnavailableError(problems[0]) from exc
        return self.policies


def _hash_file(sha: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            sha.update(block)


class ConfigUnavailableError(Exception):
    """No policy file has ever loaded (missing or unreadable)."""


class CycleStoppedError(Exception):
    """A stop was requested while the cycle was still reading (nothing written yet)."""


# --------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did, in numbers (logged, recorded, exported as metrics)."""

    run_id: str
    started_at: datetime
    duration_s: float
    dry_run: bool
    status: CycleStatus
    site_now: datetime | None = None
    error: str | None = None
    error_kind: ErrorKind | None = None
    issues_read: int = 0
    malformed: int = 0
    deals: int = 0
    deal_skips: int = 0
    #: policy id -> verdict -> number of decisions
    counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    #: outcome status -> number of issues
    outcomes: Mapping[str, int] = field(default_factory=dict)
    actions_applied: int = 0
    actions_failed: int = 0
    requests: int = 0
    retries: int = 0
    config_sha256: str | None = None
    #: False: an incremental read (only what can have changed); True: everything was read
    read_full: bool | None = None
    read_reason: str | None = None
    #: the tickets an incremental read looked at: what the search answered and the keys it
    #: looked up (None for a full read)
    read_keys: frozenset[str] | None = field(default=None, repr=False, compare=False)
    #: problems of the policy file on disk when it is invalid (the last good one ran)
    config_problems: tuple[str, ...] = ()
    plan: Plan | None = field(default=None, repr=False, compare=False)
    results: tuple[Outcome, ...] = field(default=(), repr=False, compare=False)
    #: what dry-run policies would have done, one "dry-run" outcome per match (logged; their
    #: decisions are recorded like any other, which is what ``history`` shows)
    matches: tuple[Outcome, ...] = field(default=(), repr=False, compare=False)
    #: the leader lease was lost mid-cycle: the writes not done are "stopped"
    lease_lost: bool = False
    #: another installation writes to the site (the ``another_actor`` line): nothing written
    another_actor: str | None = None

    @property
    def exit_code(self) -> int:
        """0 ok; 1 invalid config; 2 cannot reach or authenticate; 3 failed actions;
        5 the leader lease was lost mid-cycle; 6 another installation writes to the site."""
        if self.another_actor is not None:
            return EXIT_ANOTHER_ACTOR
        if self.lease_lost:
            return EXIT_LEASE_HELD
        if self.error_kind in ("unreachable", "auth"):
            return EXIT_UNREACHABLE
        if self.error_kind is not None:
            return EXIT_INVALID
        if self.actions_failed:
            return EXIT_FAILED_ACTIONS
        return EXIT_OK

    def summary(self) -> dict[str, object]:
        """The report as flat JSON-friendly values (for logs and ``run --once``)."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "site_now": self.site_now.isoformat() if self.site_now else None,
            "read": None if self.read_full is None else ("full" if self.read_full
                                                          else "incremental"),
            "read_reason": self.read_reason,
            "issues_read": self.issues_read,
            "malformed": self.malformed,
            "deals": self.deals,
            "deal_skips": self.deal_skips,
            "decisions": {p: dict(v) for p, v in self.counts.items()},
            "outcomes": dict(self.outcomes),
            "dry_run_matches": len(self.matches),
            "actions_applied": self.actions_applied,
            "actions_failed": self.actions_failed,
            "requests": self.requests,
            "retries": self.retries,
            "duration_s": round(self.duration_s, 3),
            "error": None if self.error is None else scrub(self.error),
            "error_kind": self.error_kind,
            "lease_lost": self.lease_lost,
            "another_actor": None if self.another_actor is None else scrub(self.another_actor),
        }


# --------------------------------------------------------------------------- reading


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
    #: told each ticket's key and state as it is read (which installation wrote it last)
    observe: Callable[[str, BotState], object] | None = None

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
                if self.observe is not None:
                    self.observe(item.key, item.state)
            yield item


@dataclass(frozen=True, slots=True)
class IncrementalRead:
    """What a cycle needs to read only what changed (see :mod:`worker.incremental`)."""

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
    with ``deal_facts`` too only the deal page bodies that can have changed.
    """
    now = atlassian.jira.server_now()
    directory = atlassian.jira.directory(spec.groups)
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
    if incremental is not None:
        from worker.atlassian.transport import AtlassianHTTPError

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
    return IssueStream(now, directory, deal_read, items, read=read, keys=keys)


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

    Due tickets are read by key: bulkfetch on Cloud (:mod:`worker.recheck`), a ``key in``
    search on Data Center."""
    from worker.recheck import read_due

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
    from worker.execute import overlay_recent

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


def report_deal_problems(read: DealRead, policies: Policies, metrics: Metrics | None) -> None:
    """Log each deal page the bot cannot trust this cycle once (``deal.unreadable``,
    ``deal.conflicting``, ``deal.read_failed``) and count them in the metrics."""
    from worker.policy.deal_index import DealIndex

    problems = DealIndex(read, policies.deals.signed_values).problems()
    for p in problems:
        log.warning(f"deal.{p.kind}", page_id=p.page_id, title=p.title, url=p.url,
                    reason=p.reason)
    if metrics is not None:
        for p in problems:
            metrics.deal_problems.labels(kind=p.kind).inc()
        if read.failed is not None:
            metrics.deal_problems.labels(kind="read_failed").inc()


# --------------------------------------------------------------------------- the cycle


class CycleRunner:
    """Holds what outlives one cycle: the connection, the store, the policy file, metrics."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        source: PolicySource | None = None,
        health: Health | None = None,
        metrics: Metrics | None = None,
        on_issue: Callable[[int], None] | None = None,
        lease: Lease | None = None,
    ) -> None:
        self.settings = settings
        #: the leader lease an enforcing cycle must hold (None: this runner acts alone)
        self.lease = lease
        #: someone else keeps the lease renewed (the service's keeper); else each cycle does
        self.lease_kept = False
        # Whoever builds a runner (CLI, service, demo, tests), its credentials are masked in
        # every output from here on, including their HTTP Basic form.
        register_secrets(settings.secrets(), usernames=settings.usernames())
        self.store = store
        self.health = health
        self.metrics = metrics
        self.source = source or PolicySource(settings.config_path, health=health)
        self.on_issue = on_issue
        #: the policy source's reload count the last plan was made with
        self.reloads_seen = 0
        #: turns plans into metric events (a ticket's step counted once)
        self.events = EventCounter()
        #: deal pages the last successful read found (a much smaller read is a failed one)
        self.deal_pages: DealPageCount = StoredDealPageCount(store)
        #: what the last good deal read found on each page (incremental deal reads)
        self.deal_facts = StoredDealFacts(store)
        self._atlassian: Atlassian | None = None
        self._lock = threading.Lock()
        #: the cycle in hand while it writes: its run id, start and journal
        self.in_hand: tuple[str, datetime, GuardedJournal] | None = None

    def abandon(self) -> None:
        """The service gives up on the cycle in hand (stuck in a network call at shutdown):
        record what its journal says it did, a write without an answer as "unknown"."""
        in_hand = self.in_hand
        if in_hand is None:
            return
        run_id, started, journal = in_hand
        # The "applied" rows still batched in memory: written now, or their issues stay
        # "unknown" and are read before the next write (the journal's own recovery).
        journal.flush(retry=False)
        outcomes = abandoned_outcomes(journal)
        unknown = sum(1 for o in outcomes if o.status == "unknown")
        log.warning("cycle.abandoned", writes_unknown=unknown,
                    writes_applied=len(outcomes) - unknown)
        try:
            at = max((w.at for w in journal.written.values()), default=started)
            self.store.record_outcomes(run_id, at, outcomes)
            self.store.finish_cycle(CycleRecord(
                run_id=run_id, started_at=started, finished_at=datetime.now(UTC),
                site_now=at, dry_run=False, status="stopped",
                error=f"abandoned at shutdown with {unknown} write(s) in flight (unknown)",
                actions_applied=len(outcomes) - unknown,
                read_full=False, read_keys=frozenset(),  # its decisions were not recorded
            ))
        except Exception as exc:  # exiting anyway: the journal keeps the "unknown" rows
            log.error("store.failed", error=_one_line(exc))

    def atlassian(self) -> Atlassian:
        """The connection, made once per process (and again after a failed attempt)."""
        from worker.atlassian.clients import connect

        if self._atlassian is None:
            self._atlassian = connect(self.settings.connection())
            log.info("atlassian.connected", flavor=self._atlassian.flavor,
                     bot=self._atlassian.bot.display_name)
        return self._atlassian

    def incremental(self, policies: Policies, spec: SearchSpec, policy_sha: str | None
                    ) -> IncrementalRead:
        """What this cycle needs to read only what changed (state from the store);
        ``policy_sha``: the digest of the file ``policies`` came from."""
        return IncrementalRead(
            state=ReadState.load(self.store),
            settings=IncrementalSettings(
                margin=timedelta(seconds=self.settings.read_margin_s),
                full_sweep=timedelta(seconds=self.settings.full_sweep_s),
                journal_window=JOURNAL_WINDOW,
                enabled=self.settings.incremental,
            ),
            config=config_digest(policy_sha, spec),
            time_dependent_scope=any(
                p.mode != "off" and p.scope is not None and scope_time_dependent(p.scope)
                for p in policies.policies
            ),
            pm_groups=tuple(policies.people[PM_SET].groups),
            account_field=policies.deals.account_field,
        )

    def run(self, *, dry_run: bool = False, stopping: threading.Event | None = None) -> CycleReport:
        """One cycle; never raises (see the module docstring), except
        :class:`~worker.lease.LeaseHeldError` when an enforcing cycle cannot take the lease
        (nothing was read or written)."""
        with self._lock:  # the scheduler never overlaps cycles; this guards manual calls too
            lease = None if dry_run else self.lease
            if lease is None:
                return run_cycle(self, dry_run=dry_run, stopping=stopping or threading.Event())
            if not lease.held and not lease.acquire():
                raise LeaseHeldError(lease.last_seen)
            fence = Fence(lease)
            if self.lease_kept:
                return run_cycle(self, dry_run=dry_run, stopping=stopping or threading.Event(),
                                 fence=fence)
            with Renewer(lease):
                return run_cycle(self, dry_run=dry_run, stopping=stopping or threading.Event(),
                                 fence=fence)


def _new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Which health reason and exit code an exception means, with a one-line message."""
    from worker.atlassian.transport import (
        SITE_HINT_NOT_FOUND,
        AtlassianHTTPError,
        OutcomeUnknownError,
        TransportFailedError,
        UnexpectedBodyError,
    )

    message = _one_line(exc)  # scrubbed: it reaches the summary, /healthz, the store, the log
    if isinstance(exc, PolicyError | ConfigUnavailableError | SettingsError):
        return "config", message
    if isinstance(exc, AtlassianHTTPError):
        if exc.status in (401, 403):
            return "auth", message
        if exc.status >= 500 or exc.status == 429:
            return "unreachable", message
        if exc.status == 404 and exc.path.endswith("serverInfo"):
            # Every Jira answers serverInfo: a 404 means JIRA_URL points somewhere else.
            return "unreachable", f"{message} ({SITE_HINT_NOT_FOUND})"
        return "error", message
    if isinstance(exc, UnexpectedBodyError):  # HTML or a foreign JSON: not the site we expect
        return "unreachable", message
    if isinstance(exc, TransportFailedError | OutcomeUnknownError | requests.ConnectionError
                  | requests.Timeout | ConnectionError | TimeoutError):
        return "unreachable", message
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        if exc.response.status_code in (401, 403):
            return "auth", message
        if exc.response.status_code >= 500:
            return "unreachable", message
    if isinstance(exc, SQLAlchemyError):
        return "store", message
    return "error", message


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return scrub(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)


def run_cycle(
    runner: CycleRunner, *, dry_run: bool, stopping: threading.Event, fence: Fence | None = None
) -> CycleReport:
    """Run one cycle with ``runner``'s connection and store; returns its report.

    With a ``fence`` (the leader lease, held at the start), every write checks it first; a
    lease lost mid-cycle stops the writes and the report says so (``lease_lost``).
    """
    started = datetime.now(UTC)
    started_mono = time.monotonic()
    run_id = _new_run_id(started)
    with structlog.contextvars.bound_contextvars(run_id=run_id):
        log.info("cycle.started", dry_run=dry_run)
        record = CycleRecord(run_id=run_id, started_at=started, dry_run=dry_run, status="running")
        try:
            runner.store.start_cycle(record)
        except Exception as exc:  # the audit trail is down: still report, never raise
            log.error("store.failed", error=_one_line(exc))
        base_requests = base_retries = 0
        progress: dict[str, object] = {}
        try:
            # the policies and their file's digest as one read: the reload thread may load
            # a newer file meanwhile, which this cycle must neither use nor claim to have used
            policies, policy_sha = runner.source.loaded()
            if runner._atlassian is not None:  # a new connection's counters start at zero
                base_requests = runner._atlassian.requests_made
                base_retries = runner._atlassian.retries
            atlassian = runner.atlassian()
            replaced = runner.source.take_replaced(by=policies)
            if replaced is not None:
                from worker.impact import log_reload_impact

                # the same summary as `plan --against`, for the file that takes effect now
                log_reload_impact(atlassian, replaced, policies, journal=runner.store)
            spec = search_spec(policies)
            incremental = runner.incremental(policies, spec, policy_sha)
            reading = stream_site(atlassian, spec, journal=runner.store,
                                  on_issue=runner.on_issue, stopping=stopping.is_set,
                                  policies=policies, deal_pages=runner.deal_pages,
                                  incremental=incremental, deal_facts=runner.deal_facts)
            progress["reading"] = reading
            actors = None if dry_run else Actors.load(
                runner.store, trusted=runner.settings.trusted_installations,
                window=JOURNAL_WINDOW)
            if actors is not None:
                reading.observe = actors.observe
            report_deal_problems(reading.deal_read, policies, runner.metrics)
            partial = reading.read is not None and not reading.read.full
            journal = GuardedJournal(runner.store)
            dispatch: WriteDispatch | None = None
            if not dry_run:
                runner.in_hand = (run_id, started, journal)
                dispatch = _while_reading(runner, run_id, atlassian, journal, reading,
                                          policies, stopping, fence, actors)
                progress["dispatch"] = dispatch
            the_plan = plan(
                reading,
                reading.directory,
                reading.deal_read,
                policies,
                reading.now,
                keep_no_match=False,
                # An incremental read sees part of each scope: the breaker's percentage
                # is taken against the scope as the last full read counted it.
                scope_sizes=incremental.state.scope_sizes if partial else None,
                on_write=None if dispatch is None else dispatch.submit,
            )
            log.info(
                "cycle.read",
                issues=reading.issues,
                malformed=reading.malformed,
                deals=len(reading.deals),
                deal_skips=len(reading.deal_skips),
                people=len(reading.directory.people),
            )
            progress["plan"] = the_plan
            log.info(
                "cycle.planned",
                decisions=len(the_plan.decisions),
                verdicts=dict(Counter(d.verdict for d in the_plan.decisions)),
                writes=len(the_plan.writes),
                breakers=dict(the_plan.breakers),
                deferred=dict(the_plan.deferred),
                promises=dict(the_plan.promises),
            )
            if actors is not None and actors.active(reading.now):
                # seen now or kept from an earlier cycle: no write starts
                log.error("another_actor", detail=actors.reason, writes=len(the_plan.writes))
            if runner.source.reloads != runner.reloads_seen:
                # The first plan with a reloaded file says which promises outlive the edit.
                runner.reloads_seen = runner.source.reloads
                log.info("config.promises", **dict(the_plan.promises),
                         messages=promise_words(the_plan.promises))
            results = _execute(the_plan, atlassian, journal, dry_run=dry_run,
                               stopping=stopping, property_key=policies.property_key,
                               verify=reading.verify,
                               verify_all=_without_history(runner.store, run_id),
                               timeout_s=runner.settings.timeout_s,
                               concurrency=runner.settings.writes_in_flight, fence=fence,
                               actors=actors, started=dispatch)
            progress.pop("dispatch", None)
            runner.in_hand = None
            progress["results"] = tuple(results)
            report = _report(
                run_id, started, started_mono, dry_run, runner, atlassian,
                base_requests, base_retries, reading, the_plan, tuple(results), stopping,
            )
            report = replace(report, matches=dry_run_matches(the_plan))
            if fence is not None and fence.lost.is_set():
                not_done = sum(1 for o in results if o.status == "stopped")
                log.error("cycle.lease_lost", writes_not_done=not_done,
                          detail=fence.describe())
                report = replace(report, status="stopped", lease_lost=True,
                                 error=f"{fence.describe()}: {not_done} write(s) not done")
            if actors is not None:
                report = _with_actors(runner, actors, report, reading.now)
            journal.flush()
            if journal.failure is not None:
                # What Jira received is in the report and recorded below; the store stumbled.
                log.error("cycle.store_failed", error=journal.failure)
                report = replace(report, status="failed", error=journal.failure,
                                 error_kind="store")
            if report.status == "ok":
                _advance(runner, incremental, reading, the_plan, report.results)
        except CycleStoppedError as exc:
            _written_while_reading(runner, progress)
            log.info("cycle.stopped", detail=str(exc))
            report = replace(
                _failed_report(run_id, started, started_mono, dry_run, runner, "error", str(exc),
                               base_requests, base_retries, progress),
                status="stopped", error=None, error_kind=None,
            )
        except Exception as exc:
            _written_while_reading(runner, progress)
            kind, message = classify(exc)
            log.error("cycle.failed", error=message, error_kind=kind,
                      exc_info=kind == "error")
            report = _failed_report(
                run_id, started, started_mono, dry_run, runner, kind, message,
                base_requests, base_retries, progress,
            )
        _record(runner, report)
        _observe(runner, report)
        _publish_report(runner, report)
        log.info("cycle.finished", **report.summary())
        return report


def _while_reading(
    runner: CycleRunner,
    run_id: str,
    atlassian: Atlassian,
    journal: GuardedJournal,
    reading: IssueStream,
    policies: Policies,
    stopping: threading.Event,
    fence: Fence | None,
    actors: Actors | None,
) -> WriteDispatch | None:
    """The writers that start on each ticket as soon as it is planned, while later pages are
    still read; None when a limit that counts the whole cycle (the budget, a breaker) makes
    every write wait for the plan (``writes_wait_for_read``), or on Data Center."""
    why = writes_wait_for_read(policies)
    if why is None and atlassian.flavor != "cloud":
        # Data Center pages by offset (startAt): an edit that takes a ticket out of the
        # scope (a reassignment to Sales) would shift the later pages, and a ticket would
        # be skipped. Cloud's nextPageToken carries on from where the last page ended.
        why = "Data Center pages by offset: an edit during the read would shift later pages"
    log.info("execute.while_reading", enabled=why is None, why_not=why)
    if why is not None:
        return None
    return WriteDispatch(
        atlassian, journal, now=reading.now, stopping=stopping.is_set,
        property_key=policies.property_key, verify=reading.verify,
        verify_all=_without_history(runner.store, run_id),
        in_flight=timedelta(seconds=runner.settings.timeout_s) + IN_FLIGHT_MARGIN,
        concurrency=runner.settings.writes_in_flight, fence=fence, actors=actors,
    )  # fmt: skip


def _written_while_reading(runner: CycleRunner, progress: dict[str, object]) -> None:
    """The cycle ends before its plan: writes started while reading finish (no new one
    starts), and their outcomes and journal rows are kept for the record."""
    dispatch = progress.pop("dispatch", None)
    if isinstance(dispatch, WriteDispatch):
        progress["results"] = tuple(dispatch.abort())
    in_hand = runner.in_hand
    runner.in_hand = None
    if in_hand is not None:
        in_hand[2].flush()


def _without_history(store: Store, run_id: str) -> str | None:
    """Why every write must read the issue's state first, when the store holds no enforcing
    cycle before this one that completed (new, or lost): its journal cannot tell what a
    lagging search hides. A cycle that was stopped (another actor, a lost lease, a stop
    request) may have written nothing and does not count. A store that cannot answer counts
    as one without history."""
    try:
        earlier = [c for c in store.cycles(limit=20)
                   if c.run_id != run_id and not c.dry_run and c.status == "ok"]
    except Exception as exc:  # the store stumbling must not make us guess: read first
        log.warning("store.failed", error=_one_line(exc))
        earlier = []
    if earlier:
        return None
    return "the store holds no earlier cycle (new or lost) and search may lag behind writes"


def _execute(
    the_plan: Plan,
    atlassian: Atlassian,
    store: WriteJournal,
    *,
    dry_run: bool,
    stopping: threading.Event,
    property_key: str,
    verify: Mapping[str, str],
    verify_all: str | None,
    timeout_s: int,
    concurrency: int = 1,
    fence: Fence | None = None,
    actors: Actors | None = None,
    started: WriteDispatch | None = None,
) -> list[Outcome]:
    from worker.execute import execute

    return execute(
        the_plan, atlassian, store, dry_run=dry_run, stopping=stopping.is_set,
        property_key=property_key, verify=verify, verify_all=verify_all,
        in_flight=timedelta(seconds=timeout_s) + IN_FLIGHT_MARGIN,
        concurrency=concurrency, fence=fence, actors=actors, started=started,
    )


def _with_actors(runner: CycleRunner, actors: Actors, report: CycleReport,
                 now: datetime) -> CycleReport:
    """Keep what was seen of other installations; a cycle another one stopped says so (its
    writes are "stopped"; status "stopped", so the read state does not move on)."""
    try:
        actors.save(runner.store, now)
    except Exception as exc:  # seen again next cycle: the tickets still say who wrote them
        log.error("store.failed", error=_one_line(exc))
    if not actors.active(now):
        return report
    stopped = sum(1 for o in report.results if o.status == "stopped")
    log.error("cycle.another_actor", detail=actors.reason, writes_not_done=stopped)
    return replace(report, status="stopped", another_actor=actors.reason)


def config_digest(policy_sha: str | None, spec: SearchSpec) -> str:
    """The policy file (with its templates) and the search it asks for, as one digest: when
    it changes, the next cycle reads everything."""
    return hashlib.sha256(f"{policy_sha}\0{spec!r}".encode()).hexdigest()


#: outcomes after which the ticket changed on the site (its `updated` moved: read next cycle)
_LANDED = frozenset({"applied", "fallback"})


def _advance(
    runner: CycleRunner,
    incremental: IncrementalRead,
    reading: IssueStream,
    the_plan: Plan,
    results: Iterable[Outcome],
) -> None:
    """After a successful cycle: move the watermark and keep what the next one compares.

    A planned write that did not land (dry run, failed, held back, stopped) is read again
    next cycle by key: nothing on the ticket changed to bring it back otherwise.
    """
    read = reading.read
    old = incremental.state
    full = read is None or read.full
    if full:
        rechecks = dict(the_plan.rechecks)
    else:
        assert read is not None
        # What was read (or due and not found any more) is decided afresh by this plan.
        fresh = (reading.keys or frozenset()) | frozenset(read.due)
        rechecks = {k: t for k, t in old.rechecks.items() if k not in fresh}
        rechecks.update(the_plan.rechecks)
    for outcome in results:
        if outcome.status not in _LANDED:
            rechecks[outcome.issue] = reading.now
    state = ReadState(
        watermark=reading.now,
        last_full_sweep=reading.now if full else old.last_full_sweep,
        config=incremental.config,
        people=people_of(reading.directory),
        # A deal read that failed is not a new baseline: the next cycle compares with the last
        # good one (and reads the customers whose pages really changed).
        deals=deal_prints(reading.deals) if reading.deal_read.failed is None else old.deals,
        rechecks=rechecks,
        scope_sizes=dict(the_plan.scope_sizes) if full else old.scope_sizes,
    )
    try:
        state.save(runner.store)
    except Exception as exc:  # the next cycle then reads more, never less
        log.error("store.failed", error=_one_line(exc))


def _counts(the_plan: Plan | None) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    if the_plan is not None:
        for d in the_plan.decisions:
            counts.setdefault(d.policy, Counter())[d.verdict] += 1
    return {p: dict(c) for p, c in sorted(counts.items())}


def _report(
    run_id: str,
    started: datetime,
    started_mono: float,
    dry_run: bool,
    runner: CycleRunner,
    atlassian: Atlassian,
    base_requests: int,
    base_retries: int,
    reading: IssueStream,
    the_plan: Plan,
    results: tuple[Outcome, ...],
    stopping: threading.Event,
) -> CycleReport:
    statuses = Counter(o.status for o in results)
    applied, failed = _action_counts(results)
    stopped = stopping.is_set() or statuses.get("stopped", 0) > 0
    return CycleReport(
        run_id=run_id,
        started_at=started,
        duration_s=time.monotonic() - started_mono,
        dry_run=dry_run,
        status="stopped" if stopped else "ok",
        site_now=reading.now,
        read_full=None if reading.read is None else reading.read.full,
        read_reason=None if reading.read is None else reading.read.reason,
        read_keys=_read_keys(reading),
        issues_read=reading.issues,
        malformed=reading.malformed,
        deals=len(reading.deals),
        deal_skips=len(reading.deal_skips),
        counts=_counts(the_plan),
        outcomes=dict(sorted(statuses.items())),
        actions_applied=applied,
        actions_failed=failed,
        requests=atlassian.requests_made - base_requests,
        retries=atlassian.retries - base_retries,
        config_sha256=runner.source.sha256,
        config_problems=runner.source.problems,
        plan=the_plan,
        results=results,
    )


def _read_keys(reading: IssueStream) -> frozenset[str] | None:
    """What an incremental read looked at: the keys it returned, and the keys due for a
    recheck (looked up by key inside the scope: one not returned has left it)."""
    read = reading.read
    if read is None or read.full:
        return None
    return (reading.keys or frozenset()) | frozenset(read.due)


def _failed_report(
    run_id: str,
    started: datetime,
    started_mono: float,
    dry_run: bool,
    runner: CycleRunner,
    kind: ErrorKind,
    message: str,
    base_requests: int,
    base_retries: int,
    progress: Mapping[str, object],
) -> CycleReport:
    reading = progress.get("reading")
    the_plan = progress.get("plan")
    results = progress.get("results")
    # Writes started while reading, before the cycle failed or stopped, are on the record.
    done = (tuple(o for o in results if isinstance(o, Outcome))
            if isinstance(results, tuple) else ())
    outcomes: dict[str, int] = dict(Counter(o.status for o in done))
    applied, failed = _action_counts(done)
    atlassian = runner._atlassian
    requests_made = retries = 0
    if atlassian is not None:
        requests_made = atlassian.requests_made - base_requests
        retries = atlassian.retries - base_retries
    plan_value = the_plan if isinstance(the_plan, Plan) else None
    return CycleReport(
        run_id=run_id,
        started_at=started,
        duration_s=time.monotonic() - started_mono,
        dry_run=dry_run,
        status="failed",
        site_now=reading.now if isinstance(reading, IssueStream) else None,
        read_full=reading.read.full if isinstance(reading, IssueStream) and reading.read
        else None,
        read_keys=_read_keys(reading) if isinstance(reading, IssueStream) else None,
        error=message,
        error_kind=kind,
        issues_read=reading.issues if isinstance(reading, IssueStream) else 0,
        counts=_counts(plan_value),
        outcomes=outcomes,
        actions_applied=applied,
        actions_failed=failed,
        requests=requests_made,
        retries=retries,
        config_sha256=runner.source.sha256,
        config_problems=runner.source.problems,
        plan=plan_value,
        results=done,
    )


def _action_counts(results: Iterable[Outcome]) -> tuple[int, int]:
    """Actions applied, and actions failed (a failed issue counts at least one)."""
    applied = failed = 0
    for o in results:
        if o.status in ("applied", "fallback"):
            applied += len(o.actions)
        elif o.status == "failed":
            failed += max(len(o.actions), 1)
    return applied, failed


#: how long the end-of-cycle recording retries a store that stumbles
RECORD_RETRY_S = 30.0
RECORD_PAUSE_S = 0.5


def _retrying(step: Callable[[], object], *, deadline: float) -> None:
    """Run one store step, again after a pause while it fails and time is left."""
    while True:
        try:
            step()
            return
        except Exception as exc:
            if time.monotonic() + RECORD_PAUSE_S > deadline:
                raise
            log.warning("store.retry", error=_one_line(exc))
            time.sleep(RECORD_PAUSE_S)


def _record(runner: CycleRunner, report: CycleReport) -> None:
    """Write the cycle, its decisions and outcomes to the store, then apply retention.

    Each step is retried for a while on its own (a step done is not done twice): the audit
    trail must say what Jira received even when the store is busy for a few seconds.
    """
    deadline = time.monotonic() + RECORD_RETRY_S
    try:
        at = report.site_now or report.started_at
        the_plan = report.plan
        full_read = the_plan is not None and report.read_full is not False
        if the_plan is not None:
            _retrying(lambda: runner.store.record_decisions(
                report.run_id, at, the_plan.decisions, recheck_at=the_plan.rechecks
            ), deadline=deadline)
        _retrying(lambda: runner.store.record_outcomes(report.run_id, at, report.results),
                  deadline=deadline)
        _retrying(lambda: runner.store.finish_cycle(
            CycleRecord(
                run_id=report.run_id,
                started_at=report.started_at,
                finished_at=datetime.now(UTC),
                site_now=report.site_now,
                dry_run=report.dry_run,
                status=report.status,
                error=report.error,
                issues_read=report.issues_read,
                actions_applied=report.actions_applied,
                actions_failed=report.actions_failed,
                requests=report.requests,
                retries=report.retries,
                duration_s=report.duration_s,
                counts=report.counts,
                config_sha256=report.config_sha256,
                # A cycle that recorded no plan (stopped while reading) read nothing usable.
                read_full=full_read,
                read_keys=None if full_read else frozenset(
                    () if the_plan is None else report.read_keys or ()),
            )
        ), deadline=deadline)
        cutoff = report.started_at - timedelta(days=runner.settings.retention_days)
        purged = runner.store.purge(before=cutoff)
        if purged:
            log.info("store.purged", rows=purged, before=cutoff.isoformat())
    except Exception as exc:
        log.error("store.failed", error=_one_line(exc))


def _publish_report(runner: CycleRunner, report: CycleReport) -> None:
    """Update the leadership report page when the ``report:`` schedule says so.

    After the cycle's own work, and only for a cycle that wrote for real: a dry run writes
    nothing anywhere. A failure is logged by the publisher and retried next cycle; it never
    changes this cycle's outcome.
    """
    policies = runner.source.policies
    atlassian = runner._atlassian
    if (policies is None or policies.report is None or atlassian is None or report.dry_run
            or report.error_kind is not None):
        return
    # matplotlib loads only in services that publish a report.
    from worker.report.publish import publish_if_due

    publish_if_due(runner.store, atlassian.confluence.transport, policies.report,
                   tz=policies.tz, now=report.site_now or report.started_at)


def _observe(runner: CycleRunner, report: CycleReport) -> None:
    # whether another installation writes is known once an enforcing cycle has planned
    checked = report.plan is not None and not report.dry_run
    if runner.health is not None:
        if report.error_kind is None:
            runner.health.cycle_succeeded()
        else:
            runner.health.cycle_failed(kind=report.error_kind, message=report.error or "")
        if checked:
            runner.health.another_actor(report.another_actor)
    if runner.metrics is None:
        return
    runner.metrics.config_valid.set(0 if runner.source.problems else 1)
    if checked:
        runner.metrics.another_actor.set(0 if report.another_actor is None else 1)
    loaded = runner.source.policies
    events = runner.events.count(
        report.plan,
        report.results,
        policies=[p.id for p in loaded.policies if p.mode != "off"] if loaded else (),
        read=(report.read_keys or frozenset()) if report.read_full is False else None,
    )
    runner.metrics.observe_cycle(
        status=report.status,
        duration_s=report.duration_s,
        issues_read=report.issues_read,
        requests=report.requests,
        retries=report.retries,
        decisions=events.decisions,
        actions=events.actions,
        # Each ticket as last read (an incremental cycle reads only what changed).
        matching=events.matching if report.plan is not None else None,
        finished_unix_s=time.time() if report.error_kind is None else None,
    )

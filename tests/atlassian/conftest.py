"""Shared helpers for the Atlassian tests: a sandbox per site, a client, a journal, a planner.

Tests never sleep: the retry policy's ``sleep`` is swapped for a recorder in every test here.
"""

from __future__ import annotations

import importlib.util
import json
import random
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from worker.atlassian import retry
from worker.atlassian.clients import Atlassian, Connection, connect
from worker.model.document import Document, Mention, Paragraph, Text
from worker.model.issue import IssueSnapshot, MalformedIssue, SearchSpec
from worker.model.outcome import Outcome, RecordedWrite
from worker.model.people import Directory, Person
from worker.model.plan import (
    CommentAction,
    FlagAction,
    IssueWrite,
    LabelAction,
    Plan,
    ReassignAction,
)
from worker.model.state import BotState, PolicyState, StepRecord
from worker.state.recent import overlay_recent
from worker.write.execute import execute

HERE = Path(__file__).resolve().parent

POLICY = "pre-sales"
SPEC = SearchSpec(
    jql='assignee in membersOf("project-managers") AND statusCategory != Done ORDER BY key',
    field_names=("Account", "Contract status"),
    comments=True,
    changelog=True,
    groups=("project-managers", "sales"),
)


def _load_sitegen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("atlassian_sitegen", HERE / "sitegen.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sitegen = _load_sitegen()


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every retry wait computed during the test (nothing actually sleeps)."""
    recorded: list[float] = []
    monkeypatch.setattr(retry, "sleep", recorded.append)
    monkeypatch.setattr(retry, "jitter", random.Random(1))
    return recorded


@dataclass
class MemoryJournal:
    """The write journal in memory (the real one is worker.state.store.Store)."""

    writes: list[RecordedWrite] = field(default_factory=list)

    def record_write(self, write: RecordedWrite) -> None:
        """Remember one write."""
        self.writes.append(write)

    def recent_writes(self, *, since: datetime) -> Mapping[str, RecordedWrite]:
        """The latest write per issue at or after ``since``."""
        latest: dict[str, RecordedWrite] = {}
        for write in self.writes:
            if write.at >= since:
                latest[write.issue] = write
        return latest


def hand_plan(
    snapshots: Sequence[IssueSnapshot],
    directory: Directory,
    now: datetime,
    *,
    sales_owner: Person,
) -> Plan:
    """A tiny stand-in planner: step 0 on every PM-assigned 'sow' issue not yet acted on."""
    pms = directory.groups.get("project-managers", frozenset())
    writes: list[IssueWrite] = []
    for snap in snapshots:
        if "sow" not in snap.labels or snap.assignee is None or snap.assignee.id not in pms:
            continue
        if snap.state.for_policy(POLICY).last_step >= 0:
            continue
        document = Document(
            (
                Paragraph(
                    (
                        Mention(snap.assignee),
                        Text(" this looks like Sales work before signature: "),
                        Text(snap.summary, strong=True),
                    )
                ),
                Paragraph((Mention(sales_owner), Text(" please take it over."))),
            )
        )
        actions = (
            CommentAction(document=document, template="pre-sales"),
            ReassignAction(to=sales_owner, target="sales_owner", fallback=None),
            LabelAction(add=("pre-sales",)),
            FlagAction(on=True),
        )
        state = BotState(
            {
                **snap.state.policies,
                POLICY: PolicyState(
                    first_flagged_at=now,
                    steps=(StepRecord(0, now, ("comment", "reassign", "label", "flag")),),
                    reassigned_to=sales_owner.id,
                ),
            }
        )
        writes.append(IssueWrite(snap.key, snap.id, actions, state, (POLICY,), snap.updated))
    return Plan(now=now, decisions=(), writes=tuple(writes))


@dataclass
class CycleResult:
    """What one test cycle read and did."""

    now: datetime
    snapshots: list[IssueSnapshot]
    malformed: list[MalformedIssue]
    plan: Plan
    outcomes: list[Outcome]
    requests: list[dict[str, Any]]


def run_cycle(
    sb: Any,
    atl: Atlassian,
    journal: MemoryJournal,
    *,
    dry_run: bool = False,
    stopping: Callable[[], bool] = lambda: False,
    spec: SearchSpec = SPEC,
    with_deals: bool = False,
    concurrency: int = 1,
) -> CycleResult:
    """One cycle as the service runs it: clock, directory, search (reconciled), plan, execute
    (``concurrency`` issues written at once)."""
    sb.clear_requests()
    now = atl.jira.server_now()
    recent = journal.recent_writes(since=now - timedelta(hours=1))
    reconcile = [w.issue_id for w in recent.values()][:50]
    directory = atl.jira.directory(spec.groups)
    if with_deals and spec.deals is not None:
        atl.confluence.deals(spec.deals, directory=directory)
    snapshots: list[IssueSnapshot] = []
    malformed: list[MalformedIssue] = []
    for item in atl.jira.search(spec, reconcile_ids=reconcile):
        if isinstance(item, MalformedIssue):
            malformed.append(item)
        else:
            snapshots.append(overlay_recent(item, recent))
    sales_owner = directory.people[sorted(directory.groups["sales"])[-1]]
    plan = hand_plan(snapshots, directory, now, sales_owner=sales_owner)
    outcomes = execute(plan, atl, journal, dry_run=dry_run, stopping=stopping,
                       concurrency=concurrency)
    return CycleResult(now, snapshots, malformed, plan, outcomes, sb.requests())


def run_policy_cycle(
    sb: Any, atl: Atlassian, journal: MemoryJournal, policies: Any, *, dry_run: bool = False
) -> CycleResult:
    """One cycle with the real policy engine (worker.policy) instead of the test planner."""
    from worker.policy import plan, search_spec

    spec = search_spec(policies)
    sb.clear_requests()
    now = atl.jira.server_now()
    recent = journal.recent_writes(since=now - timedelta(hours=1))
    directory = atl.jira.directory(spec.groups)
    deals = atl.confluence.deals(spec.deals, directory=directory) if spec.deals else []
    snapshots: list[IssueSnapshot] = []
    malformed: list[MalformedIssue] = []
    reconcile = [w.issue_id for w in recent.values()][:50]
    for item in atl.jira.search(spec, reconcile_ids=reconcile):
        if isinstance(item, MalformedIssue):
            malformed.append(item)
        else:
            snapshots.append(overlay_recent(item, recent))
    the_plan = plan([*snapshots, *malformed], directory, deals, policies, now)
    outcomes = execute(the_plan, atl, journal, dry_run=dry_run, property_key=spec.property_key)
    return CycleResult(now, snapshots, malformed, the_plan, outcomes, sb.requests())


def connection_for(sb: Any, *, flavor: str | None = None) -> Connection:
    """Credentials for a sandbox in its own flavor (Basic on Cloud, PAT on Data Center)."""
    if sb.flavor == "cloud":
        return Connection(
            jira_url=sb.url,
            flavor=flavor,
            username=sb.bot_email,
            api_token=sb.bot_token,
            confluence_url=sb.url + "/wiki",
            timeout_s=5,
        )
    return Connection(
        jira_url=sb.url,
        flavor=flavor,
        personal_token=sb.bot_token,
        confluence_url=sb.url + "/wiki",
        timeout_s=5,
    )


class SandboxPool:
    """Sandboxes kept for the session, one per distinct site, reset before each reuse.

    Starting and stopping a server per test costs about half a second in shutdown polling;
    a reset gives the same clean site (clock, faults and request log included).
    """

    def __init__(self) -> None:
        self._running: dict[str, Any] = {}

    @contextmanager
    def open_site(self, site: dict[str, Any] | Path) -> Iterator[tuple[Any, Atlassian]]:
        """A clean running sandbox for ``site`` and a freshly connected client."""
        from worker.sandbox import Sandbox

        key = json.dumps(site, sort_keys=True, default=str)
        sb = self._running.get(key)
        if sb is None:
            sb = self._running[key] = Sandbox.start(site, port=0)
        else:
            sb.reset()
        atl = connect(connection_for(sb))
        try:
            yield sb, atl
        finally:
            atl.close()

    def close(self) -> None:
        """Stop every sandbox (in parallel: each stop waits for the server's poll interval)."""
        stoppers = [threading.Thread(target=sb.stop) for sb in self._running.values()]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=10)
        self._running.clear()


@pytest.fixture(scope="session")
def sandbox_pool() -> Iterator[SandboxPool]:
    """The session's sandboxes."""
    pool = SandboxPool()
    yield pool
    pool.close()


@pytest.fixture(params=["cloud", "datacenter"])
def flavor(request: pytest.FixtureRequest) -> str:
    """Both flavors, one test run each."""
    return str(request.param)


@dataclass(frozen=True)
class Kit:
    """What tests need from this conftest, handed over as one fixture."""

    open_site: Callable[..., Any]
    sitegen: ModuleType = sitegen
    journal: Callable[[], MemoryJournal] = MemoryJournal
    connection_for: Callable[..., Connection] = connection_for
    run_cycle: Callable[..., CycleResult] = run_cycle
    run_policy_cycle: Callable[..., CycleResult] = run_policy_cycle
    spec: SearchSpec = SPEC
    policy: str = POLICY


@pytest.fixture
def kit(sandbox_pool: SandboxPool) -> Kit:
    """The helpers above."""
    return Kit(open_site=sandbox_pool.open_site)

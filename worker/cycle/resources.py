"""What outlives one cycle: the connection, the store, the policy file, metrics."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import structlog

from worker.atlassian.clients import connect
from worker.cycle.errors import one_line
from worker.cycle.source import PolicySource
from worker.model.issue import SearchSpec
from worker.policy.scope import scope_time_dependent
from worker.policy.sections import PM_SET
from worker.read.deal_facts import DealPageCount, StoredDealFacts, StoredDealPageCount
from worker.read.incremental import (
    IncrementalSettings,
    ReadState,
)
from worker.read.site import JOURNAL_WINDOW, IncrementalRead
from worker.read.site_targets import literal_users, user_problems
from worker.settings.env import Settings
from worker.state.lease import Fence, Lease
from worker.state.records import CycleRecord
from worker.state.store import Store
from worker.telemetry.events import EventCounter
from worker.telemetry.logs import register_secrets
from worker.write.journal import GuardedJournal, abandoned_outcomes

if TYPE_CHECKING:
    from worker.atlassian.clients import Atlassian
    from worker.policy import Policies
    from worker.telemetry.health import Health
    from worker.telemetry.metrics import Metrics

log = structlog.get_logger(__name__)


class CycleResources:
    """Holds what outlives one cycle: the connection, the store, the policy file, metrics.

    :class:`~worker.cycle.runner.CycleRunner` runs cycles with it; a cycle's steps take it.
    """

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
        if self.source.site_check is None:
            self.source.site_check = self.refused_users
        self.on_issue = on_issue
        #: the policy source's reload count the last plan was made with
        self.reloads_seen = 0
        #: turns plans into metric events (a ticket's step counted once)
        self.events = EventCounter()
        #: deal pages the last successful read found (a much smaller read is a failed one)
        self.deal_pages: DealPageCount = StoredDealPageCount(store)
        #: what the last good deal read found on each page (incremental deal reads)
        self.deal_facts = StoredDealFacts(store)
        #: the connection once made (its counters say what this process sent)
        self.connected: Atlassian | None = None
        #: the fence whose gate every write of the connection passes as it leaves (None: none)
        self._fence: Fence | None = None
        #: one cycle at a time: the runner holds it for a whole cycle
        self.cycle_lock = threading.Lock()
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
            log.error("store.failed", error=one_line(exc))

    def refused_users(self, policies: Policies) -> tuple[str, ...]:
        """What the site says about the people a newly loaded policy file may assign tickets
        to (reassign targets and fallbacks, the fallback sales owner; no request when it
        names none): the file is refused when there is anything."""
        if not any(u.assigned for u in literal_users(policies)):
            return ()
        return tuple(user_problems(policies, self.atlassian(), assigned_only=True))

    def atlassian(self) -> Atlassian:
        """The connection, made once per process (and again after a failed attempt)."""
        if self.connected is None:
            self.connected = connect(self.settings.connection())
            if self.metrics is not None:
                self.metrics.follow_pacing(self.connected.pacing)
            self.connected.gate_writes(self._gate)
            log.info("atlassian.connected", flavor=self.connected.flavor,
                     bot=self.connected.bot.display_name)
        return self.connected

    @contextlib.contextmanager
    def fenced(self, fence: Fence | None) -> Iterator[None]:
        """While inside, every Jira and Confluence write of this connection passes
        ``fence``'s gate as it leaves the process (:meth:`~worker.state.lease.Fence.gate`)."""
        self._fence = fence
        try:
            yield
        finally:
            self._fence = None

    def _gate(self) -> str | None:
        fence = self._fence
        return None if fence is None else fence.gate()

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


def config_digest(policy_sha: str | None, spec: SearchSpec) -> str:
    """The policy file (with its templates) and the search it asks for, as one digest: when
    it changes, the next cycle reads everything."""
    return hashlib.sha256(f"{policy_sha}\0{spec!r}".encode()).hexdigest()

"""The leader lease: however many replicas or manual runs share a store, one of them acts.

One row of the store's ``lease`` table names the holder (``host:pid:random``), when its hold
expires and a fencing number that grows by one at every change of holder. Every change is one
conditional ``UPDATE`` (or the first ``INSERT``), so two processes racing for the lease cannot
both win, on PostgreSQL (row locks; the predicate is re-checked after the winner commits) and
on SQLite (one writer at a time, between the processes of one host).

Time: on PostgreSQL the database's clock decides expiry, so replicas on hosts whose clocks
disagree still agree on it; SQLite is one host, so its clock is the machine's. The holder also
keeps a local deadline on its own clock (:func:`local_clock`: monotonic, and counting a
suspended host's sleep), measured from *before* each successful take or renewal was sent and
shortened by :data:`DRIFT_RATE` of the period, so it ends before the row's expiry as long as
the two clocks' rates differ by less than that. Past it, the lease counts as lost even if the
store is unreachable to say so; a renewal that cannot reach the store does not extend it. The
transport checks it as each Jira or Confluence write leaves (:meth:`Fence.gate`).

A holder that takes the lease over from another that did not release it (a crash, a pause, a
partition) learns when, by its own clock, that hold ended (:attr:`Lease.predecessor_ended`):
the writes the old holder journaled as in flight may land until then plus the request
timeout, so the writer holds those tickets back until that time (:meth:`Fence.settle_left_s`).
A clean release sets the row's expiry to :data:`RELEASED` (nothing in flight: no wait).

A holder renews while it works (:class:`~worker.state.renewer.Renewer`, every third of the
period) and releases on a clean exit. A holder killed with ``kill -9`` releases nothing: its
row expires at most one period after its last renewal, and a standby's renewer looks again
right then and takes over.

:meth:`Lease.check` is the writer's fence: it reads the row and compares holder and fencing
number; on a mismatch, a failed renewal or a passed deadline it sets :attr:`Lease.lost`, after
which no new write starts (``worker.write.execute``).
"""

from __future__ import annotations

import math
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from worker.state.store import Store, insert_ignoring_conflict
from worker.state.tables import lease

log = structlog.get_logger(__name__)

#: the one lease that decides who runs cycles and writes
LEADER = "leader"

#: the share of the period the local deadline gives up for clock-rate drift between this host
#: and the store's: 1 % (NTP keeps a clock's rate within 0.05 %; an undisciplined crystal
#: drifts about 0.01 %)
DRIFT_RATE = 0.01

#: the expiry a clean release leaves in the row: long past, so the next holder knows no write
#: of the old one can still be in flight
RELEASED = datetime(1970, 1, 1, tzinfo=UTC)


def local_clock() -> float:
    """Seconds on this host's monotonic clock that also counts time the host was suspended
    (``CLOCK_BOOTTIME`` on Linux), so a frozen or suspended host wakes up past its deadline."""
    return time.clock_gettime(_CLOCK)


_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def deadline_after(sent: float, period_s: float) -> float:
    """The local deadline of a hold whose take or renewal was sent at ``sent`` (local clock):
    one period less :data:`DRIFT_RATE` of it."""
    return sent + period_s * (1.0 - DRIFT_RATE)


def new_holder_id() -> str:
    """``host:pid:random``: unique per process, readable in logs and in ``/readyz``."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """The lease as the store holds it."""

    holder: str
    fencing: int
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        """``held by H (fencing N) until T`` for messages."""
        return (f"held by {self.holder} (fencing {self.fencing}) until "
                f"{self.expires_at:%Y-%m-%d %H:%M:%S}Z")


class LeaseHeldError(Exception):
    """Another process holds the lease (``run --once`` and ``revert`` exit with
    :data:`worker.exits.EXIT_LEASE_HELD`)."""

    def __init__(self, row: LeaseRow | None) -> None:
        held = "held by another process" if row is None else row.describe()
        super().__init__(f"another Handoff Guard is acting on this store: the leader lease is "
                         f"{held}; try again after it expires, or stop the other one")
        self.row = row


class Lease:
    """This process's claim on one lease row (thread-safe)."""

    def __init__(
        self,
        store: Store,
        *,
        period_s: float,
        holder: str | None = None,
        name: str = LEADER,
        monotonic: Callable[[], float] = local_clock,
    ) -> None:
        self._engine = store.engine
        self.name = name
        self.holder = holder or new_holder_id()
        self.period = timedelta(seconds=period_s)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        #: the fencing number while held (None: not held)
        self.fencing: int | None = None
        self._deadline = 0.0
        #: set once a held lease is lost (renewal refused or failed, deadline passed,
        #: another holder seen); cleared when the lease is acquired again
        self.lost = threading.Event()
        #: the row as last read (who holds it, until when)
        self.last_seen: LeaseRow | None = None
        #: after a failed :meth:`acquire`: seconds until that holder's hold expires (by the
        #: store's clock), so a standby looks again right then
        self.free_in_s: float | None = None
        #: local clock when the store last answered (a take, a renewal, a check, a look), sent
        #: time; None: never. Readiness asks how long ago that was.
        self.last_contact: float | None = None
        #: after taking the lease over from a holder that did not release it: when, on the
        #: local clock, that holder's hold ended (None: a clean handover, or a first holder)
        self.predecessor_ended: float | None = None
        #: the store's last error to a look, a renewal or a check (None after an answer)
        self.last_error: Exception | None = None

    # ------------------------------------------------------------------ acquire, renew, release

    def acquire(self) -> bool:
        """Take the lease if it is free or expired, renew it if already ours.

        Returns whether this process holds it now; :attr:`last_seen` says who does.
        """
        with self._lock:
            sent = self._monotonic()
            with self._engine.begin() as conn:
                now = _db_now(conn)
                expires = now + self.period
                taken = False
                before: LeaseRow | None = None
                if self.fencing is not None:
                    taken = self._renew_row(conn, now, expires)
                if not taken:
                    before = _read(conn, self.name)
                    taken = conn.execute(
                        sa.update(lease)
                        .where(lease.c.name == self.name, lease.c.expires_at <= now)
                        .values(holder=self.holder, fencing=lease.c.fencing + 1,
                                acquired_at=now, expires_at=expires)
                    ).rowcount == 1
                if not taken:
                    taken = _insert_first(conn, self.name, self.holder, now, expires)
                row = _read(conn, self.name)
            self.last_contact, self.last_error = sent, None
            self.last_seen = row
            self.free_in_s = None if row is None else max(
                0.0, (row.expires_at - now).total_seconds())
            if taken and row is not None and row.holder == self.holder:
                if self.fencing != row.fencing:
                    self.predecessor_ended = _ended(before, self.holder, now, sent)
                    log.info("lease.acquired", holder=self.holder, fencing=row.fencing,
                             expires_at=row.expires_at.isoformat(),
                             predecessor=None if before is None else before.holder,
                             predecessor_settles=self.predecessor_ended is not None)
                self.fencing = row.fencing
                self._deadline = deadline_after(sent, self.period.total_seconds())
                self.lost.clear()
                return True
            if self.fencing is not None:
                self._mark_lost("another holder took the lease", row)
            return False

    def renew(self) -> bool:
        """Extend a held lease by one period; False (and :attr:`lost` set) when it is gone."""
        with self._lock:
            if self.fencing is None:
                return False
            sent = self._monotonic()
            try:
                with self._engine.begin() as conn:
                    now = _db_now(conn)
                    renewed = self._renew_row(conn, now, now + self.period)
                    row = None if renewed else _read(conn, self.name)
            except sa.exc.SQLAlchemyError as exc:
                self.last_error = exc
                if self._monotonic() >= self._deadline:
                    self._mark_lost(f"the store could not renew it: {type(exc).__name__}", None)
                    return False
                log.warning("lease.renew_failed", error=type(exc).__name__)
                return True  # still ours until the local deadline; the next renewal retries
            self.last_contact, self.last_error = sent, None
            if not renewed:
                self._mark_lost("the row no longer names this holder", row)
                return False
            # Measured from before the request: however late the answer, the new deadline
            # ends before the row's new expiry.
            self._deadline = deadline_after(sent, self.period.total_seconds())
            return True

    def release(self, *, in_flight: bool = False) -> None:
        """Give the lease up at once: a standby need not wait for expiry.

        ``in_flight``: a write may still be on its way (a stop in the middle of a write); the
        next holder then holds back what this one journaled as in flight for the request
        timeout. Otherwise the release says nothing is in flight (:data:`RELEASED`).
        """
        # Closes the write gate at once, even while a renewal stalled in the store holds the
        # lock: from here on no write of this holder leaves.
        self.lost.set()
        with self._lock:
            if self.fencing is None:
                return
            fencing, self.fencing = self.fencing, None
            try:
                with self._engine.begin() as conn:
                    now = _db_now(conn)
                    conn.execute(
                        sa.update(lease)
                        .where(lease.c.name == self.name, lease.c.holder == self.holder,
                               lease.c.fencing == fencing)
                        .values(expires_at=now if in_flight else RELEASED)
                    )
            except sa.exc.SQLAlchemyError as exc:  # it expires on its own
                log.warning("lease.release_failed", error=type(exc).__name__)
                return
            log.info("lease.released", holder=self.holder, fencing=fencing, in_flight=in_flight)

    # ------------------------------------------------------------------ the fence

    @property
    def held(self) -> bool:
        """Held, not lost, and within the local deadline (no store round trip)."""
        return (self.fencing is not None and not self.lost.is_set()
                and self._monotonic() < self._deadline)

    def check(self) -> bool:
        """The writer's fence before a write: the row still names this holder with this
        fencing number, and the local deadline has not passed. Sets :attr:`lost` if not."""
        if not self.held:
            if self.fencing is not None and not self.lost.is_set():
                self._mark_lost("its period ended before a renewal", None)
            return False
        sent = self._monotonic()
        try:
            with self._engine.connect() as conn:
                row = _read(conn, self.name)
        except sa.exc.SQLAlchemyError as exc:
            self.last_error = exc
            # Unreadable now: the local deadline still bounds how long we may be wrong.
            log.warning("lease.check_failed", error=type(exc).__name__)
            return self.held
        self.last_contact, self.last_error = sent, None
        if row is None or row.holder != self.holder or row.fencing != self.fencing:
            self._mark_lost("another holder took the lease", row)
            return False
        # An answer that came back late proves nothing about now: the deadline again.
        return self.held

    def left_s(self) -> float:
        """Seconds left before the local deadline (0 when not held)."""
        if self.fencing is None or self.lost.is_set():
            return 0.0
        return max(0.0, self._deadline - self._monotonic())

    def clock(self) -> float:
        """The local clock this lease measures its deadline on."""
        return self._monotonic()

    def current(self) -> LeaseRow | None:
        """The row as the store holds it now (who holds it, until when)."""
        sent = self._monotonic()
        with self._engine.connect() as conn:
            row = _read(conn, self.name)
        self.last_contact, self.last_error = sent, None
        self.last_seen = row
        return row

    # ------------------------------------------------------------------ internals

    def _renew_row(self, conn: Connection, now: datetime, expires: datetime) -> bool:
        return conn.execute(
            sa.update(lease)
            .where(lease.c.name == self.name, lease.c.holder == self.holder,
                   lease.c.fencing == self.fencing)
            .values(expires_at=expires)
        ).rowcount == 1

    def _mark_lost(self, why: str, row: LeaseRow | None) -> None:
        if not self.lost.is_set():
            log.error("lease.lost", holder=self.holder, fencing=self.fencing, why=why,
                      now_held_by=None if row is None else row.holder,
                      now_fencing=None if row is None else row.fencing)
        self.lost.set()
        if row is not None:
            self.last_seen = row


class Fence:
    """One cycle's fence: the lease must stay held with the fencing number the cycle started
    with. Once it fails it stays failed (:attr:`lost`, shared by every writer of the cycle),
    even if the lease is later taken again: the next cycle plans afresh."""

    def __init__(self, held: Lease, *, request_timeout_s: float = 0.0) -> None:
        self.lease = held
        self.fencing = held.fencing
        self.lost = threading.Event()
        #: why the writes stopped, as a reason code (``lease_deadline``, ``lease_lost``)
        self.reason: str | None = None
        #: how long a request sent before the old holder's deadline may still be on its way
        self.request_timeout_s = request_timeout_s

    def gate(self) -> str | None:
        """The last look before a write leaves the process (no store round trip): None while
        the lease is held with this fencing number within its local deadline, else the
        reason (``lease_deadline``: the deadline passed; ``lease_lost``: it was lost), after
        which no write of this cycle leaves."""
        if self.lost.is_set():
            return self.reason or "lease_lost"
        if self.lease.held and self.lease.fencing == self.fencing:
            return None
        deadline = (self.lease.fencing == self.fencing and self.lease.fencing is not None
                    and not self.lease.lost.is_set())
        self._fail("lease_deadline" if deadline else "lease_lost")
        if deadline:
            log.error("lease.deadline_passed", holder=self.lease.holder, fencing=self.fencing)
        return self.reason

    def settle_left_s(self) -> float:
        """Seconds before the writes the previous holder journaled as in flight can no longer
        land: its hold's end (local clock) plus the request timeout; 0 when there is nothing
        to wait for (a clean handover, or long enough ago)."""
        ended = self.lease.predecessor_ended
        if ended is None:
            return 0.0
        return max(0.0, ended + self.request_timeout_s - self.lease.clock())

    def _fail(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
        self.lost.set()

    def check(self) -> bool:
        """Whether a write may start now (one store read)."""
        if self.lost.is_set():
            return False
        lapsed = (not self.lease.held and self.lease.fencing == self.fencing
                  and not self.lease.lost.is_set())
        if self.lease.check() and self.lease.fencing == self.fencing:
            return True
        self._fail("lease_deadline" if lapsed else "lease_lost")
        return False

    def describe(self) -> str:
        """Why writes stopped, for outcomes and the report."""
        row = self.lease.last_seen
        lost = f"the leader lease (fencing {self.fencing}) was lost mid-cycle"
        if self.reason == "lease_deadline":
            lost = (f"lease_deadline: the leader lease's local deadline (fencing "
                    f"{self.fencing}) passed before a write left")
        if row is None or row.holder == self.lease.holder:
            return lost
        return f"{lost}; it is now {row.describe()}"


#: the holder named in the row :func:`bar_after_schema_loss` writes
SCHEMA_REMADE = "(schema made again)"


def bar_after_schema_loss(store: Store, *, period_s: float, name: str = LEADER) -> bool:
    """After the store's schema was made again under running replicas, no one takes the
    lease for one period: a holder of the vanished row may still be within its local deadline
    (it cannot renew a row that is gone, so its deadline passes within that period). Writes a
    row no process holds, expiring a period from now; True when this call wrote it."""
    with store.engine.begin() as conn:
        now = _db_now(conn)
        return insert_ignoring_conflict(
            conn, lease, {"name": name, "holder": SCHEMA_REMADE, "fencing": 0,
                          "acquired_at": now, "expires_at": now + timedelta(seconds=period_s)},
            key_columns=("name",)) == 1


def _db_now(conn: Connection) -> datetime:
    """The clock that decides expiry: PostgreSQL's own, else this host's."""
    if conn.dialect.name == "postgresql":
        value: object = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    return datetime.now(UTC)


def _ended(before: LeaseRow | None, holder: str, now: datetime, sent: float) -> float | None:
    """When, on the local clock, the hold this take replaced ended: its expiry (store clock)
    moved onto the local clock through ``now``; None when there was none or it was released
    cleanly (or was our own)."""
    if before is None or before.holder == holder or before.expires_at <= RELEASED:
        return None
    ago_s = (now - before.expires_at).total_seconds()
    return sent - max(0.0, ago_s) if math.isfinite(ago_s) else None


def _read(conn: Connection, name: str) -> LeaseRow | None:
    row = conn.execute(sa.select(lease).where(lease.c.name == name)).first()
    if row is None:
        return None
    return LeaseRow(holder=row.holder, fencing=int(row.fencing),
                    acquired_at=_aware(row.acquired_at), expires_at=_aware(row.expires_at))


def _aware(value: datetime) -> datetime:
    """A time as UTC (a row edited by hand may hold a date without a zone)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _insert_first(conn: Connection, name: str, holder: str, now: datetime,
                  expires: datetime) -> bool:
    """The very first holder of a lease name: an insert that loses a race inserts nothing."""
    return insert_ignoring_conflict(
        conn, lease, {"name": name, "holder": holder, "fencing": 1, "acquired_at": now,
                      "expires_at": expires}, key_columns=("name",)
    ) == 1

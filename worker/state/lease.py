"""The leader lease: however many replicas or manual runs share a store, one of them acts.

One row of the store's ``lease`` table names the holder (``host:pid:random``), when its hold
expires and a fencing number that grows by one at every change of holder. Every change is one
conditional ``UPDATE`` (or the first ``INSERT``), so two processes racing for the lease cannot
both win, on PostgreSQL (row locks; the predicate is re-checked after the winner commits) and
on SQLite (one writer at a time, between the processes of one host).

Time: on PostgreSQL the database's clock decides expiry, so replicas on hosts whose clocks
disagree still agree on it; SQLite is one host, so its clock is the machine's. The holder also
keeps a local deadline on the monotonic clock (taken *before* each successful renewal was sent,
so it never ends later than the row's expiry): past it, the lease counts as lost even if the
store is unreachable to say so.

A holder renews while it works (:class:`Renewer`, every third of the period) and releases on a
clean exit. A holder killed with ``kill -9`` releases nothing: its row expires at most one
period after its last renewal, and a standby's renewer looks again right then and takes over.

:meth:`Lease.check` is the writer's fence: it reads the row and compares holder and fencing
number; on a mismatch, a failed renewal or a passed deadline it sets :attr:`Lease.lost`, after
which no new write starts (``worker.write.execute``).
"""

from __future__ import annotations

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

from worker.state.store import Store, insert_ignoring_conflict, lease

log = structlog.get_logger(__name__)

#: the one lease that decides who runs cycles and writes
LEADER = "leader"


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
        monotonic: Callable[[], float] = time.monotonic,
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
                if self.fencing is not None:
                    taken = self._renew_row(conn, now, expires)
                if not taken:
                    taken = conn.execute(
                        sa.update(lease)
                        .where(lease.c.name == self.name, lease.c.expires_at <= now)
                        .values(holder=self.holder, fencing=lease.c.fencing + 1,
                                acquired_at=now, expires_at=expires)
                    ).rowcount == 1
                if not taken:
                    taken = _insert_first(conn, self.name, self.holder, now, expires)
                row = _read(conn, self.name)
            self.last_seen = row
            self.free_in_s = None if row is None else max(
                0.0, (row.expires_at - now).total_seconds())
            if taken and row is not None and row.holder == self.holder:
                if self.fencing != row.fencing:
                    log.info("lease.acquired", holder=self.holder, fencing=row.fencing,
                             expires_at=row.expires_at.isoformat())
                self.fencing = row.fencing
                self._deadline = sent + self.period.total_seconds()
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
                if self._monotonic() >= self._deadline:
                    self._mark_lost(f"the store could not renew it: {type(exc).__name__}", None)
                    return False
                log.warning("lease.renew_failed", error=type(exc).__name__)
                return True  # still ours until the local deadline; the next renewal retries
            if not renewed:
                self._mark_lost("the row no longer names this holder", row)
                return False
            self._deadline = sent + self.period.total_seconds()
            return True

    def release(self) -> None:
        """Give the lease up at once (a clean exit): a standby need not wait for expiry."""
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
                        .values(expires_at=now)
                    )
            except sa.exc.SQLAlchemyError as exc:  # it expires on its own
                log.warning("lease.release_failed", error=type(exc).__name__)
                return
            log.info("lease.released", holder=self.holder, fencing=fencing)

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
        try:
            with self._engine.connect() as conn:
                row = _read(conn, self.name)
        except sa.exc.SQLAlchemyError as exc:
            # Unreadable now: the local deadline still bounds how long we may be wrong.
            log.warning("lease.check_failed", error=type(exc).__name__)
            return self.held
        if row is None or row.holder != self.holder or row.fencing != self.fencing:
            self._mark_lost("another holder took the lease", row)
            return False
        return True

    def current(self) -> LeaseRow | None:
        """The row as the store holds it now (who holds it, until when)."""
        with self._engine.connect() as conn:
            row = _read(conn, self.name)
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


class Renewer:
    """Keeps a lease in a daemon thread: every third of its period it renews the lease when
    held, or takes it when free (a standby waiting for a dead leader's row to expire).

    ``on_look`` is called after each look (the service reports leadership with it). A context
    manager: around one cycle (``run --once``, ``revert``) or the whole service.
    """

    def __init__(self, held: Lease, *, on_look: Callable[[Lease], None] | None = None,
                 every_s: float | None = None) -> None:
        self._lease = held
        self._on_look = on_look
        self._every_s = every_s or held.period.total_seconds() / 3
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="lease-renewer", daemon=True)

    def _wait_s(self) -> float:
        """A third of the period; a standby looks again the moment the holder's hold ends
        (so it takes over within one period of the holder's last renewal)."""
        free = self._lease.free_in_s
        if self._lease.held or free is None:
            return self._every_s
        return max(0.05, min(self._every_s, free + 0.05))

    def _loop(self) -> None:
        while not self._stop.wait(self._wait_s()):
            try:
                if self._lease.fencing is not None and not self._lease.lost.is_set():
                    self._lease.renew()
                else:
                    self._lease.acquire()
            except sa.exc.SQLAlchemyError as exc:  # the store is down: try again next time
                log.warning("lease.look_failed", error=type(exc).__name__)
            if self._on_look is not None:
                try:
                    self._on_look(self._lease)
                except Exception as exc:  # reporting must never stop the renewals
                    log.exception("lease.report_failed", error=str(exc))

    def __enter__(self) -> Renewer:
        self._thread.start()
        return self

    def alive(self) -> bool:
        """Whether the renewing thread runs (``/livez`` asks)."""
        return self._thread.is_alive()

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every_s + 5)


class Fence:
    """One cycle's fence: the lease must stay held with the fencing number the cycle started
    with. Once it fails it stays failed (:attr:`lost`, shared by every writer of the cycle),
    even if the lease is later taken again: the next cycle plans afresh."""

    def __init__(self, held: Lease) -> None:
        self.lease = held
        self.fencing = held.fencing
        self.lost = threading.Event()

    def check(self) -> bool:
        """Whether a write may start now (one store read)."""
        if self.lost.is_set():
            return False
        if self.lease.check() and self.lease.fencing == self.fencing:
            return True
        self.lost.set()
        return False

    def describe(self) -> str:
        """Why writes stopped, for outcomes and the report."""
        row = self.lease.last_seen
        lost = f"the leader lease (fencing {self.fencing}) was lost mid-cycle"
        if row is None or row.holder == self.lease.holder:
            return lost
        return f"{lost}; it is now {row.describe()}"


def _db_now(conn: Connection) -> datetime:
    """The clock that decides expiry: PostgreSQL's own, else this host's."""
    if conn.dialect.name == "postgresql":
        value: object = conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()
        assert isinstance(value, datetime)
        return value.astimezone(UTC)
    return datetime.now(UTC)


def _read(conn: Connection, name: str) -> LeaseRow | None:
    row = conn.execute(sa.select(lease).where(lease.c.name == name)).first()
    if row is None:
        return None
    return LeaseRow(holder=row.holder, fencing=int(row.fencing), acquired_at=row.acquired_at,
                    expires_at=row.expires_at)


def _insert_first(conn: Connection, name: str, holder: str, now: datetime,
                  expires: datetime) -> bool:
    """The very first holder of a lease name: an insert that loses a race inserts nothing."""
    return insert_ignoring_conflict(
        conn, lease, {"name": name, "holder": holder, "fencing": 1, "acquired_at": now,
                      "expires_at": expires}, key_columns=("name",)
    ) == 1

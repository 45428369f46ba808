"""The leader lease on real stores (SQLite file and PostgreSQL): one holder, fencing grows by
one at every change of holder, expiry hands it over, the fence sees a lost lease; the local
deadline (a hand-set clock) is measured from before the request, short of the period by the
drift margin, never extended by a renewal that fails, and checked by the fence's gate; a
takeover waits out the old holder's requests."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.service.service_support import ROOT
from worker.state.lease import DRIFT_RATE, Fence, Lease, bar_after_schema_loss
from worker.state.renewer import Renewer
from worker.state.store import Store, schema_missing
from worker.state.tables import lease


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    opened = Store.open(store_target)
    yield opened
    opened.close()


def _expire(store: Store) -> None:
    """The holder stops renewing and its period ends (as if it was killed)."""
    with store.engine.begin() as conn:
        conn.execute(sa.update(lease).values(expires_at=sa.literal("2000-01-01T00:00:00+00:00")))


def test_one_holder_and_fencing_grows_at_each_change(store: Store) -> None:
    """The first taker holds it; another cannot; after expiry the other takes it (+1)."""
    a = Lease(store, period_s=60, holder="host-a:1:aa")
    b = Lease(store, period_s=60, holder="host-b:2:bb")
    assert a.acquire()
    assert not b.acquire()
    assert b.last_seen is not None
    assert (b.last_seen.holder, b.last_seen.fencing) == ("host-a:1:aa", 1)
    assert a.acquire()  # renewing is not a change of holder
    assert a.renew()
    assert a.fencing == 1
    _expire(store)
    assert b.acquire()
    assert b.fencing == 2
    assert not a.check()
    assert a.lost.is_set()
    assert not a.renew()
    b.release()
    assert a.acquire()  # released: no need to wait for expiry
    assert a.fencing == 3


def test_fence_latches_even_when_the_lease_comes_back(store: Store) -> None:
    """A cycle's fence stays failed after a loss, though the lease is taken again later."""
    a = Lease(store, period_s=60, holder="host-a:1:aa")
    b = Lease(store, period_s=60, holder="host-b:2:bb")
    assert a.acquire()
    fence = Fence(a)
    assert fence.check()
    _expire(store)
    assert b.acquire()
    assert not fence.check()
    b.release()
    assert a.acquire()
    assert not fence.check()
    assert "fencing 1" in fence.describe()
    assert Fence(a).check()


def test_local_deadline_without_renewal_loses_the_lease(store: Store) -> None:
    """Past its period with no renewal, the holder counts the lease as lost by itself."""
    now = [100.0]
    a = Lease(store, period_s=5, holder="host-a:1:aa", monotonic=lambda: now[0])
    assert a.acquire()
    assert a.check()
    now[0] += 5.0
    assert not a.held
    assert not a.check()
    assert a.lost.is_set()


def test_renewer_keeps_the_lease_past_its_period(store: Store) -> None:
    """With the renewer running, another process never gets the lease."""
    a = Lease(store, period_s=1.2, holder="host-a:1:aa")
    b = Lease(store, period_s=1.2, holder="host-b:2:bb")
    assert a.acquire()
    with Renewer(a, every_s=0.2):
        for _ in range(6):  # 1.8 s in all: longer than the period
            time.sleep(0.3)
            assert not b.acquire()
        assert a.check()
    time.sleep(1.3)  # no renewer now: it expires
    assert b.acquire()


_RACE = """
import sys
from worker.state.lease import Lease
from worker.state.store import Store
store = Store.open(sys.argv[1])
sys.stdout.write("1" if Lease(store, period_s=60).acquire() else "0")
"""


def test_processes_racing_for_a_fresh_lease_one_wins(store: Store, store_target: str) -> None:
    """Four processes started together on one store: exactly one holds the lease."""
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACE, store_target], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for _ in range(4)
    ]
    # the verdict is the last character written (the log goes to stdout too)
    won = [p.communicate(timeout=60)[0][-1:] for p in procs]
    assert sorted(won) == ["0"] * 3 + ["1"]
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(lease.c.fencing)).scalar_one() == 1


class _Clock:
    """A local clock the test moves (seconds)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_deadline_is_a_period_less_the_drift_margin(store: Store) -> None:
    """Held until one period less 1 % after the take was sent; the gate closes with
    ``lease_deadline`` right then, without a store round trip."""
    clock = _Clock()
    a = Lease(store, period_s=10, holder="host-a:1:aa", monotonic=clock)
    assert a.acquire()
    fence = Fence(a)
    clock.t += 10 * (1 - DRIFT_RATE) - 0.01
    assert a.held
    assert fence.gate() is None
    clock.t += 0.02
    assert not a.held
    assert fence.gate() == "lease_deadline"
    assert fence.lost.is_set()
    assert fence.describe().startswith("lease_deadline:")
    assert fence.gate() == "lease_deadline"  # latched


def test_a_renewal_that_cannot_reach_the_store_does_not_extend_it(store: Store) -> None:
    """The store refuses: the renewal says 'still ours' until the old deadline, which stays."""
    clock = _Clock()
    a = Lease(store, period_s=10, holder="host-a:1:aa", monotonic=clock)
    assert a.acquire()
    before = a.left_s()
    store.engine.dispose()
    broken = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                              connect_args={"connect_timeout": 2})
    a._engine = broken  # the same lease, its store now unreachable
    try:
        clock.t += 5
        assert a.renew()  # not lost yet: the deadline still runs
        assert a.left_s() == pytest.approx(before - 5)
        assert a.last_error is not None
        clock.t += 5
        assert not a.renew()
        assert a.lost.is_set()
    finally:
        broken.dispose()


def test_a_check_answered_after_the_deadline_fails(store: Store) -> None:
    """The row still names us, but the answer came back after the deadline: no write."""
    clock = _Clock()
    a = Lease(store, period_s=10, holder="host-a:1:aa", monotonic=clock)
    assert a.acquire()

    class _Late:
        """Connections whose answers take 20 s of the test's clock."""

        def __init__(self, engine: sa.Engine) -> None:
            self._engine = engine

        def connect(self) -> sa.Connection:
            clock.t += 20
            return self._engine.connect()

    a._engine = _Late(store.engine)  # type: ignore[assignment]
    assert not a.check()


def test_a_takeover_from_an_unreleased_hold_waits_out_its_requests(store: Store) -> None:
    """Taking over a row that expired (a crash, a pause): the fence holds the journal's
    in-flight tickets for the rest of the request timeout after the old hold's end; after a
    clean release there is nothing to wait for."""
    clock = _Clock()
    a = Lease(store, period_s=10, holder="host-a:1:aa", monotonic=clock)
    b = Lease(store, period_s=10, holder="host-b:2:bb", monotonic=clock)
    assert a.acquire()
    _expire_seconds_ago(store, 4)  # a stopped renewing; its hold ended 4 s ago
    assert b.acquire()
    assert b.predecessor_ended == pytest.approx(clock.t - 4, abs=1.0)
    fence = Fence(b, request_timeout_s=30)
    assert fence.settle_left_s() == pytest.approx(26, abs=1.0)
    clock.t += 27
    assert fence.settle_left_s() == 0.0

    b.release()
    assert a.acquire()
    assert a.predecessor_ended is None
    assert Fence(a, request_timeout_s=30).settle_left_s() == 0.0


def _expire_seconds_ago(store: Store, seconds: float) -> None:
    """The holder's row expired ``seconds`` ago by the store's clock."""
    ended = datetime.now(UTC) - timedelta(seconds=seconds)
    with store.engine.begin() as conn:
        conn.execute(sa.update(lease).values(expires_at=ended))


def test_schema_loss_is_recognised_and_bars_the_lease_for_a_period(store: Store) -> None:
    """A store whose tables were dropped answers 'no such table': recognised; made again, no
    one takes the lease for one period (a holder of the vanished row may still write)."""
    a = Lease(store, period_s=60, holder="host-a:1:aa")
    assert a.acquire()
    with store.engine.begin() as conn:
        for table in ("lease", "writes", "meta", "outcomes", "decisions", "cycles",
                      "alembic_version"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
    assert a.renew()  # unreachable row: still ours until the deadline
    assert schema_missing(a.last_error)
    installation = store.installation_id
    store.remigrate()
    assert store.get_meta("installation_id") == installation
    assert bar_after_schema_loss(store, period_s=60)
    assert not bar_after_schema_loss(store, period_s=60)
    b = Lease(store, period_s=60, holder="host-b:2:bb")
    assert not b.acquire()
    assert not a.renew()  # its row is gone: lost
    _expire(store)
    assert b.acquire()

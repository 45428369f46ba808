"""The leader lease on real stores (SQLite file and PostgreSQL): one holder, fencing grows by
one at every change of holder, expiry hands it over, the fence sees a lost lease."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.service.service_support import ROOT
from worker.state.lease import Fence, Lease, Renewer
from worker.state.store import Store, lease


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

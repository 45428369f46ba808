"""A leader cut off inside a transaction on the lease row does not lock the standby out.

A renewal is ``UPDATE lease ...`` then ``COMMIT``. When the link goes dead between the two
(a partition that drops everything), PostgreSQL keeps the open transaction and its row lock:
it never learns that the client is gone (its own TCP keepalives take hours by default). Every
look of the standby then waits on that lock until ``lock_timeout``, and fails, for as long as
the server keeps the dead session. Each session of the store is therefore ended by the server
once it has been idle inside a transaction for as long as one statement may take (half the
lease): the lock goes, and the standby takes the expired lease.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from worker.state.engine import engine_for
from worker.state.lease import Lease
from worker.state.migrate import _PG_LOCK_KEY, _migration_lock
from worker.state.store import Store
from worker.state.tables import lease

LEASE_S = 2.0


def test_a_leader_stuck_inside_a_renewal_does_not_block_the_take_over(postgres_url: str) -> None:
    """The leader's renewal updated the row and never committed (its link went dead): the
    standby takes the lease once it expired, within a few lease periods."""
    leader_store = Store.open(postgres_url, lease_s=LEASE_S)
    standby_store = Store.open(postgres_url, lease_s=LEASE_S)
    try:
        leader = Lease(leader_store, period_s=LEASE_S, holder="host-a:1:aa")
        standby = Lease(standby_store, period_s=LEASE_S, holder="host-b:2:bb")
        assert leader.acquire()
        stuck = leader_store.engine.connect()
        stuck.begin()
        stuck.execute(sa.update(lease).where(lease.c.holder == leader.holder)
                      .values(holder=leader.holder))  # the row lock, as a renewal takes it
        # ...and nothing more from the leader: it is idle inside its transaction
        deadline = time.monotonic() + 6 * LEASE_S
        failures = 0
        while time.monotonic() < deadline:
            try:
                if standby.acquire():
                    break
            except sa.exc.OperationalError:
                failures += 1  # waited for the lock (lock_timeout) while the session lived
            time.sleep(0.2)
        else:
            pytest.fail(f"the standby never took the lease ({failures} looks failed)")
        assert standby.last_seen is not None
        assert standby.last_seen.holder == "host-b:2:bb"
        with pytest.raises(sa.exc.DBAPIError, match="idle-in-transaction"):  # ended by the server
            stuck.execute(sa.text("SELECT 1"))
        stuck.close()
    finally:
        leader_store.close()
        standby_store.close()


def test_the_migration_lock_outlasts_the_idle_limit(postgres_url: str) -> None:
    """The connection that holds the migration lock waits outside any transaction: a
    migration longer than the idle limit (half the lease) still ends with the lock released
    by its own connection, and the next migrator takes it at once."""
    engine = engine_for(postgres_url, lease_s=LEASE_S)
    try:
        with _migration_lock(engine):
            time.sleep(2 * LEASE_S)  # longer than a session may stay idle in a transaction
        with engine.connect() as conn:
            taken = conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"),
                                 {"key": _PG_LOCK_KEY}).scalar()
            conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
        assert taken is True
    finally:
        engine.dispose()

"""``PostgresLease`` on a real PostgreSQL: one holder, growing epochs, expiry, background
renewal, and a closed lease."""

from __future__ import annotations

import asyncio

import pytest

from ntrvsta_async import ConfigurationError
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import Lease, PostgresInbox, PostgresLease
from tests.support.postgres_support import (
    PASSWORD,
    Freezer,
    PostgresCluster,
    postgres_cluster,
    postgres_dsn,
)

__all__ = ["postgres_cluster", "postgres_dsn"]


async def test_one_holder_at_a_time_and_the_epoch_grows_on_handover(postgres_dsn: str) -> None:
    async with (
        PostgresLease(postgres_dsn, "poller", ttl=5) as a,
        PostgresLease(postgres_dsn, "poller", ttl=5) as b,
        PostgresLease(postgres_dsn, "other", ttl=5) as c,
    ):
        assert isinstance(a, Lease)
        assert await a.acquire()
        first = a.epoch
        assert first is not None
        assert not await b.acquire()
        assert await c.acquire(), "another name is another lease"
        assert await a.acquire()
        assert a.epoch == first, "the holder keeps its holding"
        await a.release()
        assert a.epoch is None
        assert await b.acquire()
        assert b.epoch is not None
        assert b.epoch > first
        assert not await a.acquire()


async def test_renewal_keeps_it_past_its_ttl(postgres_dsn: str) -> None:
    async with (
        PostgresLease(postgres_dsn, "poller", ttl=0.6) as a,
        PostgresLease(postgres_dsn, "poller", ttl=0.6) as b,
    ):
        assert await a.acquire()
        epoch = a.epoch
        await asyncio.sleep(1.5)  # renewed every ttl / 3 in the background
        assert a.epoch == epoch
        assert not await b.acquire()
    # A holder that stops renewing (a paused process) is replaced after its ttl:
    # tests/reconcile/test_postgres_replicas.py


async def test_the_lease_fences_the_inbox_checkpoints(postgres_dsn: str) -> None:
    async with (
        PostgresInbox(postgres_dsn) as inbox,
        PostgresLease(postgres_dsn, "poller", ttl=5) as a,
        PostgresLease(postgres_dsn, "poller", ttl=5) as b,
    ):
        assert await a.acquire()
        old = a.epoch
        await a.release()
        assert await b.acquire()
        assert await inbox.set_checkpoint("poller:x", "new", fence=b.epoch)
        assert not await inbox.set_checkpoint("poller:x", "stale", fence=old)
        assert await inbox.get_checkpoint("poller:x") == "new"


async def test_errors_and_repr_without_the_password(postgres_cluster: PostgresCluster) -> None:
    lease = PostgresLease(postgres_cluster.dsn(password="Nope-4567"), "poller", ttl=1)
    assert "Nope-4567" not in repr(lease)
    with pytest.raises(InboxError) as caught:
        await lease.acquire()
    assert "Nope-4567" not in str(caught.value)
    await lease.close()
    assert PASSWORD not in repr(PostgresLease(postgres_cluster.dsn(), "poller"))
    with pytest.raises(ConfigurationError, match="closed"):
        await lease.acquire()
    with pytest.raises(ConfigurationError, match="ttl"):
        PostgresLease(postgres_cluster.dsn(), "poller", ttl=0)


async def test_a_holder_paused_right_after_renewing_is_taken_over_after_its_ttl(
    postgres_dsn: str,
) -> None:
    freezer = Freezer()
    async with (
        freezer.pool(postgres_dsn) as pool,
        PostgresLease(pool, "poller", ttl=0.6) as holder,
        PostgresLease(postgres_dsn, "poller", ttl=0.6) as other,
    ):
        assert await holder.acquire()
        freezer.arm("UPDATE")  # its next renewal
        await asyncio.wait_for(freezer.frozen.wait(), 2)
        began = asyncio.get_running_loop().time()
        try:
            while not await taken(other):
                assert asyncio.get_running_loop().time() - began < 3, "the lease was never free"
                await asyncio.sleep(0.05)
        finally:
            freezer.thaw()
        assert other.epoch is not None
        while holder.held:
            assert asyncio.get_running_loop().time() - began < 6, "the holder never noticed"
            await asyncio.sleep(0.05)


async def taken(lease: PostgresLease) -> bool:
    try:
        return await lease.acquire()
    except InboxError:  # a statement that timed out waiting for a lock
        return False

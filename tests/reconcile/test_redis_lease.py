"""``RedisLease`` on a real Redis: one holder, background renewal, loss, fencing, outages,
and a poller that does not hold the lease."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio

from ntrvsta_async import ConfigurationError, NtrvstaClient, ResultSummary
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import Lease, RedisInbox, RedisLease, ResultPoller
from ntrvsta_async.sandbox import SandboxServer
from tests.support.redis_support import (
    RedisProcess,
    create_invitations,
    eventually,
    raw_redis,
    redis_process,
    redis_server,
)

__all__ = ["raw_redis", "redis_process", "redis_server"]


async def test_one_holder_at_a_time_and_the_epoch_grows_on_handover(redis_server: str) -> None:
    async with (
        RedisLease(redis_server, "poller", ttl=5) as a,
        RedisLease(redis_server, "poller", ttl=5) as b,
    ):
        assert isinstance(a, Lease)
        assert a.epoch is None
        assert await a.acquire()
        first = a.epoch
        assert first is not None
        assert not await b.acquire()
        assert b.epoch is None
        assert await a.acquire(), "the holder keeps it"
        assert a.epoch == first

        await a.release()
        assert a.epoch is None
        assert await b.acquire(), "a released lease is free at once"
        second = b.epoch
        assert second is not None
        assert second > first
        assert not await a.acquire()


async def test_other_names_are_other_leases(redis_server: str) -> None:
    async with (
        RedisLease(redis_server, "billing", ttl=5) as a,
        RedisLease(redis_server, "crm", ttl=5) as b,
    ):
        assert await a.acquire()
        assert await b.acquire()


async def test_background_renewal_keeps_the_lease_past_its_ttl(
    redis_server: str, raw_redis: redis.asyncio.Redis
) -> None:
    async with (
        RedisLease(redis_server, "poller", ttl=0.6) as holder,
        RedisLease(redis_server, "poller", ttl=0.6) as other,
    ):
        assert await holder.acquire()
        epoch = holder.epoch
        for _ in range(8):
            await asyncio.sleep(0.2)
            assert not await other.acquire()
        assert holder.epoch == epoch, "renewed for 1.6 s, nearly three ttls, without a gap"
        assert 0 < await raw_redis.pttl("ntrvsta:lease:poller") <= 600


async def test_a_holder_that_stops_renewing_is_taken_over_after_ttl(redis_server: str) -> None:
    async with (
        RedisLease(redis_server, "poller", ttl=0.5) as dead,
        RedisLease(redis_server, "poller", ttl=0.5) as other,
    ):
        assert await dead.acquire()
        await dead._stop_renewing()  # as if the replica froze or died
        waited = await eventually(other.acquire, within=2, what="the takeover")
        assert 0.3 < waited < 0.5 + 0.25
        assert dead.epoch is None, "its own view ended no later than the server's"


async def test_a_lost_lease_shows_no_epoch_and_its_fence_is_refused(
    redis_server: str, raw_redis: redis.asyncio.Redis
) -> None:
    async with (
        RedisLease(redis_server, "poller", ttl=0.9) as old,
        RedisLease(redis_server, "poller", ttl=0.9) as new,
        RedisInbox(redis_server) as inbox,
    ):
        assert await old.acquire()
        old_fence = old.epoch
        assert old_fence is not None
        assert await inbox.set_checkpoint("poller:default:all", "old-1", fence=old_fence)

        await raw_redis.delete("ntrvsta:lease:poller")  # the server let it go (say, a failover)
        assert await new.acquire()
        new_fence = new.epoch
        assert new_fence is not None
        assert new_fence > old_fence
        await eventually(lambda: old.epoch is None, within=0.9 / 3 + 0.2)
        assert not await old.acquire()

        assert await inbox.set_checkpoint("poller:default:all", "new-1", fence=new_fence)
        assert not await inbox.set_checkpoint("poller:default:all", "old-2", fence=old_fence)
        assert await inbox.get_checkpoint("poller:default:all") == "new-1"


async def test_epochs_keep_growing_after_redis_lost_its_data(
    redis_server: str, raw_redis: redis.asyncio.Redis
) -> None:
    async with (
        RedisLease(redis_server, "poller", ttl=5) as old,
        RedisLease(redis_server, "poller", ttl=5) as new,
        RedisInbox(redis_server) as inbox,
    ):
        assert await old.acquire()
        old_fence = old.epoch
        assert old_fence is not None
        await raw_redis.flushall()  # a restart without persistence
        assert await inbox.set_checkpoint("c", "late, by the deposed holder", fence=old_fence)
        assert await new.acquire()
        new_fence = new.epoch
        assert new_fence is not None
        assert new_fence > old_fence, "a forgotten counter must not hand out old fences again"
        assert await inbox.set_checkpoint("c", "new leader", fence=new_fence)


async def test_a_short_redis_restart_keeps_the_lease(redis_process: RedisProcess) -> None:
    async with (
        RedisLease(redis_process.url, "poller", ttl=3) as holder,
        RedisLease(redis_process.url, "poller", ttl=3) as other,
    ):
        assert await holder.acquire()
        epoch = holder.epoch
        redis_process.stop()
        await asyncio.sleep(0.5)
        with pytest.raises(InboxError):
            await other.acquire()
        redis_process.start()
        await asyncio.sleep(1.5)  # past a renewal, which must have worked again
        assert holder.epoch == epoch
        assert not await other.acquire()
        assert await holder.acquire()
        assert holder.epoch == epoch


async def test_an_outage_longer_than_ttl_drops_the_lease_then_it_is_taken_again(
    redis_process: RedisProcess,
) -> None:
    async with RedisLease(redis_process.url, "poller", ttl=0.6) as lease:
        assert await lease.acquire()
        first = lease.epoch
        assert first is not None
        redis_process.stop()
        with pytest.raises(InboxError) as caught:
            await lease.acquire()
        assert "127.0.0.1" in str(caught.value)
        await eventually(lambda: lease.epoch is None, within=0.7)
        redis_process.start()
        assert await lease.acquire()
        second = lease.epoch
        assert second is not None
        assert second > first


async def test_closing_releases_and_refuses_further_use(redis_server: str) -> None:
    other = RedisLease(redis_server, "poller", ttl=30)
    async with RedisLease(redis_server, "poller", ttl=30) as lease:
        assert await lease.acquire()
        assert "epoch" in repr(lease)
    assert "closed" in repr(lease)
    with pytest.raises(ConfigurationError, match="closed"):
        await lease.acquire()
    assert await other.acquire(), "closing released it; no need to wait 30 s"
    await other.close()
    await other.close()


def test_settings_are_checked_and_the_password_is_not_shown() -> None:
    lease = RedisLease("redis://:pa55word@10.0.0.7:6379/0", "poller", ttl=10)
    assert "pa55word" not in repr(lease)
    assert "10.0.0.7:6379" in repr(lease)
    for ttl in (0, -1, True):
        with pytest.raises(ConfigurationError, match="ttl"):
            RedisLease("redis://localhost", "poller", ttl=ttl)
    with pytest.raises(ConfigurationError, match="name"):
        RedisLease("redis://localhost", "", ttl=1)


async def test_a_poller_without_the_lease_reports_not_leader_without_calling_the_api(
    redis_server: str,
) -> None:
    handled: list[str] = []

    async def handler(result: ResultSummary) -> None:
        handled.append(result.key)

    async with SandboxServer() as sandbox:
        for invitation_id in await create_invitations(sandbox, 30):
            await sandbox.complete(invitation_id)
        async with (
            NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client,
            RedisInbox(redis_server) as inbox,
            RedisLease(redis_server, "poller", ttl=10) as lease_a,
            RedisLease(redis_server, "poller", ttl=10) as lease_b,
        ):
            a = ResultPoller(client, handler, inbox=inbox, lease=lease_a, page_size=10)
            b = ResultPoller(client, handler, inbox=inbox, lease=lease_b, page_size=10)
            report_a = await a.run_once()
            assert report_a.leader
            assert report_a.handled == 30
            listed = sandbox.request_counts["results"]

            report_b = await b.run_once()
            assert not report_b.leader
            assert report_b.pages == 0
            assert sandbox.request_counts["results"] == listed, "no API call without the lease"

            await a.stop()  # releases the lease: b takes over on its next pass
            report_b = await b.run_once()
            assert report_b.leader
            assert report_b.skipped_duplicates == 30
            assert report_b.handled == 0
    assert sorted(handled) == sorted(r.result_id for r in sandbox.results)


async def test_a_poller_reports_an_unreachable_lease_and_does_not_poll() -> None:
    async def handler(result: ResultSummary) -> None:
        raise AssertionError("nothing may be handled")

    async with (
        SandboxServer() as sandbox,
        NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client,
        RedisLease("redis://:s3cret@127.0.0.1:1/0", "poller", ttl=1) as lease,
        RedisInbox("redis://:s3cret@127.0.0.1:1/0", retries=0) as inbox,
    ):
        report = await ResultPoller(client, handler, inbox=inbox, lease=lease).run_once()
    assert not report.leader
    assert report.error is not None
    assert report.error.startswith("lease: redis at redis://:***@127.0.0.1:1/0")
    assert "s3cret" not in report.error
    assert sandbox.request_counts.get("results", 0) == 0

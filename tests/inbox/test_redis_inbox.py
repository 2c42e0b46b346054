"""``RedisInbox``: the shared ``InboxContract`` (``ntrvsta_async.testing``) on a real Redis, then
what only Redis does (server-side expiry, prefixes, several replicas, errors, redaction)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio

from ntrvsta_async import ConfigurationError, NtrvstaError
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import ClaimState, RedisInbox, RedisLease
from ntrvsta_async.testing import Elapse, InboxContract
from tests.support.redis_support import RedisProcess, raw_redis, redis_process, redis_server

__all__ = ["raw_redis", "redis_process", "redis_server"]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def inbox(redis_server: str) -> AsyncIterator[RedisInbox]:
    async with RedisInbox(redis_server) as opened:
        yield opened


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


class TestRedisInboxContract(InboxContract):
    """The backend-independent contract, on Redis's own clock."""

    @pytest.fixture
    def elapse(self) -> Elapse:
        return asyncio.sleep


async def test_expired_claim_is_taken_over_on_the_server_clock(inbox: RedisInbox) -> None:
    crashed = await inbox.claim("k", ttl=0.3)
    assert crashed.token is not None
    assert (await inbox.claim("k", ttl=0.3)).state is ClaimState.IN_PROGRESS
    await asyncio.sleep(0.4)
    taker = await inbox.claim("k", ttl=10)
    assert taker.state is ClaimState.CLAIMED
    assert taker.token not in (None, crashed.token)

    await inbox.release("k", crashed.token)
    assert (await inbox.claim("k")).state is ClaimState.IN_PROGRESS


async def test_claims_expire_in_redis_and_done_marks_never_by_default(
    inbox: RedisInbox, raw_redis: redis.asyncio.Redis
) -> None:
    claim = await inbox.claim("k", ttl=60)
    assert claim.token is not None
    assert 59_000 < await raw_redis.pttl("ntrvsta:inbox:k") <= 60_000
    await inbox.complete("k", claim.token)
    assert await raw_redis.get("ntrvsta:inbox:k") == "done"
    assert await raw_redis.pttl("ntrvsta:inbox:k") == -1


async def test_done_ttl_keeps_done_marks_for_the_retention_period(
    redis_server: str, raw_redis: redis.asyncio.Redis
) -> None:
    async with RedisInbox(redis_server, done_ttl=3600) as inbox:
        claim = await inbox.claim("k", ttl=60)
        assert claim.token is not None
        await inbox.complete("k", claim.token)
        assert await inbox.is_done("k")
    assert 3_599_000 < await raw_redis.pttl("ntrvsta:inbox:k") <= 3_600_000


async def test_prefixes_keep_apps_apart(redis_server: str, raw_redis: redis.asyncio.Redis) -> None:
    async with (
        RedisInbox(redis_server, prefix="billing:") as billing,
        RedisInbox(redis_server, prefix="crm:") as crm,
    ):
        claim = await billing.claim("res_1")
        assert claim.token is not None
        await billing.complete("res_1", claim.token)
        assert await billing.set_checkpoint("poller", "b", fence=9)

        assert not await crm.is_done("res_1")
        assert (await crm.claim("res_1")).state is ClaimState.CLAIMED
        assert await crm.get_checkpoint("poller") is None
        assert await crm.set_checkpoint("poller", "c", fence=1)
        assert await billing.get_checkpoint("poller") == "b"
    keys = set(await raw_redis.keys("*"))
    assert keys == {
        "billing:inbox:res_1",
        "billing:checkpoint:poller",
        "crm:inbox:res_1",
        "crm:checkpoint:poller",
    }


async def test_replicas_share_claims_done_marks_and_fences(redis_server: str) -> None:
    replicas = [RedisInbox(redis_server) for _ in range(4)]
    try:
        claims = await asyncio.gather(*(r.claim("same") for r in replicas * 10))
        winners = [c for c in claims if c.state is ClaimState.CLAIMED]
        assert len(winners) == 1
        assert winners[0].token is not None
        await replicas[3].complete("same", winners[0].token)
        assert all(await asyncio.gather(*(r.is_done("same") for r in replicas)))

        assert await replicas[0].set_checkpoint("poller", "new leader", fence=7)
        assert not await replicas[1].set_checkpoint("poller", "deposed", fence=6)
        assert await replicas[2].get_checkpoint("poller") == "new leader"
    finally:
        await asyncio.gather(*(r.close() for r in replicas))


async def test_fence_out_of_the_exact_range_is_refused(inbox: RedisInbox) -> None:
    assert await inbox.set_checkpoint("c", "x", fence=2**53 - 1)
    with pytest.raises(ValueError, match="fence"):
        await inbox.set_checkpoint("c", "y", fence=2**53)
    assert await inbox.get_checkpoint("c") == "x"


async def test_unreachable_redis_raises_a_clean_sdk_error_without_the_password() -> None:
    with closed_port() as port:
        url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
        async with RedisInbox(url, retries=0, socket_timeout=0.5) as inbox:
            assert "hunter2" not in repr(inbox)
            with pytest.raises(InboxError) as caught:
                await inbox.claim("k")
            with pytest.raises(InboxError):
                await inbox.set_checkpoint("c", "v", fence=1)
    assert isinstance(caught.value, NtrvstaError)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_restarted_redis_is_used_again(redis_process: RedisProcess) -> None:
    async with RedisInbox(redis_process.url, retries=0) as inbox:
        first = await inbox.claim("before")
        assert first.token is not None
        await inbox.complete("before", first.token)
        redis_process.stop()
        with pytest.raises(InboxError):
            await inbox.claim("during")
        redis_process.start()
        assert await inbox.is_done("before"), "the AOF kept the done mark"
        assert (await inbox.claim("after")).state is ClaimState.CLAIMED


def test_repr_and_bad_settings() -> None:
    inbox = RedisInbox("rediss://app:s3cret@cache.internal:6380/2?password=s3cret")
    assert "s3cret" not in repr(inbox)
    assert "cache.internal:6380/2" in repr(inbox)
    with pytest.raises(ConfigurationError, match="URL"):
        RedisInbox("localhost:6379")
    with pytest.raises(ConfigurationError, match="done_ttl"):
        RedisInbox("redis://localhost", done_ttl=0)


def test_missing_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'ntrvsta-async\[redis\]'"):
        RedisInbox("redis://localhost:6379/0")


def test_importing_reconcile_does_not_import_redis() -> None:
    code = (
        "import sys, ntrvsta_async.reconcile;"
        "print(any(m.split('.')[0] == 'redis' for m in sys.modules))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


async def test_correct_use_emits_no_warning(redis_server: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with RedisInbox(redis_server) as inbox, RedisLease(redis_server, "w", ttl=5) as lease:
            claim = await inbox.claim(("a", "b"))
            assert claim.token is not None
            await inbox.complete(("a", "b"), claim.token)
            assert await lease.acquire()


@pytest.mark.parametrize("owner", [RedisInbox, RedisLease])
@pytest.mark.parametrize(
    "url", ["redis://:hunter2secret@h:notaport/0", "redis://user:hunter2secret@h:99999999"]
)
def test_unreadable_url_is_a_configuration_error_without_the_password(
    owner: type[RedisInbox] | type[RedisLease], url: str
) -> None:
    make: Callable[[], object] = (
        (lambda: RedisLease(url, "x", ttl=5)) if owner is RedisLease else (lambda: RedisInbox(url))
    )
    with pytest.raises(ConfigurationError) as caught:
        make()
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(caught.value)

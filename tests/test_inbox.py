"""The Inbox contract, run against every backend, plus SQLite durability."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ntrvsta_async import ConfigurationError
from ntrvsta_async.reconcile import Claim, ClaimState, Inbox, MemoryInbox, SQLiteInbox


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


InboxFactory = Callable[[FakeClock], Inbox]


@pytest.fixture(params=["memory", "sqlite"])
def make_inbox(request: pytest.FixtureRequest, tmp_path: Path) -> InboxFactory:
    if request.param == "memory":
        return lambda clock: MemoryInbox(clock=clock)
    return lambda clock: SQLiteInbox(tmp_path / "inbox.sqlite3", clock=clock)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def inbox(make_inbox: InboxFactory, clock: FakeClock) -> AsyncIterator[Inbox]:
    async with make_inbox(clock) as opened:
        yield opened


async def test_backends_satisfy_the_protocol(inbox: Inbox) -> None:
    assert isinstance(inbox, Inbox)


async def test_first_claim_wins_then_in_progress_then_done(inbox: Inbox) -> None:
    first = await inbox.claim("res_1")
    assert first.state is ClaimState.CLAIMED
    assert first.acquired
    assert first.token

    assert await inbox.claim("res_1") == Claim(ClaimState.IN_PROGRESS, None)
    assert not await inbox.is_done("res_1")

    await inbox.complete("res_1", first.token)
    assert await inbox.is_done("res_1")
    assert await inbox.claim("res_1") == Claim(ClaimState.DONE, None)
    assert (await inbox.claim("res_2")).state is ClaimState.CLAIMED


async def test_release_lets_the_key_be_claimed_again(inbox: Inbox) -> None:
    claim = await inbox.claim("k")
    assert claim.token is not None
    await inbox.release("k", "not-the-token")
    assert (await inbox.claim("k")).state is ClaimState.IN_PROGRESS

    await inbox.release("k", claim.token)
    again = await inbox.claim("k")
    assert again.state is ClaimState.CLAIMED
    assert again.token != claim.token


async def test_expired_claim_is_taken_over(inbox: Inbox, clock: FakeClock) -> None:
    crashed = await inbox.claim("k", ttl=10)
    assert crashed.token is not None
    clock.now += 9.9
    assert (await inbox.claim("k", ttl=10)).state is ClaimState.IN_PROGRESS
    clock.now += 0.2
    taker = await inbox.claim("k", ttl=10)
    assert taker.state is ClaimState.CLAIMED
    assert taker.token not in (None, crashed.token)

    await inbox.release("k", crashed.token)
    assert (await inbox.claim("k")).state is ClaimState.IN_PROGRESS


async def test_stale_token_completion_still_marks_done(inbox: Inbox, clock: FakeClock) -> None:
    slow = await inbox.claim("k", ttl=5)
    clock.now += 6
    taker = await inbox.claim("k", ttl=5)
    assert slow.token is not None
    assert taker.token is not None

    await inbox.complete("k", slow.token)
    assert await inbox.is_done("k")
    await inbox.release("k", taker.token)
    assert await inbox.is_done("k")


async def test_done_is_permanent(inbox: Inbox, clock: FakeClock) -> None:
    claim = await inbox.claim("k", ttl=1)
    assert claim.token is not None
    await inbox.complete("k", claim.token)
    await inbox.release("k", claim.token)
    clock.now += 10_000
    assert (await inbox.claim("k", ttl=1)).state is ClaimState.DONE


async def test_concurrent_claims_have_exactly_one_winner(inbox: Inbox) -> None:
    claims = await asyncio.gather(*(inbox.claim("same") for _ in range(50)))
    states = [c.state for c in claims]
    assert states.count(ClaimState.CLAIMED) == 1
    assert states.count(ClaimState.IN_PROGRESS) == 49


async def test_checkpoints_store_values_and_respect_fences(inbox: Inbox) -> None:
    assert await inbox.get_checkpoint("cursor") is None
    assert await inbox.set_checkpoint("cursor", "a")
    assert await inbox.get_checkpoint("cursor") == "a"

    assert await inbox.set_checkpoint("cursor", "b", fence=5)
    assert not await inbox.set_checkpoint("cursor", "stale", fence=4)
    assert await inbox.get_checkpoint("cursor") == "b"
    assert await inbox.set_checkpoint("cursor", "c", fence=5)
    assert await inbox.set_checkpoint("cursor", "d")
    assert not await inbox.set_checkpoint("cursor", "stale", fence=4)
    assert await inbox.get_checkpoint("cursor") == "d"
    assert await inbox.set_checkpoint("cursor", "e", fence=6)
    assert await inbox.get_checkpoint("cursor") == "e"

    assert await inbox.set_checkpoint("other", "x", fence=1)
    assert await inbox.get_checkpoint("other") == "x"


async def test_non_positive_ttl_is_refused(inbox: Inbox) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await inbox.claim("k", ttl=0)


async def test_closed_inbox_refuses_use(make_inbox: InboxFactory, clock: FakeClock) -> None:
    inbox = make_inbox(clock)
    async with inbox:
        await inbox.claim("k")
    with pytest.raises(ConfigurationError, match="closed"):
        await inbox.claim("k")
    await inbox.close()


async def test_sqlite_state_survives_close_and_reopen(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state" / "inbox.db"
    path.parent.mkdir()
    async with SQLiteInbox(path, clock=clock) as first:
        done = await first.claim("done-key")
        assert done.token is not None
        await first.complete("done-key", done.token)
        assert (await first.claim("held-key", ttl=60)).state is ClaimState.CLAIMED
        assert await first.set_checkpoint("poller", "2025-01-01T00:00:00Z", fence=3)

    async with SQLiteInbox(path, clock=clock) as second:
        assert await second.is_done("done-key")
        assert (await second.claim("done-key")).state is ClaimState.DONE
        assert (await second.claim("held-key")).state is ClaimState.IN_PROGRESS
        assert await second.get_checkpoint("poller") == "2025-01-01T00:00:00Z"
        assert not await second.set_checkpoint("poller", "older", fence=2)
        clock.now += 61
        assert (await second.claim("held-key")).state is ClaimState.CLAIMED


async def test_sqlite_uses_wal_and_creates_tables(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    async with SQLiteInbox(path) as inbox:
        await inbox.is_done("x")
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master")}
        raw.close()
    assert {"ntrvsta_inbox", "ntrvsta_checkpoints"} <= tables


async def test_two_sqlite_connections_share_one_winner(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    async with SQLiteInbox(path) as a, SQLiteInbox(path) as b:
        claims = await asyncio.gather(*(inbox.claim("k") for inbox in (a, b) * 10))
    assert [c.state for c in claims].count(ClaimState.CLAIMED) == 1


async def test_unopened_sqlite_inbox_closes_cleanly(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "never.db")
    await inbox.close()
    assert not (tmp_path / "never.db").exists()
    assert "closed" in repr(inbox)


def test_missing_aiosqlite_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "aiosqlite", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'ntrvsta-async\[sqlite\]'"):
        SQLiteInbox(tmp_path / "x.db")

"""The Inbox contract, run against every backend, plus SQLite durability."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ntrvsta_async import ConfigurationError
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import ClaimState, Inbox, MemoryInbox, SQLiteInbox
from ntrvsta_async.testing import Elapse, InboxContract


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def elapse(clock: FakeClock) -> Elapse:
    async def elapse(seconds: float) -> None:
        clock.now += seconds
        await asyncio.sleep(seconds)

    return elapse


class TestMemoryInbox(InboxContract):
    @pytest.fixture
    async def inbox(self, clock: FakeClock) -> AsyncIterator[Inbox]:
        async with MemoryInbox(clock=clock) as opened:
            yield opened


class TestSQLiteInbox(InboxContract):
    @pytest.fixture
    async def inbox(self, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Inbox]:
        async with SQLiteInbox(tmp_path / "inbox.sqlite3", clock=clock) as opened:
            yield opened


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


async def test_a_locked_sqlite_file_is_an_inbox_error(tmp_path: Path) -> None:
    path = tmp_path / "inbox.db"
    async with SQLiteInbox(path) as inbox:
        await inbox.is_done("warm-up")  # creates the file and its tables
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        async with SQLiteInbox(path, busy_timeout=0.1) as blocked:
            with pytest.raises(InboxError, match="locked"):
                await blocked.claim(("r", "u"))
            with pytest.raises(InboxError):
                await blocked.get_checkpoint("x")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


async def test_an_unclosed_sqlite_inbox_says_how_to_close_it(tmp_path: Path) -> None:
    inbox = SQLiteInbox(tmp_path / "inbox.db")
    await inbox.is_done("x")
    with pytest.warns(ResourceWarning, match="async with"):
        inbox.__del__()
    await inbox.close()


def loaded_after(code: str, modules: tuple[str, ...]) -> str:
    """Which of ``modules`` a fresh interpreter has loaded after running ``code``, as it prints
    them: comma-separated."""
    probe = f"{code}\nimport sys\nprint(','.join(m for m in {modules!r} if m in sys.modules))\n"
    result = subprocess.run(  # noqa: S603 - the interpreter running the tests
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_the_webhooks_loads_no_poller_and_no_backend() -> None:
    code = (
        "import ntrvsta_async.webhooks, ntrvsta_async.inbox\n"
        "from ntrvsta_async.webhooks import webhook_handler, WebhookVerifier\n"
    )
    modules = (
        "ntrvsta_async.reconcile",
        "ntrvsta_async.reconcile.poller",
        "ntrvsta_async.inbox.sqlite",
        "ntrvsta_async.inbox.redis",
        "ntrvsta_async.inbox.postgres",
        "aiosqlite",
        "redis",
        "asyncpg",
    )
    assert loaded_after(code, modules) == ""


def test_the_backends_load_on_first_use_under_both_packages() -> None:
    from ntrvsta_async import inbox, reconcile

    assert inbox.SQLiteInbox is reconcile.SQLiteInbox is SQLiteInbox
    assert reconcile.RedisInbox is inbox.RedisInbox
    with pytest.raises(AttributeError):
        _ = inbox.NoSuchInbox


def test_dir_lists_the_lazy_backends_without_loading_them() -> None:
    code = (
        "import ntrvsta_async.inbox as inbox, ntrvsta_async.reconcile as reconcile\n"
        "names = {'SQLiteInbox', 'RedisInbox', 'PostgresInbox'}\n"
        "assert names <= set(dir(inbox)), dir(inbox)\n"
        "assert names | {'RedisLease', 'PostgresLease'} <= set(dir(reconcile)), dir(reconcile)\n"
    )
    lazy = (
        "ntrvsta_async.inbox.sqlite",
        "ntrvsta_async.inbox.redis",
        "ntrvsta_async.inbox.postgres",
        "ntrvsta_async.reconcile.redis_lease",
    )
    assert loaded_after(code, lazy) == ""

"""``PostgresInbox`` on a real PostgreSQL: the shared Inbox contract in both modes, then what
only it does (handler writes in the done mark's transaction, claims that are locks of an
open transaction, schema and prefixes, a given pool, errors without the password)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from ntrvsta_async import ConfigurationError
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import (
    AlreadyHandledError,
    ClaimState,
    PostgresInbox,
    current_connection,
    schema_sql,
)
from ntrvsta_async.testing import InboxContract
from tests.support.postgres_support import (
    PASSWORD,
    Freezer,
    PostgresCluster,
    postgres_cluster,
    postgres_dsn,
)
from tests.support.redis_support import eventually

__all__ = ["postgres_cluster", "postgres_dsn"]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
RID = "res_1"
URL = "https://app.ntrvsta.test/results/res_1"


@pytest.fixture
async def elapse() -> Callable[[float], Awaitable[None]]:
    # Claims expire on the database server's clock: let real time pass.
    return asyncio.sleep


class TestTransactionalContract(InboxContract):
    """The default mode: handlers run inside the transaction of their done mark."""

    @pytest.fixture
    async def inbox(self, postgres_dsn: str) -> AsyncIterator[PostgresInbox]:
        async with PostgresInbox(postgres_dsn) as opened:
            yield opened


class TestPlainContract(InboxContract):
    """``transactional=False``: handlers under renewed claims, as with the other backends."""

    @pytest.fixture
    async def inbox(self, postgres_dsn: str) -> AsyncIterator[PostgresInbox]:
        async with PostgresInbox(postgres_dsn, transactional=False) as opened:
            yield opened


@pytest.fixture
async def inbox(postgres_dsn: str) -> AsyncIterator[PostgresInbox]:
    async with PostgresInbox(postgres_dsn) as opened:
        yield opened


@pytest.fixture
async def db(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_dsn)
    await conn.execute("CREATE TABLE scores (result_id text PRIMARY KEY, score int)")
    try:
        yield conn
    finally:
        await conn.close()


async def insert_score(result_id: str, score: int = 1) -> None:
    await current_connection().execute("INSERT INTO scores VALUES ($1, $2)", result_id, score)


async def scores(db: asyncpg.Connection) -> list[str]:
    return [row[0] for row in await db.fetch("SELECT result_id FROM scores ORDER BY 1")]


async def test_handler_rows_commit_with_the_done_mark_or_not_at_all(
    inbox: PostgresInbox, db: asyncpg.Connection
) -> None:
    assert await inbox.handle((RID, URL), lambda: insert_score(RID)) == (ClaimState.CLAIMED, None)
    assert await scores(db) == [RID]
    assert await inbox.is_done(URL)

    async def writes_then_fails() -> None:
        await insert_score("res_2")
        raise RuntimeError("downstream refused")

    state, error = await inbox.handle("res_2", writes_then_fails)
    assert state is ClaimState.CLAIMED
    assert isinstance(error, RuntimeError)
    assert await scores(db) == [RID], "the failed handler's row was rolled back"
    assert not await inbox.is_done("res_2")
    assert await inbox.handle("res_2", lambda: insert_score("res_2")) == (ClaimState.CLAIMED, None)
    assert await inbox.handle((URL,), lambda: insert_score(RID)) == (ClaimState.DONE, None)
    assert await scores(db) == [RID, "res_2"]


async def test_the_receiver_path_claims_first_and_runs_in_the_transaction_later(
    inbox: PostgresInbox, db: asyncpg.Connection
) -> None:
    claim = await inbox.claim((RID, URL), ttl=300)
    assert claim.token is not None
    assert (await inbox.claim(URL)).state is ClaimState.IN_PROGRESS
    seen: list[ClaimState] = []

    async def work() -> None:
        seen.append((await inbox.claim(RID)).state)
        await insert_score(RID)

    assert await inbox.run_claimed((RID, URL), claim.token, work, ttl=300) is None
    assert seen == [ClaimState.IN_PROGRESS], "the transaction's lock holds the result"
    assert await scores(db) == [RID]
    assert (await inbox.claim(RID)).state is ClaimState.DONE


async def test_a_handler_that_marks_its_result_done_itself_is_not_cancelled(
    inbox: PostgresInbox, db: asyncpg.Connection
) -> None:
    async def marks_itself() -> None:
        await inbox.mark_done_in(current_connection(), RID)
        await asyncio.sleep(0.3)  # past one check of the claim (ttl / 3)
        await insert_score(RID)

    assert await inbox.handle(RID, marks_itself, ttl=0.3) == (ClaimState.CLAIMED, None)
    assert await scores(db) == [RID]


async def test_current_connection_outside_a_handler_is_an_error(inbox: PostgresInbox) -> None:
    with pytest.raises(ConfigurationError, match="only available inside a handler"):
        current_connection()
    leaked: list[asyncio.Task[None]] = []

    async def leaves_a_task_behind() -> None:
        async def later() -> None:
            await asyncio.sleep(0.05)
            current_connection()

        leaked.append(asyncio.create_task(later()))

    assert await inbox.handle(RID, leaves_a_task_behind) == (ClaimState.CLAIMED, None)
    with pytest.raises(ConfigurationError):
        await leaked[0]


async def test_mark_done_in_a_transaction_of_ones_own(
    inbox: PostgresInbox, db: asyncpg.Connection
) -> None:
    async with db.transaction():
        await db.execute("INSERT INTO scores VALUES ($1, 1)", RID)
        await inbox.mark_done_in(db, (RID, URL))
    assert await inbox.is_done(URL)

    async def again() -> None:
        async with db.transaction():
            await db.execute("INSERT INTO scores VALUES ('again', 1)")
            await inbox.mark_done_in(db, URL)

    with pytest.raises(AlreadyHandledError):
        await again()
    assert await scores(db) == [RID], "the second transaction rolled back"
    with pytest.raises(ConfigurationError, match="inside a transaction"):
        await inbox.mark_done_in(db, "res_3")


HOLDER = """
import asyncio, sys
from ntrvsta_async.reconcile import PostgresInbox, current_connection

async def main(dsn, mode):
    inbox = PostgresInbox(dsn)
    async def work():
        await current_connection().execute("INSERT INTO scores VALUES ('res_1', 1)")
        print("running", flush=True)
        await asyncio.Event().wait()
    if mode == "poller":
        await inbox.handle(("res_1", "url_1"), work, ttl=300)
    else:
        claim = await inbox.claim(("res_1", "url_1"), ttl=300)
        await inbox.run_claimed(("res_1", "url_1"), claim.token, work, ttl=300)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("mode", ["poller", "receiver"])
async def test_a_killed_holder_releases_its_claim_at_once(
    mode: str, inbox: PostgresInbox, db: asyncpg.Connection, postgres_dsn: str
) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER,
        postgres_dsn,
        mode,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert await asyncio.wait_for(holder.stdout.readline(), 20) == b"running\n"
    assert (await inbox.claim("url_1", ttl=300)).state is ClaimState.IN_PROGRESS
    os.kill(holder.pid, signal.SIGKILL)
    await holder.wait()

    for _ in range(100):  # the server notices the closed socket within moments, not 300 s
        claim = await inbox.claim("url_1", ttl=300)
        if claim.state is not ClaimState.IN_PROGRESS:
            break
        await asyncio.sleep(0.05)
    assert claim.state is ClaimState.CLAIMED
    assert await scores(db) == [], "the killed handler's row was never committed"


async def test_schema_and_prefix_keep_inboxes_apart(postgres_dsn: str) -> None:
    async with (
        PostgresInbox(postgres_dsn, table_prefix="app_a_") as a,
        PostgresInbox(postgres_dsn, schema="other", table_prefix="app_b_") as b,
    ):
        assert (await a.claim(RID)).state is ClaimState.CLAIMED
        assert (await b.claim(RID)).state is ClaimState.CLAIMED
        assert await a.set_checkpoint("c", "a")
        assert await b.get_checkpoint("c") is None
    conn = await asyncpg.connect(postgres_dsn)
    try:
        tables = {
            f"{row[0]}.{row[1]}"
            for row in await conn.fetch(
                "SELECT schemaname, tablename FROM pg_tables WHERE tablename LIKE 'app_%'"
            )
        }
    finally:
        await conn.close()
    assert tables == {
        "public.app_a_inbox",
        "public.app_a_checkpoints",
        "public.app_a_leases",
        "other.app_b_inbox",
        "other.app_b_checkpoints",
        "other.app_b_leases",
    }


async def test_a_dba_can_create_the_schema_ahead(postgres_dsn: str) -> None:
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(schema_sql(schema="ats", table_prefix="x_"))
        await conn.execute(schema_sql(schema="ats", table_prefix="x_"))  # idempotent
        await conn.execute("REVOKE CREATE ON SCHEMA ats FROM PUBLIC")
    finally:
        await conn.close()
    async with PostgresInbox(postgres_dsn, schema="ats", table_prefix="x_") as inbox:
        assert (await inbox.claim(RID)).state is ClaimState.CLAIMED


@pytest.mark.parametrize(
    ("option", "value"),
    [("schema", "bad-name"), ("schema", 'x"; DROP TABLE y; --'), ("table_prefix", "a b")],
)
def test_unsafe_names_are_refused(option: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=option):
        PostgresInbox("postgresql://u@localhost/db", **{option: value})  # type: ignore[arg-type]


async def test_a_given_pool_is_shared_and_left_open(
    postgres_dsn: str, db: asyncpg.Connection
) -> None:
    pool = await asyncpg.create_pool(postgres_dsn, min_size=1, max_size=4)
    try:
        async with PostgresInbox(pool) as inbox:
            assert await inbox.handle(RID, lambda: insert_score(RID)) == (ClaimState.CLAIMED, None)
            assert "a given asyncpg pool" in repr(inbox)
        assert await pool.fetchval("SELECT count(*) FROM scores") == 1, "the pool is still open"
    finally:
        await pool.close()


async def test_errors_name_the_database_but_never_the_password(
    postgres_cluster: PostgresCluster,
) -> None:
    wrong = postgres_cluster.dsn(password="wrong-Passw0rd-123")
    inbox = PostgresInbox(wrong)
    assert "wrong-Passw0rd-123" not in repr(inbox)
    assert PASSWORD not in repr(PostgresInbox(postgres_cluster.dsn()))
    with pytest.raises(InboxError) as caught:
        await inbox.claim(RID)
    await inbox.close()
    assert "password authentication failed" in str(caught.value)
    assert "wrong-Passw0rd-123" not in str(caught.value)
    assert f"127.0.0.1:{postgres_cluster.port}" in str(caught.value)

    with pytest.raises(ConfigurationError) as bad:
        PostgresInbox("mysql://user:Sekrit-99@db/x")
    assert "Sekrit-99" not in str(bad.value)
    with pytest.raises(ConfigurationError, match=r"asyncpg\.Pool"):
        PostgresInbox(42)  # type: ignore[arg-type]


async def test_an_unreachable_database_is_an_inbox_error(
    postgres_cluster: PostgresCluster,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        async with PostgresInbox(f"postgresql://u:Pw-0987@127.0.0.1:{port}/db") as inbox:
            with pytest.raises(InboxError) as caught:
                await inbox.is_done(RID)
    assert "Pw-0987" not in str(caught.value)


async def test_a_closed_inbox_refuses_use(postgres_dsn: str) -> None:
    inbox = PostgresInbox(postgres_dsn)
    assert (await inbox.claim(RID)).acquired
    await inbox.close()
    assert "closed" in repr(inbox)
    with pytest.raises(ConfigurationError, match="closed"):
        await inbox.claim(RID)


@pytest.fixture
async def holder_and_other(
    postgres_dsn: str,
) -> AsyncIterator[tuple[Freezer, PostgresInbox, PostgresInbox]]:
    """Two replicas' inboxes on one database; the holder's connections can be frozen."""
    freezer = Freezer()
    async with (
        freezer.pool(postgres_dsn) as pool,
        PostgresInbox(pool, transactional=False) as holder,
        PostgresInbox(postgres_dsn, transactional=False) as other,
    ):
        yield freezer, holder, other


@pytest.mark.parametrize(
    ("step", "seen"),
    [("complete", ClaimState.DONE), ("release", ClaimState.CLAIMED)],
)
async def test_a_holder_paused_right_after_its_done_mark_or_release_holds_nobody_up(
    holder_and_other: tuple[Freezer, PostgresInbox, PostgresInbox], step: str, seen: ClaimState
) -> None:
    freezer, holder, other = holder_and_other
    claim = await holder.claim(RID, ttl=30)
    assert claim.token is not None
    fragment = "DELETE" if step == "release" else "'done'"
    paused = await pause_after(freezer, fragment, getattr(holder, step)(RID, claim.token))
    answer = await while_paused(freezer, other.claim(RID, ttl=30))
    await paused
    assert answer.state is seen


async def test_a_holder_paused_right_after_renewing_is_taken_over_after_its_ttl(
    holder_and_other: tuple[Freezer, PostgresInbox, PostgresInbox],
) -> None:
    freezer, holder, other = holder_and_other
    claim = await holder.claim(RID, ttl=0.5)
    assert claim.token is not None
    paused = await pause_after(freezer, "UPDATE", holder.renew(RID, claim.token, ttl=0.5))
    await asyncio.sleep(0.7)
    answer = await while_paused(freezer, other.claim(RID, ttl=30))
    renewed = await paused
    assert renewed, "the renewal itself went through before the pause"
    assert answer.state is ClaimState.CLAIMED
    assert not await holder.renew(RID, claim.token, ttl=0.5), "then the claim was lost"


async def test_a_holder_paused_in_the_middle_of_claiming_holds_the_result_only_its_ttl(
    holder_and_other: tuple[Freezer, PostgresInbox, PostgresInbox],
) -> None:
    freezer, holder, other = holder_and_other
    paused = await pause_after(freezer, "'claimed', $2", holder.claim(RID, ttl=1))
    try:
        assert (await other.claim(RID, ttl=30)).state is ClaimState.IN_PROGRESS

        async def claimed() -> bool:
            return (await other.claim(RID, ttl=30)).state is ClaimState.CLAIMED

        await eventually(claimed, within=5, what="the paused claimer to lose the result")
    finally:
        freezer.thaw()
    with pytest.raises(InboxError):
        await paused  # its transaction was rolled back: it holds no claim


async def test_a_leader_paused_right_after_its_checkpoint_write_holds_up_no_later_leader(
    holder_and_other: tuple[Freezer, PostgresInbox, PostgresInbox],
) -> None:
    freezer, holder, other = holder_and_other
    assert await holder.set_checkpoint("poller", "first", fence=1)
    paused = await pause_after(
        freezer, "checkpoints", holder.set_checkpoint("poller", "a", fence=1)
    )
    written = await while_paused(freezer, other.set_checkpoint("poller", "b", fence=2))
    assert written, "the next leader's write went through"
    assert await paused, "the paused write itself went through before the pause"
    assert await other.get_checkpoint("poller") == "b"
    assert not await holder.set_checkpoint("poller", "stale", fence=1), "then it was fenced off"


async def pause_after(freezer: Freezer, fragment: str, call: Awaitable[T]) -> asyncio.Future[T]:
    """Start ``call`` and return once the holder is frozen after its ``fragment`` statement."""
    freezer.arm(fragment)
    started = asyncio.ensure_future(call)
    await asyncio.wait_for(freezer.frozen.wait(), 2)
    return started


async def while_paused(freezer: Freezer, call: Awaitable[T]) -> T:
    """Make ``call`` (as the other replica) while the holder is paused; then let it go on."""
    calling = asyncio.ensure_future(call)
    done, _ = await asyncio.wait([calling], timeout=2)
    freezer.thaw()
    answer = await calling
    assert done, f"the paused holder held the call up (then: {answer!r})"
    return answer

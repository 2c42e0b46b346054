"""``examples/sqlalchemy_results.py`` on a real PostgreSQL: each result's ORM row lands
once, in the transaction of its done mark; a second run of a result rolls back."""

from __future__ import annotations

import asyncio
import io
import sys
from contextlib import redirect_stdout
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from examples import sqlalchemy_results
from ntrvsta_async import NtrvstaClient
from ntrvsta_async.reconcile import AlreadyHandledError, PostgresInbox
from ntrvsta_async.sandbox import SandboxServer
from tests.support.postgres_support import postgres_cluster, postgres_dsn
from tests.support.redis_support import create_invitations

__all__ = ["postgres_cluster", "postgres_dsn"]

ROOT = Path(__file__).resolve().parent.parent


async def test_each_result_row_lands_once_with_its_done_mark(postgres_dsn: str) -> None:
    async with SandboxServer() as sandbox:
        invitations = await create_invitations(sandbox, 3)
        for invitation_id in invitations[:2]:
            await sandbox.complete(invitation_id)
        connection = ["--api-key", sandbox.api_key, "--base-url", sandbox.base_url]
        args = sqlalchemy_results.parse_args([postgres_dsn, *connection])
        with redirect_stdout(io.StringIO()):
            first = await sqlalchemy_results.run(args)
            second = await sqlalchemy_results.run(args)
        await sandbox.complete(invitations[2])
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "examples" / "sqlalchemy_results.py"),
            postgres_dsn,
            *connection,
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await process.communicate()
        keys = {r.result_id for r in sandbox.results}

        assert (first.handled, second.handled, second.skipped_duplicates) == (2, 0, 2)
        assert process.returncode == 0
        assert b"handled=1 " in stdout
        conn = await asyncpg.connect(postgres_dsn)
        try:
            stored = [row[0] for row in await conn.fetch("SELECT result_id FROM scores")]
        finally:
            await conn.close()
        assert sorted(stored) == sorted(keys)

        # A second run of a handled result (its claim lost, say) cannot add its row again.
        async with (
            NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client,
            PostgresInbox(postgres_dsn) as inbox,
        ):
            summary = await client.results.list().__anext__()
            engine = create_async_engine(
                make_url(postgres_dsn).set(drivername="postgresql+asyncpg")
            )
            try:
                sessions = async_sessionmaker(engine)
                store = sqlalchemy_results.store_scores(sessions, inbox)
                with pytest.raises(AlreadyHandledError):
                    await store(summary)
            finally:
                await engine.dispose()
        conn = await asyncpg.connect(postgres_dsn)
        try:
            again = await conn.fetchval(
                "SELECT count(*) FROM scores WHERE result_id = $1", summary.key
            )
        finally:
            await conn.close()
        assert again == 1, "the second run's row was rolled back"

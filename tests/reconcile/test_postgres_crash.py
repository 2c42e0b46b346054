"""A service on a transactional ``PostgresInbox`` killed with SIGKILL before, at and after
the commit of a handler that inserts a row, and restarted each time: with webhooks dropped
and duplicated, each result's row exists exactly once and no result is missing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from ntrvsta_async.reconcile import PostgresInbox
from ntrvsta_async.sandbox import FaultPlan, SandboxServer, WebhookFaults
from tests.conftest import complete_lines
from tests.support.postgres_support import postgres_cluster, postgres_dsn
from tests.support.redis_support import create_invitations, eventually

__all__ = ["postgres_cluster", "postgres_dsn"]

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-postgres-crash"
RESULTS = 500
# (how, at which handler call of that process); each round's process dies that way.
ROUNDS = [
    ("before-commit", 12),
    ("at-commit", 20),
    ("after-commit", 25),
    ("before-commit", 40),
    ("at-commit", 8),
    ("after-commit", 30),
]
FAULTS = FaultPlan(seed=21, webhooks=WebhookFaults(drop_rate=0.3, duplicate_rate=0.3))

SCHEMA = """
CREATE TABLE handled (result_id text NOT NULL, path text, pid int, slow boolean);
CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM pg_sleep(0.5); RETURN NULL; END $$;
CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON handled
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.slow) EXECUTE FUNCTION slow_commit();
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def db(postgres_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_dsn)
    await conn.execute(SCHEMA)
    try:
        yield conn
    finally:
        await conn.close()


class Service:
    """``tests.postgres_worker`` processes, one after the other, on one port and log."""

    def __init__(self, tmp_path: Path, base_url: str, api_key: str, dsn: str) -> None:
        self.log = tmp_path / "service.log"
        self.output = tmp_path / "service.out"
        self.port = free_port()
        self.base_url = base_url
        self.env = {**os.environ, "NTRVSTA_API_KEY": api_key, "NTRVSTA_WEBHOOK_SECRET": SECRET}
        self.dsn = dsn
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks"

    async def start(self, *options: str) -> asyncio.subprocess.Process:
        ready = self.readies()
        with self.output.open("ab") as output:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.postgres_worker",
                self.base_url,
                self.dsn,
                str(self.port),
                str(self.log),
                *options,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=output,
            )
        await eventually(lambda: self.readies() > ready, within=30, what="the service to start")
        return self.process

    def readies(self) -> int:
        return sum(line.startswith("ready ") for line in complete_lines(self.log))

    def kills(self) -> list[tuple[str, str]]:
        return [
            (words[1], words[2])
            for words in (line.split() for line in complete_lines(self.log))
            if words[0] == "kill"
        ]

    def describe(self) -> str:
        return self.output.read_text(errors="replace")[-3000:]


async def rows(db: asyncpg.Connection, key: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM handled WHERE result_id = $1", key))


async def run_rounds(
    service: Service,
    sandbox: SandboxServer,
    inbox: PostgresInbox,
    db: asyncpg.Connection,
    invitations: list[str],
) -> None:
    """Complete the results batch by batch, one service process per batch, each killed in
    its round's way; a last process handles the rest and stops cleanly."""
    batch = RESULTS // (len(ROUNDS) + 1)
    for n, (how, at) in enumerate(ROUNDS):
        process = await service.start("--kill", how, "--kill-at", str(at))
        for invitation_id in invitations[n * batch : (n + 1) * batch]:
            await sandbox.complete(invitation_id)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            pytest.fail(f"round {n} ({how}) never got killed: {service.describe()}")
        assert process.returncode == -signal.SIGKILL, service.describe()
        killed_how, key = service.kills()[-1]
        assert killed_how == how
        if how == "before-commit":
            assert await rows(db, key) == 0, "the open transaction was rolled back"
            assert not await inbox.is_done(key)
        else:
            # At commit the server finishes the COMMIT though its client is gone.
            async def done(key: str = key) -> bool:
                return await inbox.is_done(key)

            await eventually(done, within=5, what=f"{key} to be committed")
            assert await rows(db, key) == 1

    final = await service.start()
    for invitation_id in invitations[len(ROUNDS) * batch :]:
        await sandbox.complete(invitation_id)
    keys = {r.result_id for r in await sandbox.wait_for_results(RESULTS)}
    await sandbox.wait_deliveries_idle()

    async def all_done() -> bool:
        return all([await inbox.is_done(key) for key in keys])

    await eventually(all_done, within=60, what="every result to be handled", step=0.2)
    await asyncio.sleep(1.0)  # a few more poller passes: nothing may run again
    final.send_signal(signal.SIGTERM)
    assert await final.wait() == 0, service.describe()


@pytest.mark.slow
async def test_killed_at_any_instant_each_result_row_exists_exactly_once(
    db: asyncpg.Connection, postgres_dsn: str, tmp_path: Path
) -> None:
    async with SandboxServer(faults=FAULTS, seed=21) as sandbox:
        service = Service(tmp_path, sandbox.base_url, sandbox.api_key, postgres_dsn)
        sandbox.configure_webhook(service.url, SECRET)
        invitations = await create_invitations(sandbox, RESULTS)
        async with PostgresInbox(postgres_dsn) as inbox:
            try:
                await run_rounds(service, sandbox, inbox, db, invitations)
            finally:
                if service.process is not None and service.process.returncode is None:
                    service.process.kill()
                    await service.process.wait()
        keys = {r.result_id for r in sandbox.results}

    assert len(keys) == RESULTS
    counts = {
        row["result_id"]: row["n"]
        for row in await db.fetch("SELECT result_id, count(*) AS n FROM handled GROUP BY 1")
    }
    assert set(counts) == keys, "no result is missing"
    assert [key for key, n in counts.items() if n != 1] == [], "each row exists exactly once"
    paths = {row[0] for row in await db.fetch("SELECT DISTINCT path FROM handled")}
    assert paths == {"webhook", "poller"}, "both paths handled results"
    assert len(service.kills()) == len(ROUNDS)

"""Chaos soak: a heavily faulty sandbox, thousands of invitations and results, the webhook
receiver in this process and a poller process killed with SIGKILL and restarted several times,
all on one SQLite inbox. Every invitation is accounted for and every result handled exactly
once, but for handlers killed between their end and their done mark.

``make test`` runs the short size; ``NTRVSTA_SOAK=long`` selects the long one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

import attrs
import pytest
from aiohttp import web

from ntrvsta_async import (
    Candidate,
    InvitationRequest,
    NtrvstaClient,
    ResultCompletedEvent,
    RetryPolicy,
)
from ntrvsta_async.reconcile import SQLiteInbox
from ntrvsta_async.sandbox import FaultPlan, RouteFaults, SandboxServer, WebhookFaults
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks
from tests.conftest import complete_lines, serve
from tests.support.soak_worker import CONCURRENCY

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec-soak-0123456789"
SEED = 20260511
WARNING_SIGNS = ("Unclosed", "unclosed", "Task was destroyed", "ResourceWarning", "Traceback")


@attrs.frozen
class Soak:
    """How hard the soak pushes: invitations (one result each), poller kills, time allowed."""

    name: str
    invitations: int
    kills: int
    deadline: float


SOAK = (
    Soak("long", invitations=10_000, kills=12, deadline=600.0)
    if os.environ.get("NTRVSTA_SOAK") == "long"
    else Soak("short", invitations=1000, kills=4, deadline=150.0)
)

FAULTS = FaultPlan(
    seed=SEED,
    default=RouteFaults(
        rate_429=0.05, rate_500=0.08, rate_502=0.06, rate_503=0.06, reset_rate=0.03, retry_after=0
    ),
    webhooks=WebhookFaults(
        drop_rate=0.4,
        duplicate_rate=0.2,
        reorder_rate=0.2,
        delay_rate=0.1,
        delay=0.05,
        reorder_window=0.2,
    ),
)


def ended(log: Path) -> list[str]:
    """Keys whose handler finished, in order, from a handler log."""
    return [line[4:] for line in complete_lines(log) if line.startswith("end ")]


def started(log: Path) -> list[str]:
    """Keys whose handler began, from a handler log."""
    return [line[6:] for line in complete_lines(log) if line.startswith("start ")]


@attrs.define
class Receiver:
    """The in-process webhook receiver; its handler logs ``end <key>`` durably."""

    inbox: SQLiteInbox
    log: TextIO
    url: str = ""

    async def on_event(self, event: ResultCompletedEvent) -> None:
        self.log.write(f"start {event.key}\n")
        await asyncio.sleep(0.002)
        self.log.write(f"end {event.key}\n")
        self.log.flush()
        os.fsync(self.log.fileno())


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[Receiver]:
    with (tmp_path / "webhook.log").open("a") as log:
        async with SQLiteInbox(tmp_path / "inbox.sqlite3") as inbox:
            receiver = Receiver(inbox, log)
            app = web.Application()
            setup_webhooks(app, WebhookVerifier(SECRET), receiver.on_event, inbox=inbox)
            async with serve(app, backlog=1024, access_log=None, shutdown_timeout=5.0) as url:
                receiver.url = f"{url}/webhooks"
                yield receiver


@attrs.define
class Pollers:
    """Poller processes, one after another, each with its own handler log."""

    folder: Path
    base_url: str
    api_key: str
    logs: list[Path] = attrs.Factory(list)
    stderr: list[Path] = attrs.Factory(list)
    processes: list[asyncio.subprocess.Process] = attrs.Factory(list)
    at_risk: Counter[str] = attrs.Factory(Counter)
    kills: int = 0
    interrupted_handlers: int = 0

    async def spawn(self) -> asyncio.subprocess.Process:
        n = len(self.logs)
        log, out, err = (self.folder / f"poller-{n}.{ext}" for ext in ("log", "out", "err"))
        self.logs.append(log)
        self.stderr.append(err)
        with out.open("w") as stdout, err.open("w") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-W",
                "always::ResourceWarning",
                "-m",
                "tests.support.soak_worker",
                self.base_url,
                str(self.folder / "inbox.sqlite3"),
                str(log),
                cwd=ROOT,
                env={**os.environ, "NTRVSTA_API_KEY": self.api_key},
                stdout=stdout,
                stderr=stderr,
            )
        self.processes.append(process)
        return process

    async def reap(self) -> None:
        """Kill whatever poller process is still running (after a failure)."""
        for process in self.processes:
            if process.returncode is None:
                process.kill()
                await process.wait()

    async def kill_when_busy(
        self, worker: asyncio.subprocess.Process, inbox: SQLiteInbox, rng: random.Random
    ) -> None:
        """SIGKILL the worker right as one of its handlers starts or ends (alternately), and
        note which of its finished handlers had no done mark yet: only those may run again.

        A worker that finds nothing to do within 10 s is killed all the same."""
        tail = LogTail(self.logs[-1])
        moment = "end " if self.kills % 2 else "start "
        target = rng.randint(1, 12)
        seen, since = 0, time.monotonic()
        while seen < target and time.monotonic() - since < 10:
            assert worker.returncode is None, self.stderr[-1].read_text()
            await asyncio.sleep(0.002)
            fresh = sum(line.startswith(moment) for line in tail.new_lines())
            if fresh and not seen:
                since = time.monotonic()
            seen += fresh
        worker.send_signal(signal.SIGKILL)
        assert await worker.wait() == -signal.SIGKILL
        self.kills += 1
        finished = set(ended(tail.path))
        self.interrupted_handlers += len(set(started(tail.path)) - finished)
        unmarked = [key for key in finished if not await inbox.is_done(key)]
        assert len(unmarked) <= CONCURRENCY
        self.at_risk.update(unmarked)


@attrs.define
class LogTail:
    """The complete lines appended to a log since the last look."""

    path: Path
    offset: int = 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.offset += len(complete)
        return complete.decode().splitlines()


async def invite_everyone(
    client: NtrvstaClient, template_id: str, count: int
) -> tuple[dict[str, str], int]:
    """Invite ``count`` candidates, re-running the failures; invitation id per email, and how
    many fan-out rounds it took. Every round yields exactly one outcome per input."""
    emails = [f"soak{n:05d}@example.com" for n in range(count)]
    invited: dict[str, str] = {}
    rounds = 0
    while len(invited) < count and rounds < 5:
        rounds += 1
        todo = [e for e in emails if e not in invited]
        run = client.invitations.create_many(
            (InvitationRequest(template_id, Candidate(email=e)) for e in todo), concurrency=64
        )
        indexes: list[int] = []
        async for outcome in run:
            indexes.append(outcome.index)
            if outcome.invitation is not None:
                invited[todo[outcome.index]] = outcome.invitation.invitation_id
        assert sorted(indexes) == list(range(len(todo))), "one outcome per input"
    return invited, rounds


@pytest.mark.slow
@pytest.mark.parametrize("soak", [SOAK], ids=[SOAK.name])
async def test_chaos_soak(
    soak: Soak, receiver: Receiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="asyncio")
    rng = random.Random(SEED)
    began = time.monotonic()
    async with (
        asyncio.timeout(soak.deadline),
        SandboxServer(
            webhook_url=receiver.url,
            webhook_secret=SECRET,
            faults=FAULTS,
            auto_complete=0.2,
            seed=SEED,
        ) as sandbox,
    ):
        pollers = Pollers(tmp_path, sandbox.base_url, sandbox.api_key)
        policy = RetryPolicy(max_retries=10, initial_backoff=0.01, max_backoff=0.2)

        async def chaos() -> asyncio.subprocess.Process:
            for _ in range(soak.kills):
                worker = await pollers.spawn()
                await pollers.kill_when_busy(worker, receiver.inbox, rng)
            return await pollers.spawn()

        chaos_task = asyncio.create_task(chaos())
        try:
            async with NtrvstaClient(
                api_key=sandbox.api_key,
                base_url=sandbox.base_url,
                retry_policy=policy,
            ) as client:
                template = await client.templates.create(
                    title="Soak", external_posting_id=f"soak-{SEED}"
                )
                invited, rounds = await invite_everyone(
                    client, template.template_id, soak.invitations
                )
            final = await chaos_task

            await sandbox.wait_for_results(soak.invitations)
            await sandbox.wait_deliveries_idle()
            keys = {r.result_id for r in sandbox.results}
            pending = set(keys)
            while pending:
                pending = {key for key in pending if not await receiver.inbox.is_done(key)}
                assert final.returncode is None, pollers.stderr[-1].read_text()
                await asyncio.sleep(0.2)
            final.send_signal(signal.SIGTERM)
            assert await final.wait() == 0, pollers.stderr[-1].read_text()
        finally:
            chaos_task.cancel()
            await asyncio.gather(chaos_task, return_exceptions=True)
            await pollers.reap()

        faults = Counter(f.kind for f in sandbox.injected_faults)
        stats = sandbox.deliveries.stats
        stored = sandbox.invitations
        results = sandbox.results

    # Every invitation accounted for: one per candidate, despite retried POSTs.
    assert len(invited) == soak.invitations
    assert len(stored) == soak.invitations
    assert {i.invitation_id for i in stored} == set(invited.values())
    assert len({r.invitation_id for r in results}) == len(results) == soak.invitations
    assert {r.invitation_id for r in results} == set(invited.values())

    # The plan really was hostile.
    assert min(faults[kind] for kind in ("429", "500", "502", "503", "reset")) > 0
    assert min(stats.dropped, stats.duplicated, stats.reordered) > 0
    assert pollers.kills == soak.kills

    # Every result handled exactly once, but for handlers killed between end and done mark.
    webhook = Counter(ended(tmp_path / "webhook.log"))
    polled: Counter[str] = Counter()
    for log in pollers.logs:
        polled.update(ended(log))
    handled = webhook + polled
    assert set(handled) == keys, "every result handled, nothing unknown"
    repeats = {key: n for key, n in handled.items() if n > 1}
    runs_allowed = {key: 1 + pollers.at_risk[key] for key in keys}
    assert handled == runs_allowed, "once, plus once per kill between end and done mark"
    assert webhook, "the receiver handled deliveries"
    assert polled, "the pollers recovered dropped deliveries"

    # No warnings, in this process or the pollers.
    for err in pollers.stderr:
        text = err.read_text()
        assert not [sign for sign in WARNING_SIGNS if sign in text], text
    assert not [r for r in caplog.records if r.name == "asyncio"], caplog.text

    print(
        f"\nsoak {soak.name}: {soak.invitations} invitations in {rounds} fan-out round(s),"
        f" {len(keys)} results, {time.monotonic() - began:.1f} s;"
        f" faults {dict(sorted(faults.items()))}; webhooks dropped {stats.dropped},"
        f" duplicated {stats.duplicated}, reordered {stats.reordered};"
        f" handled via webhook {len(webhook)}, by pollers {len(polled)};"
        f" {pollers.kills} kills interrupting {pollers.interrupted_handlers} handlers,"
        f" {len(pollers.at_risk)} finished-but-unmarked, {len(repeats)} repeated"
    )

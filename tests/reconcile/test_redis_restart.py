"""Two replicas (pollers with their own RedisInbox and RedisLease) survive a Redis restart
mid-run: the outage is reported, then work resumes and nothing is lost."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import timedelta

import pytest

from ntrvsta_async import NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import ReconcileReport, RedisInbox, RedisLease, ResultPoller
from ntrvsta_async.sandbox import SandboxServer
from tests.support.redis_support import RedisProcess, create_invitations, eventually, redis_process

__all__ = ["redis_process"]

RESULTS = 800
CONCURRENCY = 4
TTL = 1.0


@pytest.mark.slow
async def test_replicas_survive_a_redis_restart_mid_run(redis_process: RedisProcess) -> None:
    handled: list[tuple[str, float]] = []
    reports: list[tuple[float, str, ReconcileReport]] = []

    async def handler(result: ResultSummary) -> None:
        await asyncio.sleep(0.003)
        handled.append((result.key, time.monotonic()))

    def recorder(replica: str) -> object:
        def record(report: ReconcileReport) -> None:
            reports.append((time.monotonic(), replica, report))

        return record

    url = redis_process.url
    async with SandboxServer() as sandbox:
        invitations = await create_invitations(sandbox, RESULTS)
        for invitation_id in invitations[: RESULTS // 2]:
            await sandbox.complete(invitation_id)
        async with (
            NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client,
            RedisInbox(url) as inbox_a,
            RedisInbox(url) as inbox_b,
            RedisLease(url, "poller", ttl=TTL) as lease_a,
            RedisLease(url, "poller", ttl=TTL) as lease_b,
        ):
            pollers = [
                ResultPoller(
                    client,
                    handler,
                    inbox=inbox,
                    lease=lease,
                    interval=0.1,
                    concurrency=CONCURRENCY,
                    page_size=50,
                    claim_ttl=1.0,
                    lookback=timedelta(seconds=1),
                    on_report=recorder(name),  # type: ignore[arg-type]
                )
                for name, inbox, lease in (("a", inbox_a, lease_a), ("b", inbox_b, lease_b))
            ]
            async with pollers[0], pollers[1]:
                await eventually(lambda: len(handled) >= 100, within=20, what="the first results")
                down_at = time.monotonic()
                redis_process.stop()
                for invitation_id in invitations[RESULTS // 2 :]:
                    await sandbox.complete(invitation_id)
                await asyncio.sleep(TTL + 0.5)  # long enough for the lease to run out
                assert lease_a.epoch is None
                assert lease_b.epoch is None
                redis_process.start()
                up_at = time.monotonic()
                await eventually(
                    lambda: len({key for key, _ in handled}) >= RESULTS,
                    within=30,
                    what="every result",
                )
            keys = {r.result_id for r in sandbox.results}
            assert all([await inbox_a.is_done(key) for key in keys]), "every result is done"

    assert {key for key, _ in handled} == keys, "nothing is lost"
    outage = [(name, r) for at, name, r in reports if down_at < at < up_at]
    assert outage, "passes went on during the outage"
    assert all(not r.ok for _, r in outage), "each pass during the outage reports a failure"
    assert any(r.error is not None and f"redis at {url}" in r.error for _, r in outage), (
        "the error names the Redis it could not reach"
    )
    resumed = [r for at, _, r in reports if at > up_at and r.leader and r.handled > 0]
    assert resumed, "a replica took the lease again and handled results after the restart"
    assert sum(r.handled for r in resumed) >= RESULTS // 2 - 2 * CONCURRENCY

    counts = Counter(key for key, _ in handled)
    twice = {key for key, n in counts.items() if n > 1}
    # A handler that finished while Redis was down could not mark its result done; the
    # result runs again once its claim expires. Nothing else may repeat.
    assert len(twice) <= CONCURRENCY
    first_run = {key: at for key, at in reversed(handled)}
    # (50 ms of slack for a done mark sent just before the server stopped.)
    assert all(down_at - 0.05 <= first_run[key] <= up_at for key in twice)

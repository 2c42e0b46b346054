"""Two replica processes with ``PostgresLease`` on one database: the leader, SIGSTOPped past
its lease and resumed, runs no handler a second time and stops its stale pass."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from ntrvsta_async.sandbox import SandboxServer
from tests.reconcile.test_redis_replicas import Replica, all_handled, the_only_handler
from tests.support.postgres_support import postgres_cluster, postgres_dsn
from tests.support.redis_support import create_invitations, eventually

__all__ = ["postgres_cluster", "postgres_dsn"]

TTL = 1.0
CONCURRENCY = 4


@pytest.mark.slow
async def test_a_leader_paused_past_its_lease_is_deposed_and_nothing_runs_twice(
    postgres_dsn: str, tmp_path: Path
) -> None:
    replicas = [Replica(n, tmp_path) for n in range(2)]
    options = ["--ttl", str(TTL), "--interval", "0.2", "--work", "0.01"]
    options += ["--concurrency", str(CONCURRENCY), "--page-size", "50"]
    async with SandboxServer() as sandbox:
        invitations = await create_invitations(sandbox, 1200)
        try:
            for replica in replicas:
                await replica.start(sandbox, postgres_dsn, *options)
            await eventually(
                lambda: all(r.ready for r in replicas), within=30, what="replicas to start"
            )
            for invitation_id in invitations[:1000]:
                await sandbox.complete(invitation_id)
            await eventually(
                lambda: len(all_handled(replicas)) >= 100, within=30, what="the leader to be busy"
            )
            leader = the_only_handler(replicas)
            (other,) = (r for r in replicas if r is not leader)
            old_epoch = leader.handled()[-1].epoch

            leader.send(signal.SIGSTOP)
            await eventually(
                lambda: bool(other.handled()), within=3 * TTL + 2, what="the other to take over"
            )
            await asyncio.sleep(TTL)  # the other works on while the old leader sleeps
            resumed_at = time.time()
            leader.send(signal.SIGCONT)
            for invitation_id in invitations[1000:]:
                await sandbox.complete(invitation_id)
            await eventually(
                lambda: len({h.key for _, h in all_handled(replicas)}) >= len(invitations),
                within=40,
                what="every result to be handled",
            )
            await asyncio.sleep(1.0)  # room for a wrong second handling to show
        finally:
            codes = [await r.stop() for r in replicas]
        keys = {r.result_id for r in sandbox.results}
    assert codes == [0, 0], [r.describe() for r in replicas]

    handled = all_handled(replicas)
    counts = Counter(h.key for _, h in handled)
    assert set(counts) == keys, "nothing is lost"
    assert [k for k, n in counts.items() if n > 1] == [], "no handler runs twice"
    new_epochs = {h.epoch for h in other.handled()} - {"-"}
    assert new_epochs, "the other replica handled results under its own holding"
    assert all(int(epoch) > int(old_epoch) for epoch in new_epochs), "the epoch grew"
    after_resume = [h for h in leader.handled() if h.at > resumed_at]
    assert len(after_resume) <= CONCURRENCY, "the deposed leader only finished what it had begun"
    assert all(h.epoch in ("-", old_epoch) for h in after_resume)
    stale = [p for p in leader.passes() if p.end > resumed_at and p.start < resumed_at]
    assert stale, "a pass was under way when it resumed"
    assert all("lease" in p.error for p in stale), "its stale pass stopped"

"""Several replicas in separate processes, one Redis, one sandbox: each result is handled
once, one replica polls at a time, a killed lease holder is replaced within ``ttl`` plus
one interval, and a paused one is deposed (the scenario ``test_postgres_replicas`` shares)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import attrs
import pytest

from ntrvsta_async.sandbox import SandboxServer
from tests.conftest import complete_lines
from tests.support.redis_support import create_invitations, eventually, redis_server

__all__ = ["redis_server"]

ROOT = Path(__file__).resolve().parents[2]
RESULTS = 2000
TTL = 1.0
INTERVAL = 0.2
JITTER = 0.1  # the poller's default: a pass waits interval * (1 +- jitter)


@attrs.frozen
class Handled:
    key: str
    epoch: str
    at: float


@attrs.frozen
class Pass:
    leader: bool
    pages: int
    handled: int
    start: float
    end: float
    error: str


class Replica:
    """A ``tests.replica_worker`` process and what it logged."""

    def __init__(self, number: int, tmp_path: Path) -> None:
        self.number = number
        self.log = tmp_path / f"replica{number}.log"
        self.output = tmp_path / f"replica{number}.out"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, sandbox: SandboxServer, redis_url: str, *options: str) -> None:
        env = {**os.environ, "NTRVSTA_API_KEY": sandbox.api_key}
        with self.output.open("wb") as output:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.support.replica_worker",
                sandbox.base_url,
                redis_url,
                str(self.log),
                *options,
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=output,
            )

    def lines(self) -> list[list[str]]:
        return [line.split(" ") for line in complete_lines(self.log)]

    @property
    def ready(self) -> bool:
        return any(words[0] == "ready" for words in self.lines())

    def handled(self) -> list[Handled]:
        return [
            Handled(words[1], words[2], float(words[3]))
            for words in self.lines()
            if words[0] == "end"
        ]

    def passes(self) -> list[Pass]:
        return [
            Pass(
                words[1] == "1",
                int(words[2]),
                int(words[3]),
                float(words[4]),
                float(words[5]),
                " ".join(words[6:]),
            )
            for words in self.lines()
            if words[0] == "pass"
        ]

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def stop(self) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        return process.returncode

    def describe(self) -> str:
        return f"replica {self.number}: {self.output.read_text(errors='replace')[-3000:]}"


def all_handled(replicas: list[Replica]) -> list[tuple[int, Handled]]:
    return [(r.number, h) for r in replicas for h in r.handled()]


def the_only_handler(replicas: list[Replica]) -> Replica:
    """The replica that handled results so far, when only one has (the first lease holder)."""
    busy = [r for r in replicas if r.handled()]
    assert len(busy) == 1, f"replicas {[r.number for r in busy]} handled results"
    return busy[0]


def assert_one_poller_at_a_time(replicas: list[Replica]) -> None:
    leading = sorted((p.start, p.end, r.number) for r in replicas for p in r.passes() if p.leader)
    for (_, end, who), (start, _, next_who) in itertools.pairwise(leading):
        if who != next_who:
            assert start >= end, f"replicas {who} and {next_who} polled at the same time"


@pytest.mark.slow
@pytest.mark.parametrize("count", [2, 4])
async def test_replicas_handle_every_result_exactly_once(
    count: int, redis_server: str, tmp_path: Path
) -> None:
    replicas = [Replica(n, tmp_path) for n in range(count)]
    async with SandboxServer() as sandbox:
        invitations = await create_invitations(sandbox, RESULTS)
        try:
            for replica in replicas:
                await replica.start(sandbox, redis_server, "--ttl", "2")
            await eventually(
                lambda: all(r.ready for r in replicas), within=30, what="replicas to start"
            )

            for n, invitation_id in enumerate(invitations[: RESULTS // 2]):
                await sandbox.complete(invitation_id)
                if n % 100 == 99:
                    await asyncio.sleep(0.05)
            await eventually(
                lambda: len(all_handled(replicas)) >= RESULTS // 4,
                within=30,
                what="the first results",
            )
            first_leader = the_only_handler(replicas)
            assert await first_leader.stop() == 0, first_leader.describe()  # hands the lease on

            for n, invitation_id in enumerate(invitations[RESULTS // 2 :]):
                await sandbox.complete(invitation_id)
                if n % 100 == 99:
                    await asyncio.sleep(0.05)
            await eventually(
                lambda: len({h.key for _, h in all_handled(replicas)}) >= RESULTS,
                within=40,
                what="every result to be handled",
            )
            await asyncio.sleep(3 * INTERVAL)  # room for a wrong second handling to show
        finally:
            codes = [await r.stop() for r in replicas]
        assert codes == [0] * count, [r.describe() for r in replicas]

        keys = {r.result_id for r in sandbox.results}
    assert len(keys) == RESULTS
    handled = all_handled(replicas)
    counts = Counter(h.key for _, h in handled)
    assert set(counts) == keys, "every result is handled"
    assert [k for k, n in counts.items() if n > 1] == [], "no result is handled twice"

    handlers = {number for number, _ in handled}
    assert len(handlers) >= 2, "the lease moved on when its holder stopped"
    owners: dict[str, set[int]] = {}
    for number, h in handled:
        owners.setdefault(h.epoch, set()).add(number)
    assert all(len(who) == 1 for who in owners.values()), "an epoch belongs to one replica"
    for replica in replicas:
        for p in replica.passes():
            assert p.leader or p.pages == 0, "a replica without the lease never calls the API"
            assert p.error == "-", p.error
    assert_one_poller_at_a_time(replicas)


@pytest.mark.slow
async def test_killing_the_lease_holder_hands_polling_over_within_ttl_and_an_interval(
    redis_server: str, tmp_path: Path
) -> None:
    replicas = [Replica(n, tmp_path) for n in range(3)]
    options = ["--ttl", str(TTL), "--interval", str(INTERVAL), "--work", "0.01"]
    options += ["--concurrency", "4", "--claim-ttl", "2"]
    first_batch = 1000
    async with SandboxServer() as sandbox:
        invitations = await create_invitations(sandbox, first_batch + 200)
        try:
            for replica in replicas:
                await replica.start(sandbox, redis_server, *options)
            await eventually(
                lambda: all(r.ready for r in replicas), within=30, what="replicas to start"
            )
            for invitation_id in invitations[:first_batch]:
                await sandbox.complete(invitation_id)
            await eventually(
                lambda: len(all_handled(replicas)) >= 200, within=30, what="the leader to be busy"
            )
            holder = the_only_handler(replicas)
            assert len(all_handled(replicas)) < first_batch, "killed mid-run"

            killed_at = time.time()
            holder.send(signal.SIGKILL)
            assert holder.process is not None
            assert await holder.process.wait() == -signal.SIGKILL
            for invitation_id in invitations[first_batch:]:
                await sandbox.complete(invitation_id)

            others = [r for r in replicas if r is not holder]
            await eventually(
                lambda: any(h.at > killed_at for r in others for h in r.handled()),
                within=10,
                what="another replica to take over",
            )
            taken_over_at = min(h.at for r in others for h in r.handled() if h.at > killed_at)
            await eventually(
                lambda: len({h.key for _, h in all_handled(replicas)}) >= len(invitations),
                within=30,
                what="every result to be handled",
            )
        finally:
            codes = [await r.stop() for r in replicas]
        keys = {r.result_id for r in sandbox.results}

    takeover = taken_over_at - killed_at
    # The dead holder's lease expires at most ttl after its last renewal (so after the
    # kill); a waiting replica tries again within interval * (1 + jitter). The margin
    # covers its first page request, one 10 ms handler and scheduling three replicas,
    # the sandbox and Redis on a small CI machine.
    bound = TTL + INTERVAL * (1 + JITTER) + 0.4
    assert takeover <= bound, f"takeover took {takeover:.2f}s (bound {bound:.2f}s)"
    assert [codes[r.number] for r in replicas if r is not holder] == [0, 0]

    handled = all_handled(replicas)
    counts = Counter(h.key for _, h in handled)
    assert set(counts) == keys, "nothing is lost"
    twice = {k for k, n in counts.items() if n > 1}
    assert len(twice) <= 4, "only handlers in flight at the kill (concurrency 4) may repeat"
    by_holder = {h.key for number, h in handled if number == holder.number}
    assert twice <= by_holder


@pytest.mark.slow
async def test_a_leader_paused_past_its_lease_is_deposed_and_nothing_runs_twice(
    redis_server: str, tmp_path: Path
) -> None:
    """Claims outlast the pause, so the results it had begun wait for it."""
    await a_paused_leader_is_deposed(redis_server, tmp_path, "--claim-ttl", "30")


async def a_paused_leader_is_deposed(
    store: str, tmp_path: Path, *extra: str, concurrency: int = 4
) -> None:
    """Two replicas on ``store``: the leader, SIGSTOPped past its lease and resumed, runs no
    handler a second time, finishes only what it had begun and stops its stale pass."""
    replicas = [Replica(n, tmp_path) for n in range(2)]
    options = ["--ttl", str(TTL), "--interval", str(INTERVAL), "--work", "0.01"]
    options += ["--concurrency", str(concurrency), "--page-size", "50", *extra]
    async with SandboxServer() as sandbox:
        invitations = await create_invitations(sandbox, 1200)
        try:
            for replica in replicas:
                await replica.start(sandbox, store, *options)
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
    assert len(after_resume) <= concurrency, "the deposed leader only finished what it had begun"
    assert all(h.epoch in ("-", old_epoch) for h in after_resume)
    stale = [p for p in leader.passes() if p.end > resumed_at and p.start < resumed_at]
    assert stale, "a pass was under way when it resumed"
    assert all("lease" in p.error for p in stale), "its stale pass stopped"

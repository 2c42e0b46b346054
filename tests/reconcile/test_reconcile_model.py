"""A model-based test of the whole reconciliation protocol.

A seeded simulation: a scripted results API completes results over time, a webhook sender
delivers each one to the real aiohttp receiver zero, one or two times, late and out of
order, while the service (receiver and poller over one durable inbox) is killed and
restarted. The wire misbehaves as docs/contract.md allows: summaries with only ``resultUrl``, empty
pages mid-listing, future and unreadable ``completedAt`` stamps, saved cursors refused
with 400/404/410/422, 5xx mid-paging. Handlers fail with every kind of exception (the
``CancelledError`` a library raises included) or outlive ``claim_ttl``.

After every step: no result's handler runs twice at once, and a handler that returned is
never run again for its result unless the service was killed between that return and the
done mark reaching the store (the one documented window). At the end, after a quiet
period with passes, every completed result has been handled.

A "kill" cuts the service off from the store at once (nothing it sends afterwards lands,
as with ``kill -9``), cancels its tasks, and a fresh receiver and poller start over the
same store.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from aioresponses import CallbackResult, aioresponses
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from yarl import URL

from ntrvsta_async import NtrvstaClient, ResultCompletedEvent, ResultSummary, RetryPolicy
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import (
    Claim,
    Inbox,
    MemoryInbox,
    ReconcileReport,
    RedisInbox,
    ResultKeys,
    ResultPoller,
    SQLiteInbox,
)
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks, sign
from tests.conftest import serve
from tests.support.redis_support import redis_server

__all__ = ["redis_server"]

BASE = "https://api.ntrvsta.test/model"
RESULTS_RE = re.compile(re.escape(f"{BASE}/v1/interview-results") + r"(\?.*)?$")
SECRET = "whsec_model"
T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
CLAIM_TTL = 0.3


class Killed(Exception):
    """The service this store connection belonged to is dead."""


class StoreLink(Inbox):
    """One service process's connection to the shared store; ``kill()`` cuts it at once."""

    def __init__(self, store: Inbox, world: World) -> None:
        self._store = store
        self._world = world
        self.alive = True

    def kill(self) -> None:
        self.alive = False

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        if not self.alive:
            raise Killed
        result = await call()
        if not self.alive:
            raise Killed
        return result

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        return await self._call(lambda: self._store.claim(keys, ttl=ttl))  # type: ignore[no-any-return]

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        return await self._call(lambda: self._store.renew(keys, token, ttl=ttl))  # type: ignore[no-any-return]

    async def complete(self, keys: ResultKeys, token: str) -> None:
        await self._call(lambda: self._store.complete(keys, token))
        self._world.marked_done(keys)

    async def release(self, keys: ResultKeys, token: str) -> None:
        await self._call(lambda: self._store.release(keys, token))

    async def is_done(self, keys: ResultKeys) -> bool:
        return await self._call(lambda: self._store.is_done(keys))  # type: ignore[no-any-return]

    async def get_checkpoint(self, name: str) -> str | None:
        return await self._call(lambda: self._store.get_checkpoint(name))  # type: ignore[no-any-return]

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        return await self._call(lambda: self._store.set_checkpoint(name, value, fence=fence))  # type: ignore[no-any-return]

    async def close(self) -> None:
        """The store belongs to the world."""


@attrs.define
class Result:
    number: int
    completed_at: datetime
    stamp: str  # what the API shows as completedAt (skewed or unreadable at times)
    id_in_summary: bool

    @property
    def rid(self) -> str:
        return f"res_{self.number}"

    @property
    def url(self) -> str:
        return f"https://app.ntrvsta.test/results/{self.number}"


@attrs.define
class World:
    """The simulated API, webhook sender and the record of every handler run."""

    rng: random.Random
    now: datetime = T0
    results: list[Result] = attrs.Factory(list)
    cursor_epoch: int = 0
    active: dict[int, int] = attrs.Factory(dict)
    returned: dict[int, int] = attrs.Factory(dict)  # handler returns not yet marked done
    handled: dict[int, int] = attrs.Factory(dict)  # handler returns in all
    done_marked: set[int] = attrs.Factory(set)
    violations: list[str] = attrs.Factory(list)
    outbox: list[tuple[float, Result]] = attrs.Factory(list)
    store_time: float = 1_000_000.0  # the store's clock for claim expiry, moved by the world
    claim_ttl: float = CLAIM_TTL
    server_clock: bool = False  # the store expires claims on its own clock (Redis)
    last_report: ReconcileReport | None = None

    def store_clock(self) -> float:
        return self.store_time

    async def tick(self) -> None:
        """Move the store's clock with the running loop, one step per step of real sleep.

        One clock for every claim: a stalled loop stalls the clock too, so the test checks
        that renewal keeps a running handler's claim, not how the loop is scheduled (a
        holder paused past its ttl is tested on its own)."""
        step = self.claim_ttl / 6
        while True:
            await asyncio.sleep(step)
            self.store_time += step

    async def elapse(self, seconds: float) -> None:
        """Let ``seconds`` pass for the store's claims."""
        if self.server_clock:
            await asyncio.sleep(seconds)
        else:
            self.store_time += seconds

    # -- the results API -------------------------------------------------------------------

    def complete_one(self) -> Result:
        number = len(self.results) + 1
        roll = self.rng.random()
        if roll < 0.08:
            stamp = (self.now + timedelta(hours=2)).isoformat()  # server clock skew
        elif roll < 0.14:
            stamp = "not a time"
        elif roll < 0.18:
            stamp = ""
        else:
            stamp = self.now.isoformat().replace("+00:00", "Z")
        result = Result(number, self.now, stamp, id_in_summary=self.rng.random() < 0.5)
        self.results.append(result)
        for _ in range(self.rng.choice([0, 1, 1, 1, 2])):  # dropped, delivered, duplicated
            self.outbox.append((self.rng.random(), result))
        return result

    def serve(self, url: URL, **kwargs: Any) -> CallbackResult:
        query = dict(url.query)
        fault = self.rng.random()
        if fault < 0.04:
            return CallbackResult(status=self.rng.choice([500, 502, 503]), payload={})
        cursor = query.get("cursor")
        if cursor is not None:
            epoch, position = cursor.split(":")[:2]
            if int(epoch) != self.cursor_epoch:
                status = self.rng.choice([400, 404, 410, 422])
                return CallbackResult(status=status, payload={"message": "stale cursor"})
            start = int(position)
        else:
            start = 0
        after = query.get("completedAfter")
        rows = [
            r
            for r in self.results
            if after is None or r.completed_at >= datetime.fromisoformat(after)
        ]
        size = 3
        chunk = rows[start : start + size]
        end = start + size
        empty = start < len(rows) and self.rng.random() < 0.1
        if empty:
            chunk, end = [], start  # an empty page mid-listing, with a fresh cursor
        tag = self.rng.randrange(10**9)
        items = []
        for r in chunk:
            item: dict[str, Any] = {"resultUrl": r.url, "overallScore": 50}
            if r.id_in_summary:
                item["resultId"] = r.rid
            if r.stamp:
                item["completedAt"] = r.stamp
            items.append(item)
        next_cursor = f"{self.cursor_epoch}:{end}:{tag}" if empty or end < len(rows) else None
        date = self.now.strftime("%a, %d %b %Y %H:%M:%S GMT")
        return CallbackResult(
            payload={"items": items, "nextCursor": next_cursor}, headers={"Date": date}
        )

    # -- handler bookkeeping ---------------------------------------------------------------

    def number_of(self, key: str) -> int:
        return int(key.rsplit("/", 1)[-1].rsplit("_", 1)[-1])

    def started(self, number: int) -> None:
        if self.active.get(number, 0):
            self.violations.append(f"result {number}: two handlers at once")
        if self.returned.get(number, 0):
            self.violations.append(f"result {number}: run again after it returned")
        self.active[number] = self.active.get(number, 0) + 1

    def finished(self, number: int, *, returned: bool) -> None:
        self.active[number] -= 1
        if returned:
            self.returned[number] = self.returned.get(number, 0) + 1
            self.handled[number] = self.handled.get(number, 0) + 1

    def marked_done(self, keys: ResultKeys) -> None:
        ids = (keys,) if isinstance(keys, str) else tuple(keys)
        for number in {self.number_of(key) for key in ids}:
            self.done_marked.add(number)
            self.returned[number] = 0

    def forgive_kill_window(self) -> None:
        """A kill between a return and its done mark lets that result run once more."""
        self.returned.clear()


class Service:
    """One process of the user's service: a webhook receiver and a poller over one store link."""

    def __init__(self, world: World, store: Inbox, client: NtrvstaClient) -> None:
        self.world = world
        self.link = StoreLink(store, world)
        self.client = client
        self.poller = ResultPoller(
            client,
            self.on_result,
            inbox=self.link,
            concurrency=4,
            claim_ttl=world.claim_ttl,
            lookback=timedelta(seconds=30),
            clock=lambda: world.now,
        )

    async def work(self, number: int) -> None:
        world = self.world
        world.started(number)
        returned = False
        try:
            roll = world.rng.random()
            if roll < 0.05:
                await asyncio.sleep(world.claim_ttl * 2.5)  # outlives its claim ttl
            else:
                await asyncio.sleep(0)
            if roll > 0.9:
                raise world.rng.choice(
                    [
                        RuntimeError("db down"),
                        ValueError("bad"),
                        asyncio.CancelledError(),
                        KeyError("k"),
                    ]
                )
            returned = True
        finally:
            world.finished(number, returned=returned)

    async def on_result(self, summary: ResultSummary) -> None:
        await self.work(self.world.number_of(summary.key))

    async def on_event(self, event: ResultCompletedEvent) -> None:
        await self.work(self.world.number_of(event.result_id))


async def deliver(session: aiohttp.ClientSession, url: str, result: Result) -> None:
    body = json.dumps(
        {"event": "result.completed", "resultId": result.rid, "resultUrl": result.url}
    ).encode()
    headers = {**sign(body, SECRET), "Content-Type": "application/json"}
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[str]:
    app = web.Application()
    setup_webhooks(
        app,
        WebhookVerifier(SECRET),
        service.on_event,
        inbox=service.link,
        claim_ttl=service.world.claim_ttl,
        drain_timeout=0.01,
    )
    async with serve(app, shutdown_timeout=0.1) as base:
        yield f"{base}/webhooks"


async def simulate(
    seed: int,
    make_store: Callable[[World], Awaitable[Inbox]],
    *,
    claim_ttl: float = CLAIM_TTL,
    server_clock: bool = False,
) -> None:
    world = World(random.Random(seed), claim_ttl=claim_ttl, server_clock=server_clock)
    store = await make_store(world)
    ticker = None if server_clock else asyncio.create_task(world.tick())
    policy = RetryPolicy(max_retries=1, sleep=lambda _: asyncio.sleep(0), random=lambda: 0.0)
    with aioresponses(passthrough=["http://127.0.0.1"]) as mock:
        mock.get(RESULTS_RE, callback=world.serve, repeat=True)
        async with (
            NtrvstaClient(api_key="ntr_model_key", base_url=BASE, retry_policy=policy) as client,
            aiohttp.ClientSession() as session,
        ):
            service = Service(world, store, client)
            try:
                await run_steps(world, service, session, store, client)
            finally:
                service.link.kill()
            await quiet_period(world, store, client, session)
    if ticker is not None:
        ticker.cancel()
    await store.close()
    assert not world.violations, world.violations
    lost = [
        (r.number, r.stamp, r.id_in_summary)
        for r in world.results
        if not world.handled.get(r.number)
    ]
    assert not lost, (
        f"seed {seed}: never handled (number, stamp, has id): {lost};"
        f" last pass: {world.last_report}"
    )


async def run_steps(
    world: World,
    service: Service,
    session: aiohttp.ClientSession,
    store: Inbox,
    client: NtrvstaClient,
) -> None:
    rng = world.rng
    steps = rng.randint(25, 50)
    while steps > 0:
        async with running(service) as webhook_url:
            background: list[asyncio.Task[Any]] = []
            while steps > 0:
                steps -= 1
                action = rng.random()
                world.now += timedelta(seconds=rng.randint(0, 20))
                if action < 0.35:
                    for _ in range(rng.randint(1, 4)):
                        world.complete_one()
                elif action < 0.6 and world.outbox:
                    rng.shuffle(world.outbox)  # reordered
                    for _ in range(min(len(world.outbox), rng.randint(1, 4))):
                        _, result = world.outbox.pop()
                        delivery = deliver(session, webhook_url, result)
                        background.append(asyncio.create_task(delivery))
                elif action < 0.85:
                    background.append(asyncio.create_task(service.poller.run_once()))
                elif action < 0.93:
                    world.cursor_epoch += 1  # every saved cursor goes stale
                else:
                    # kill -9: the store hears nothing more from this process, its work stops
                    service.link.kill()
                    for task in background:
                        task.cancel()
                    break
                await asyncio.sleep(rng.choice([0, 0, 0.01, 0.05]))
                assert not world.violations, world.violations
            await asyncio.gather(*background, return_exceptions=True)
        if not service.link.alive:
            world.forgive_kill_window()
            service = Service(world, store, client)
            await world.elapse(world.claim_ttl * 1.2)  # the dead process's claims expire


async def quiet_period(
    world: World, store: Inbox, client: NtrvstaClient, session: aiohttp.ClientSession
) -> None:
    """No new results; the remaining deliveries arrive; passes run until all is handled."""
    world.forgive_kill_window()
    await world.elapse(world.claim_ttl * 1.2)  # the last process was killed: its claims expire
    service = Service(world, store, client)
    async with running(service) as webhook_url:
        for _, result in world.outbox:
            await deliver(session, webhook_url, result)
        world.outbox.clear()
        for _ in range(60):
            world.now += timedelta(seconds=5)
            report = await service.poller.run_once()
            world.last_report = report
            if all(world.handled.get(r.number) for r in world.results) and report.ok:
                break
            # a slow handler (webhook or poller) may still be running: give it time
            await asyncio.sleep(world.claim_ttl / 3 if report.in_progress else 0.02)


SIM_SETTINGS = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SIM_SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=0)
@example(seed=250)  # found: a failed result stamped in the future was lost
async def test_memory_inbox_model(seed: int) -> None:
    async def make(world: World) -> Inbox:
        return MemoryInbox(clock=world.store_clock)

    await simulate(seed, make)


@SIM_SETTINGS
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=0)
@example(seed=250)
async def test_sqlite_inbox_model(seed: int, tmp_path: Path) -> None:
    path = tmp_path / f"inbox-{seed}.sqlite3"
    path.unlink(missing_ok=True)

    async def make(world: World) -> Inbox:
        return SQLiteInbox(path, clock=world.store_clock)

    await simulate(seed, make)


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1))
@example(seed=250)
async def test_redis_inbox_model(seed: int, redis_server: str) -> None:
    """On Redis, claims expire on the server's clock: real time, so a longer ttl."""

    async def make(world: World) -> Inbox:
        return RedisInbox(redis_server, prefix=f"model-{seed}-{uuid.uuid4().hex}:")

    await simulate(seed, make, claim_ttl=1.0, server_clock=True)


def test_killed_link_refuses_everything() -> None:
    world = World(random.Random(1))
    link = StoreLink(MemoryInbox(), world)
    link.kill()
    with pytest.raises(Killed):
        asyncio.run(link.claim("x"))
    assert isinstance(Killed(), Exception)
    assert not issubclass(Killed, InboxError)

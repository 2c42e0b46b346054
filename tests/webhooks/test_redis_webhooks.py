"""The webhook receivers of several replicas share one RedisInbox: a delivery that reaches
more than one replica is handled once, and the pollers of the same replicas fill in what
the webhooks dropped, still once per result."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ntrvsta_async import NtrvstaClient, ResultCompletedEvent, ResultSummary
from ntrvsta_async.reconcile import RedisInbox, RedisLease, ResultPoller
from ntrvsta_async.sandbox import FaultPlan, SandboxServer, WebhookFaults
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks, sign
from tests.support.redis_support import create_invitations, eventually, redis_server

__all__ = ["redis_server"]

SECRET = "whsec-replicas"
REPLICAS = 3

OnEvent = Callable[[ResultCompletedEvent], Awaitable[object]]


class Handled:
    """What every replica handled, by which path."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str]] = []

    def on_event(self, replica: int, *, fail: bool = False) -> OnEvent:
        async def handle(event: ResultCompletedEvent) -> None:
            await asyncio.sleep(0.02)
            if fail:
                raise RuntimeError("downstream is down")
            self.calls.append(("webhook", replica, event.key))

        return handle

    def on_result(self, replica: int) -> Callable[[ResultSummary], Awaitable[None]]:
        async def handle(result: ResultSummary) -> None:
            await asyncio.sleep(0.002)
            self.calls.append(("poller", replica, result.key))

        return handle

    @property
    def keys(self) -> Counter[str]:
        return Counter(key for _, _, key in self.calls)


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


async def start_replica(
    stack: AsyncExitStack, redis_url: str, on_event: OnEvent
) -> tuple[str, RedisInbox]:
    inbox = await stack.enter_async_context(RedisInbox(redis_url))
    app = web.Application()
    setup_webhooks(app, WebhookVerifier(SECRET), on_event, inbox=inbox)
    server = await stack.enter_async_context(TestServer(app))
    return str(server.make_url("/webhooks")), inbox


def delivery(result_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"resultId": result_id, "candidate": {"email": "a@b.c"}}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Ntrvsta-Idempotency-Key": f"evt_{result_id}",
        **sign(body, SECRET, timestamp=int(time.time())),
    }
    return body, headers


async def test_a_delivery_sent_to_every_replica_is_handled_once(
    redis_server: str, stack: AsyncExitStack
) -> None:
    handled = Handled()
    replicas = [
        await start_replica(stack, redis_server, handled.on_event(n)) for n in range(REPLICAS)
    ]
    results = [f"res_{n:03d}" for n in range(30)]
    session = await stack.enter_async_context(aiohttp.ClientSession())

    async def post(url: str, result_id: str) -> str:
        body, headers = delivery(result_id)
        async with session.post(url, data=body, headers=headers) as response:
            assert response.status == 200
            return str((await response.json())["status"])

    answers = await asyncio.gather(
        *(post(url, r) for r in results for url, _ in replicas for _copy in range(2))
    )

    async def all_done() -> bool:
        return all([await replicas[0][1].is_done(r) for r in results])

    await eventually(all_done, within=10)
    await asyncio.sleep(0.1)
    assert handled.keys == Counter(results), "each result handled once across the replicas"
    assert Counter(answers)["accepted"] == len(results)
    assert len({replica for _, replica, _ in handled.calls}) > 1, "the work was spread"


async def test_a_delivery_that_failed_on_one_replica_is_handled_by_another(
    redis_server: str, stack: AsyncExitStack
) -> None:
    handled = Handled()
    failing_url, _ = await start_replica(stack, redis_server, handled.on_event(0, fail=True))
    working_url, inbox = await start_replica(stack, redis_server, handled.on_event(1))
    session = await stack.enter_async_context(aiohttp.ClientSession())
    body, headers = delivery("res_retry")

    async with session.post(failing_url, data=body, headers=headers) as response:
        assert (await response.json())["status"] == "accepted"
    async with session.post(working_url, data=body, headers=headers) as response:
        assert (await response.json())["status"] == "in_progress", "replica 0 still holds it"
    await asyncio.sleep(0.1)  # replica 0's on_event fails and releases its claim
    async with session.post(working_url, data=body, headers=headers) as response:
        assert (await response.json())["status"] == "accepted"

    async def done() -> bool:
        return await inbox.is_done("res_retry")

    await eventually(done, within=5)
    async with session.post(failing_url, data=body, headers=headers) as response:
        assert (await response.json())["status"] == "duplicate"
    assert handled.calls == [("webhook", 1, "res_retry")]


@pytest.mark.slow
async def test_replicas_behind_a_balancer_handle_each_result_once_by_either_path(
    redis_server: str, stack: AsyncExitStack
) -> None:
    handled = Handled()
    upstreams: list[str] = []
    routed: list[tuple[str, int]] = []
    turn = itertools.count()
    session = await stack.enter_async_context(aiohttp.ClientSession())

    async def balance(request: web.Request) -> web.Response:
        replica = next(turn) % len(upstreams)
        routed.append((request.headers["X-Ntrvsta-Idempotency-Key"], replica))
        async with session.post(
            upstreams[replica], data=await request.read(), headers=request.headers
        ) as upstream:
            return web.Response(status=upstream.status, body=await upstream.read())

    balancer_app = web.Application()
    balancer_app.router.add_post("/webhooks", balance)
    balancer = await stack.enter_async_context(TestServer(balancer_app))
    faults = FaultPlan(seed=7, webhooks=WebhookFaults(drop_rate=0.2, duplicate_rate=0.5))
    sandbox = await stack.enter_async_context(
        SandboxServer(
            webhook_url=str(balancer.make_url("/webhooks")), webhook_secret=SECRET, faults=faults
        )
    )
    client = await stack.enter_async_context(
        NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url)
    )
    for n in range(REPLICAS):
        url, inbox = await start_replica(stack, redis_server, handled.on_event(n))
        upstreams.append(url)
        lease = await stack.enter_async_context(RedisLease(redis_server, "poller", ttl=2))
        poller = ResultPoller(
            client,
            handled.on_result(n),
            inbox=inbox,
            lease=lease,
            interval=0.2,
            lookback=timedelta(seconds=5),
        )
        await stack.enter_async_context(poller)

    for invitation_id in await create_invitations(sandbox, 200):
        await sandbox.complete(invitation_id)
    keys = {r.result_id for r in sandbox.results}

    async def all_handled() -> bool:
        return set(handled.keys) >= keys

    await eventually(all_handled, within=30)
    await sandbox.wait_deliveries_idle()
    await asyncio.sleep(0.5)  # a pass or two more, and the last webhook tasks

    assert handled.keys == Counter(keys), "each result handled once, webhook or poller"
    by_event = {r.event_id: r.result_id for r in sandbox.results}
    dropped = {by_event[event_id] for event_id in sandbox.deliveries.dropped}
    assert dropped, "the plan dropped some deliveries"
    assert all(path == "poller" for path, _, key in handled.calls if key in dropped)
    spread: dict[str, set[int]] = {}
    for event_id, replica in routed:
        spread.setdefault(event_id, set()).add(replica)
    assert any(len(replicas) > 1 for replicas in spread.values()), (
        "some duplicated delivery reached two replicas"
    )
    assert {path for path, _, _ in handled.calls} == {"webhook", "poller"}

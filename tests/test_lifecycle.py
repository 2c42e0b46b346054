"""Cancelling any public coroutine mid-flight leaves no task running, no connection checked
out of the pool and no result held in the inbox; the next call works.

The slow API runs on its own thread and event loop, so every task left on the test's loop
after a cancellation belongs to the SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import attrs
import pytest
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from ntrvsta_async import InvitationRequest, NtrvstaClient, ResultCompletedEvent, ResultSummary
from ntrvsta_async.reconcile import (
    Claim,
    ClaimState,
    Inbox,
    MemoryInbox,
    ResultKeys,
    ResultPoller,
    SQLiteInbox,
)
from ntrvsta_async.webhooks import WebhookVerifier, sign, track_webhook_tasks, webhook_handler
from tests.conftest import serve

API_KEY = "ntr_live_lifecycle_0123456789"
RESULTS = [f"res_{n}" for n in range(1, 6)]
SECRET = "whsec-lifecycle"


class SlowApi:
    """A minimal ``/v1`` API on a thread of its own; requests from number ``hold_after`` on
    hang while ``holding`` is set. Results come one per page, five in all."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.hold_after = 0
        self.arrived = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._served = contextlib.AsyncExitStack()
        self.base_url = ""

    async def _handle(self, request: web.Request) -> web.Response:
        with self._lock:
            number = self.arrived
            self.arrived += 1
        await request.read()
        for _ in range(3000):
            if not (self.holding.is_set() and number >= self.hold_after):
                break
            await asyncio.sleep(0.01)
        if request.path == "/v1/templates":
            return web.json_response({"templateId": "tpl_1", "title": "t"}, status=201)
        if request.path == "/v1/interview-invitations":
            body = await request.json()
            invitation = {"invitationId": f"inv_{body['candidate']['email']}"}
            return web.json_response({**invitation, "templateId": "tpl_1"}, status=201)
        index = int(request.query.get("cursor", "0"))
        item = {
            "resultId": RESULTS[index],
            "invitationId": f"inv_{index}",
            "completedAt": f"2026-01-01T00:00:0{index}Z",
        }
        more = index + 1 < len(RESULTS)
        return web.json_response({"items": [item], "nextCursor": str(index + 1) if more else None})

    def start(self) -> None:
        self._thread.start()

        async def start_serving() -> str:
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            return await self._served.enter_async_context(serve(app, shutdown_timeout=0.1))

        self.base_url = asyncio.run_coroutine_threadsafe(start_serving(), self._loop).result(10)

    def stop(self) -> None:
        self.holding.clear()
        asyncio.run_coroutine_threadsafe(self._served.aclose(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def hold(self, after: int = 0) -> None:
        """Make requests from the ``after``-th one counted from now hang."""
        self.hold_after = self.arrived + after
        self.holding.set()

    async def until_held(self) -> None:
        """Wait until a request is hanging."""
        async with asyncio.timeout(10):
            while self.arrived <= self.hold_after:  # noqa: ASYNC110 - another thread counts
                await asyncio.sleep(0.002)


@pytest.fixture
def api() -> Iterator[SlowApi]:
    server = SlowApi()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(api: SlowApi) -> AsyncIterator[NtrvstaClient]:
    async with NtrvstaClient(api_key=API_KEY, base_url=api.base_url, max_retries=0) as c:
        yield c


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def leftover_tasks() -> list[asyncio.Task[Any]]:
    current = asyncio.current_task()
    return [task for task in asyncio.all_tasks() if task is not current and not task.done()]


def acquired_connections(client: NtrvstaClient) -> int:
    session = client._transport._pool.session
    if session is None or session.connector is None:
        return 0
    return len(session.connector._acquired)


async def assert_clean(client: NtrvstaClient) -> None:
    await settle()
    assert leftover_tasks() == []
    assert acquired_connections(client) == 0


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def requests(count: int) -> list[InvitationRequest]:
    return [InvitationRequest("tpl_1", {"email": f"c{n}@example.com"}) for n in range(count)]


async def _list_all(client: NtrvstaClient) -> list[ResultSummary]:
    return [item async for item in client.results.list()]


async def _stream_bulk(client: NtrvstaClient) -> int:
    count = 0
    async for outcome in client.invitations.create_many(requests(12), concurrency=4):
        assert outcome.ok
        count += 1
    return count


async def _await_bulk(client: NtrvstaClient) -> int:
    result = await client.invitations.create_many(requests(12), concurrency=4)
    assert not result.failed
    return result.total


Operation = Callable[[NtrvstaClient], Coroutine[Any, Any, Any]]

OPERATIONS: list[Any] = [
    pytest.param(lambda c: c.templates.create(title="t"), 0, id="templates.create"),
    pytest.param(
        lambda c: c.invitations.create(template_id="tpl_1", candidate={"email": "a@b.c"}),
        0,
        id="invitations.create",
    ),
    pytest.param(lambda c: c.results.list_page(), 0, id="results.list_page"),
    pytest.param(_list_all, 2, id="results.list-on-page-3"),
    pytest.param(
        lambda c: c.results.wait_for("res_5", timeout=30, poll_interval=0.01),
        3,
        id="results.wait_for",
    ),
    pytest.param(_await_bulk, 5, id="create_many-await"),
    pytest.param(_stream_bulk, 5, id="create_many-async-for"),
    pytest.param(lambda c: c.request("GET", "/v1/interview-results"), 0, id="client.request"),
]


@pytest.mark.parametrize(("operation", "hold_after"), OPERATIONS)
async def test_cancelled_call_leaks_nothing_and_the_next_call_works(
    api: SlowApi, client: NtrvstaClient, operation: Operation, hold_after: int
) -> None:
    api.hold(after=hold_after)
    task = asyncio.create_task(operation(client))
    await api.until_held()

    await cancel(task)

    await assert_clean(client)
    api.holding.clear()
    assert await asyncio.wait_for(operation(client), 10) is not None
    await assert_clean(client)


async def test_breaking_out_of_a_streamed_fan_out_stops_its_workers(
    api: SlowApi, client: NtrvstaClient
) -> None:
    run = client.invitations.create_many(requests(200), concurrency=4)
    async for outcome in run:
        assert outcome.ok
        break
    await assert_clean(client)
    sent = api.arrived
    await asyncio.sleep(0.1)
    assert api.arrived == sent, "no request starts after the loop was left"
    assert sent < 20


async def test_cancelled_block_closes_the_client(api: SlowApi) -> None:
    api.hold()
    client = NtrvstaClient(api_key=API_KEY, base_url=api.base_url)

    async def use() -> None:
        async with client:
            await client.templates.create(title="t")

    task = asyncio.create_task(use())
    await api.until_held()
    await cancel(task)

    assert client.closed
    assert not client._transport.owns_open_session
    await settle()
    assert leftover_tasks() == []


# -- the poller ------------------------------------------------------------------------------


@attrs.define
class Gate:
    """A handler that records results and blocks while ``open`` is not set."""

    open: asyncio.Event = attrs.Factory(asyncio.Event)
    entered: asyncio.Event = attrs.Factory(asyncio.Event)
    handled: list[str] = attrs.Factory(list)

    async def __call__(self, result: ResultSummary) -> None:
        self.entered.set()
        await self.open.wait()
        self.handled.append(result.key)


@pytest.fixture(params=["memory", "sqlite"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Inbox]:
    store: Inbox = MemoryInbox() if request.param == "memory" else SQLiteInbox(tmp_path / "i.db")
    async with store:
        yield store


async def assert_nothing_held(inbox: Inbox, handled: list[str]) -> None:
    for key in RESULTS:
        if key in handled:
            assert await inbox.is_done(key)
            continue
        claim = await inbox.claim(key)
        assert claim.state is ClaimState.CLAIMED, f"{key} is held by a cancelled run"
        assert claim.token is not None
        await inbox.release(key, claim.token)


@pytest.mark.parametrize("where", ["fetch", "handler"])
async def test_cancelled_run_once_releases_its_claims(
    api: SlowApi, client: NtrvstaClient, inbox: Inbox, where: str
) -> None:
    gate = Gate()
    poller = ResultPoller(client, gate, inbox=inbox, concurrency=2)
    if where == "fetch":
        gate.open.set()
        api.hold(after=2)
    task = asyncio.create_task(poller.run_once())
    if where == "fetch":
        await api.until_held()
    else:
        await asyncio.wait_for(gate.entered.wait(), 10)

    await cancel(task)

    await assert_clean(client)
    await assert_nothing_held(inbox, gate.handled)
    api.holding.clear()
    gate.open.set()
    report = await poller.run_once()
    assert report.ok
    assert sorted(gate.handled) == RESULTS


async def test_cancelled_stop_still_ends_the_background_loop(
    api: SlowApi, client: NtrvstaClient, inbox: Inbox
) -> None:
    gate = Gate()
    poller = ResultPoller(client, gate, inbox=inbox, interval=0.05)
    poller.start()
    await asyncio.wait_for(gate.entered.wait(), 10)
    stopping = asyncio.create_task(poller.stop(drain_timeout=30))
    await asyncio.sleep(0.05)

    await cancel(stopping)

    assert not poller.running
    await assert_clean(client)
    await assert_nothing_held(inbox, gate.handled)
    gate.open.set()
    assert (await poller.run_once()).ok
    assert sorted(gate.handled) == RESULTS


async def test_run_once_after_stop_reads_every_page(
    api: SlowApi, client: NtrvstaClient, inbox: Inbox
) -> None:
    gate = Gate()
    gate.open.set()
    poller = ResultPoller(client, gate, inbox=inbox)
    api.hold()
    poller.start()
    await api.until_held()
    await poller.stop(drain_timeout=0.05)
    api.holding.clear()

    report = await poller.run_once()

    assert report.pages == len(RESULTS)
    assert sorted(gate.handled) == RESULTS
    await assert_clean(client)


# -- inbox calls cut off halfway ---------------------------------------------------------------


class ObservedInbox(SQLiteInbox):
    """A SQLite inbox that says when a claim has started."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.claiming = asyncio.Event()

    async def claim(self, key: ResultKeys, *, ttl: float = 300.0) -> Claim:
        self.claiming.set()
        return await super().claim(key, ttl=ttl)


def delivery(result_id: str) -> web.Request:
    body = json.dumps({"resultId": result_id}).encode()
    payload = StreamReader(mock.Mock(), 2**16, loop=asyncio.get_running_loop())
    payload.feed_data(body)
    payload.feed_eof()
    app = web.Application()
    track_webhook_tasks(app)
    return make_mocked_request(
        "POST", "/webhooks", headers=sign(body, SECRET), payload=payload, app=app
    )


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8, 13, 21, 34])
async def test_webhook_handler_cancelled_mid_claim_leaves_the_result_claimable(
    tmp_path: Path, steps: int
) -> None:
    events: list[str] = []

    async def on_event(event: ResultCompletedEvent) -> None:
        events.append(event.key)

    async with ObservedInbox(tmp_path / "i.db") as inbox:
        assert await inbox.set_checkpoint("opened", "yes")
        handle = webhook_handler(WebhookVerifier(SECRET), on_event, inbox=inbox)
        task = asyncio.ensure_future(handle(delivery("res_w")))
        await asyncio.wait_for(inbox.claiming.wait(), 5)
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        answered = await asyncio.gather(task, return_exceptions=True)
        await settle()

        assert leftover_tasks() == []
        if isinstance(answered[0], web.Response):
            assert answered[0].status == 200
            assert events == ["res_w"]
            assert await inbox.is_done("res_w")
        else:
            assert isinstance(answered[0], asyncio.CancelledError)
            assert events == []
            assert (await inbox.claim("res_w")).state is ClaimState.CLAIMED
        assert (await inbox.claim("res_next")).state is ClaimState.CLAIMED


@pytest.mark.parametrize("steps", [0, 1, 2, 3, 5, 8, 13, 21, 34])
async def test_run_once_cancelled_mid_claim_leaves_results_claimable(
    client: NtrvstaClient, tmp_path: Path, steps: int
) -> None:
    gate = Gate()
    gate.open.set()
    async with ObservedInbox(tmp_path / "i.db") as inbox:
        assert await inbox.set_checkpoint("opened", "yes")
        poller = ResultPoller(client, gate, inbox=inbox)
        task = asyncio.create_task(poller.run_once())
        await asyncio.wait_for(inbox.claiming.wait(), 5)
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        await assert_clean(client)
        await assert_nothing_held(inbox, gate.handled)
        assert (await poller.run_once()).ok
        assert sorted(gate.handled) == RESULTS


async def test_sqlite_inbox_call_cancelled_halfway_leaves_it_usable(tmp_path: Path) -> None:
    async with SQLiteInbox(tmp_path / "i.db") as inbox:
        await inbox.claim("warm-up")
        for steps in range(12):
            task = asyncio.create_task(inbox.claim(f"key-{steps}"))
            for _ in range(steps):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with asyncio.timeout(5):
                assert (await inbox.claim(f"next-{steps}")).acquired
                assert await inbox.set_checkpoint("c", str(steps))

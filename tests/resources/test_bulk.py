"""``invitations.create_many``: one outcome per input, bounded, lazy, rate-capped."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from ntrvsta_async import (
    BulkOutcome,
    Candidate,
    ConfigurationError,
    InvalidArgumentError,
    InvitationRequest,
    NotFoundError,
    NtrvstaClient,
    RetryPolicy,
)
from ntrvsta_async.testing import SandboxFixture
from tests.conftest import API_KEY, serve


class InvitationServer:
    """A loopback invitation endpoint that records arrivals and in-flight counts."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.arrivals: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.rate_limited_at: float | None = None
        self.throttle_first = False
        self.refuse_first = 0
        """How many requests, the first ones, are refused once each with a 429."""
        self.refused: set[str] = set()
        self.connections: set[asyncio.BaseTransport] = set()

    async def handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        if request.transport is not None:
            self.connections.add(request.transport)
        body = await request.json()
        email = body["candidate"]["email"]
        if len(self.refused) < self.refuse_first and email not in self.refused:
            self.refused.add(email)
            return web.json_response(
                {"message": "slow down"}, status=429, headers={"Retry-After": "0.5"}
            )
        if self.throttle_first and self.rate_limited_at is None:
            self.rate_limited_at = time.monotonic()
            return web.json_response(
                {"message": "slow down"}, status=429, headers={"Retry-After": "0.4"}
            )
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return web.json_response({"invitationId": f"inv-{email}"}, status=201)


@pytest.fixture
async def server() -> AsyncIterator[tuple[InvitationServer, NtrvstaClient]]:
    state = InvitationServer()
    app = web.Application()
    app.router.add_post("/v1/interview-invitations", state.handle)
    async with (
        serve(app, handler_cancellation=True) as base,
        NtrvstaClient(api_key=API_KEY, base_url=base) as client,
    ):
        yield state, client


class Pulled:
    """An input for ``create_many`` that counts how many of its items were pulled."""

    def __init__(self, items: Iterable[object]) -> None:
        self.count = 0
        self._items = items

    def __iter__(self) -> Iterator[object]:
        for item in self._items:
            self.count += 1
            yield item


def requests(n: int, template_id: str = "tpl") -> list[InvitationRequest]:
    return [InvitationRequest(template_id, Candidate(email=f"c{i}@example.com")) for i in range(n)]


def failing_after(n: int, error: BaseException) -> Iterator[InvitationRequest]:
    """An input that yields ``n`` requests and then fails with ``error``."""
    yield from requests(n)
    raise error


async def test_every_input_yields_one_outcome_and_bad_items_do_not_stop_others(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    client = ntrvsta_sandbox.client
    template = await client.templates.create(title="Bulk")
    other_org_key = ntrvsta_sandbox.server.add_organization()
    assert other_org_key
    inputs: list[Any] = [
        *requests(5, template.template_id),
        {"template_id": template.template_id, "candidate": {"email": "map@example.com"}},
        {"template_id": template.template_id, "candidate": {"first_name": "no email"}},
        "not a request",
        InvitationRequest("tpl_unknown", {"email": "x@example.com"}),
    ]
    progress: list[tuple[int, int | None]] = []
    result = await client.invitations.create_many(
        inputs, concurrency=3, on_progress=lambda done, total: progress.append((done, total))
    )
    assert result.total == len(inputs)
    assert [o.index for o in result.succeeded] == [0, 1, 2, 3, 4, 5]
    assert [o.index for o in result.failed] == [6, 7, 8]
    assert all(o.invitation is not None and o.invitation.reused is False for o in result.succeeded)
    bad_candidate, not_request, unknown_template = result.failed
    assert isinstance(bad_candidate.error, InvalidArgumentError)
    assert isinstance(not_request.error, InvalidArgumentError)
    assert not_request.request == "not a request"
    assert isinstance(unknown_template.error, NotFoundError)
    assert unknown_template.request == inputs[8]
    assert progress[-1] == (len(inputs), len(inputs))
    assert [done for done, _ in progress] == list(range(1, len(inputs) + 1))
    assert len(ntrvsta_sandbox.server.invitations) == 6

    again = await client.invitations.create_many(requests(5, template.template_id))
    assert all(o.invitation is not None and o.invitation.reused for o in again.succeeded)


async def test_concurrency_is_bounded(server: tuple[InvitationServer, NtrvstaClient]) -> None:
    state, client = server
    state.delay = 0.02
    result = await client.invitations.create_many(requests(40), concurrency=5)
    assert len(result.succeeded) == 40
    assert state.max_in_flight == 5


async def test_input_is_read_lazily_and_outcomes_stream(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    _, client = server
    inputs = Pulled(InvitationRequest("tpl", Candidate(email=f"c{i}@x.io")) for i in range(10**5))
    progress: list[int | None] = []
    run = client.invitations.create_many(
        inputs, concurrency=4, on_progress=lambda done, total: progress.append(total)
    )
    seen: list[BulkOutcome] = []
    async for outcome in run:
        seen.append(outcome)
        if len(seen) == 10:
            break
    assert inputs.count <= 10 + 2 * 4 + 1
    assert progress == [None] * 10
    with pytest.raises(ConfigurationError, match="consumed"):
        run.__aiter__()


async def test_a_slow_consumer_holds_the_workers_back(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    _, client = server
    inputs = Pulled(InvitationRequest("tpl", Candidate(email=f"s{i}@x.io")) for i in range(60))
    ahead: list[int] = []
    consumed = 0
    async for outcome in client.invitations.create_many(inputs, concurrency=3):
        assert outcome.ok
        consumed += 1
        await asyncio.sleep(0.01)
        ahead.append(inputs.count - consumed)
    assert consumed == 60
    assert max(ahead) <= 2 * 3
    assert max(ahead) >= 3


async def test_async_iterable_input(server: tuple[InvitationServer, NtrvstaClient]) -> None:
    _, client = server

    async def generate() -> AsyncIterator[dict[str, Any]]:
        for i in range(12):
            await asyncio.sleep(0)
            yield {"template_id": "tpl", "candidate": {"email": f"a{i}@example.com"}}

    outcomes = [o async for o in client.invitations.create_many(generate(), concurrency=3)]
    assert sorted(o.index for o in outcomes) == list(range(12))
    assert {o.invitation.invitation_id for o in outcomes if o.invitation} == {
        f"inv-a{i}@example.com" for i in range(12)
    }


async def test_rate_limit_spaces_requests(server: tuple[InvitationServer, NtrvstaClient]) -> None:
    state, client = server
    started = time.monotonic()
    result = await client.invitations.create_many(requests(25), concurrency=25, rate_limit=10)
    elapsed = time.monotonic() - started
    assert len(result.succeeded) == 25
    assert elapsed >= 2.3
    first_second = [t for t in state.arrivals if t - state.arrivals[0] < 0.95]
    assert len(first_second) <= 10


async def test_failures_keep_request_and_exception(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    _, client = server
    fast = client.with_options(retry_policy=RetryPolicy(max_retries=0))
    result = await fast.invitations.create_many([InvitationRequest("", {"email": 5}), *requests(2)])
    (failure,) = result.failed
    assert failure.index == 0
    assert isinstance(failure.error, InvalidArgumentError)
    assert isinstance(failure.request, InvitationRequest)
    assert not failure.ok


async def test_failing_input_iterable_is_raised(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    _, client = server
    broken = failing_after(3, OSError("disk read failed"))
    with pytest.raises(OSError, match="disk read failed"):
        await client.invitations.create_many(broken, concurrency=2)


async def _collect(run: AsyncIterable[BulkOutcome], into: list[BulkOutcome]) -> None:
    async for outcome in run:
        into.append(outcome)


async def test_a_failing_input_lets_the_requests_in_flight_finish_and_report_first(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.delay = 0.3
    broken = failing_after(3, OSError("disk read failed"))
    outcomes: list[BulkOutcome] = []
    with pytest.raises(OSError, match="disk read failed"):
        await _collect(client.invitations.create_many(broken, concurrency=2), outcomes)
    assert state.in_flight == 0
    assert sorted(o.index for o in outcomes) == [0, 1, 2]
    assert all(o.ok for o in outcomes)
    assert len(state.arrivals) == 3


class _Abort(BaseException):
    """An input failure that is not an ``Exception``."""


async def test_an_input_raising_a_base_exception_ends_the_run_with_it(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    _, client = server
    async with asyncio.timeout(5):
        with pytest.raises(_Abort):
            await client.invitations.create_many(failing_after(2, _Abort()), concurrency=2)


async def test_an_async_input_raising_cancelled_error_is_an_error_not_an_end(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    _, client = server

    async def interrupted() -> AsyncIterator[InvitationRequest]:
        for request in requests(3):
            yield request
        raise asyncio.CancelledError

    outcomes: list[BulkOutcome] = []
    async with asyncio.timeout(5):
        with pytest.raises(RuntimeError, match="CancelledError"):
            await _collect(client.invitations.create_many(interrupted(), concurrency=2), outcomes)
    assert len(outcomes) == 3


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ("abc", {}),
        ({"template_id": "t"}, {}),
        ([], {"concurrency": 0}),
        ([], {"concurrency": True}),
        ([], {"rate_limit": 0}),
        ([], {"on_progress": "print"}),
    ],
)
async def test_bad_arguments(
    server: tuple[InvitationServer, NtrvstaClient], args: Any, kwargs: dict[str, Any]
) -> None:
    _, client = server
    with pytest.raises(InvalidArgumentError):
        client.invitations.create_many(args, **kwargs)


async def test_invalid_inputs_alone_stay_bounded_and_each_get_an_outcome(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    inputs = Pulled({"candidate": {"email": f"x{i}@x.io"}} for i in range(1000))
    ahead: list[int] = []
    consumed = 0
    async for outcome in client.invitations.create_many(inputs, concurrency=4):
        assert isinstance(outcome.error, InvalidArgumentError)
        consumed += 1
        ahead.append(inputs.count - consumed)
    assert consumed == 1000
    assert max(ahead) <= 2 * 4
    assert not state.arrivals


async def _all_closed(connections: set[asyncio.BaseTransport]) -> bool:
    """True once every connection was closed by the client (within a generous bound)."""
    for _ in range(200):
        if all(connection.is_closing() for connection in connections):
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_run_gets_a_pool_of_its_own_closed_after_it(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.delay = 0.05
    narrow = NtrvstaClient(api_key=API_KEY, base_url=client.base_url, max_connections=2)
    async with narrow:
        result = await narrow.invitations.create_many(requests(12), concurrency=6)
        assert len(result.succeeded) == 12
        assert state.max_in_flight == 6
        assert len(state.connections) >= 6
        assert await _all_closed(state.connections), "the run's own pool was left open"
        after = await narrow.invitations.create(template_id="tpl", candidate={"email": "a@x.io"})
    assert after.invitation_id == "inv-a@x.io"


async def test_a_callers_narrow_session_is_kept_and_the_limit_said_once(
    server: tuple[InvitationServer, NtrvstaClient], caplog: pytest.LogCaptureFixture
) -> None:
    state, client = server
    state.delay = 0.02
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as session,
        NtrvstaClient(api_key=API_KEY, base_url=client.base_url, session=session) as own,
    ):
        with caplog.at_level(logging.WARNING, logger="ntrvsta_async"):
            result = await own.invitations.create_many(requests(8), concurrency=4)
        assert not session.closed
    assert len(result.succeeded) == 8
    assert state.max_in_flight == 2
    (warning,) = [r.getMessage() for r in caplog.records if "create_many" in r.getMessage()]
    assert "allows 2 connections" in warning


async def test_a_request_waiting_to_retry_leaves_its_place_to_the_next_input(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.delay = 0.005
    state.refuse_first = 4
    order: list[str] = []
    # Unpaced, so that only the waiting requests' places are at stake here.
    async with NtrvstaClient(api_key=API_KEY, base_url=client.base_url, rate_limit=None) as own:
        async for outcome in own.invitations.create_many(requests(40), concurrency=4):
            assert outcome.ok
            assert isinstance(outcome.request, InvitationRequest)
            candidate = outcome.request.candidate
            order.append(candidate.email if isinstance(candidate, Candidate) else "")
    assert len(order) == 40
    assert len(state.refused) == 4
    # While the four refused requests waited out their Retry-After, stand-ins took the
    # next inputs: most of the run finished before the first retried request did.
    first_retried = min(order.index(email) for email in state.refused)
    assert first_retried >= 20, order
    assert state.max_in_flight <= 4


async def test_on_a_callers_session_a_waiting_request_keeps_its_place(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.throttle_first = True
    async with (
        aiohttp.ClientSession() as session,
        NtrvstaClient(api_key=API_KEY, base_url=client.base_url, session=session) as own,
    ):
        order = [o.index async for o in own.invitations.create_many(requests(6), concurrency=1)]
    # One worker, and no pool of the run's own to cap the requests in flight: the refused
    # first input is retried before anything else is sent.
    assert order == list(range(6))


async def test_the_users_retry_hook_hears_every_retry_while_stand_ins_run(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.delay = 0.01
    state.refuse_first = 6
    heard: list[float] = []
    policy = RetryPolicy(on_retry=lambda _, wait: heard.append(wait))
    async with NtrvstaClient(
        api_key=API_KEY, base_url=client.base_url, rate_limit=None, retry_policy=policy
    ) as own:
        result = await own.invitations.create_many(requests(30), concurrency=3)
    assert len(result.succeeded) == 30
    assert [o.index for o in result.succeeded] == list(range(30))
    assert heard == [0.5] * 6
    assert len(state.arrivals) == 30 + 6, "each input sent once, plus its one retry"
    assert state.max_in_flight <= 3


class Misreported(list[InvitationRequest]):
    """A list that says it is empty: its length is no bound on what it yields."""

    def __len__(self) -> int:
        return 0


async def _brief(_: float) -> None:
    await asyncio.sleep(0.02)


async def test_an_input_whose_length_lies_keeps_the_concurrency(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.delay = 0.3
    state.refuse_first = 4
    # The refused requests are retried while their stand-ins' requests are still in flight.
    policy = RetryPolicy(sleep=_brief)
    async with NtrvstaClient(
        api_key=API_KEY, base_url=client.base_url, rate_limit=None, retry_policy=policy
    ) as own:
        run = own.invitations.create_many(Misreported(requests(12)), concurrency=4)
        outcomes = [o async for o in run]
    assert sorted(o.index for o in outcomes) == list(range(12))
    assert all(o.ok for o in outcomes)
    assert state.max_in_flight == 4


async def test_cancelling_the_consumer_during_a_retry_wait_leaves_no_task_and_closes_the_pool(
    server: tuple[InvitationServer, NtrvstaClient],
) -> None:
    state, client = server
    state.delay = 0.01
    state.refuse_first = 3
    before = asyncio.all_tasks()
    seen: list[BulkOutcome] = []
    consumer = asyncio.create_task(
        _collect(client.invitations.create_many(requests(10**5), concurrency=3), seen)
    )
    for _ in range(400):  # until the refused three wait out their Retry-After
        if len(state.refused) == 3 and len(seen) >= 5:
            break
        await asyncio.sleep(0.005)
    assert len(state.refused) == 3
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    left = [task for task in asyncio.all_tasks() - before if "bulk.py" in repr(task)]
    assert not left, "a worker outlived its run"
    assert await _all_closed(state.connections), "the run's own pool was left open"
    assert len(state.arrivals) <= len(seen) + 3 + 2 * 3

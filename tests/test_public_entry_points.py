"""Every public entry point, called with arbitrary argument values, raises nothing but an
``NtrvstaError``: never a bare TypeError, ValueError, or an aiohttp, yarl or cattrs error."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async import (
    Candidate,
    Contract,
    InvitationRequest,
    NtrvstaClient,
    NtrvstaError,
    RetryPolicy,
)
from ntrvsta_async.reconcile import MemoryInbox, RedisInbox, RedisLease, ResultPoller, SQLiteInbox
from ntrvsta_async.webhooks import WebhookVerifier, sign
from tests.conftest import serve

API_KEY = "ntr_test_entry_points_0123456789"

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from([object(), ..., int, "/v1/templates", "GET", "https://x.test"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=8) | st.integers(), inner, max_size=3)
    ),
    max_leaves=8,
)
"""Arbitrary argument values: JSON-like and not, well-typed by chance and otherwise."""


async def _drain(iterator: AsyncIterator[Any]) -> None:
    async for _ in iterator:
        pass


Call = Callable[[NtrvstaClient, str, list[Any]], Awaitable[Any] | Any]

# One row per entry point: (number of arbitrary arguments, the call). Adding an entry point
# (an inbox, the poller, a lease) is one more row.
ENTRY_POINTS: dict[str, tuple[int, Call]] = {
    "NtrvstaClient": (
        7,
        lambda _, url, a: NtrvstaClient(
            a[0],
            a[1],
            auth_scheme=a[2],
            timeout=a[3],
            max_retries=a[4],
            max_connections=a[5],
            user_agent=a[6],
        ),
    ),
    "NtrvstaClient.with_options": (
        3,
        lambda c, _, a: c.with_options(timeout=a[0], max_retries=a[1], max_response_size=a[2]),
    ),
    "NtrvstaClient.request": (
        4,
        lambda c, _, a: c.request(a[0], a[1], json=a[2], params=a[3]),
    ),
    "NtrvstaClient.request(path)": (
        3,
        lambda c, _, a: c.request("POST", f"/{a[0]}", json=a[1], params=a[2]),
    ),
    "templates.create": (
        6,
        lambda c, _, a: c.templates.create(
            title=a[0],
            description=a[1],
            external_posting_id=a[2],
            invite_url_expires_in_days=a[3],
            whiteboard_design=a[4],
            extra_body=a[5],
        ),
    ),
    "invitations.create": (
        3,
        lambda c, _, a: c.invitations.create(template_id=a[0], candidate=a[1], extra_body=a[2]),
    ),
    "invitations.create(Candidate)": (
        4,
        lambda c, _, a: c.invitations.create(
            template_id="tpl", candidate=Candidate(a[0], a[1], a[2], a[3])
        ),
    ),
    "invitations.create_many": (
        4,
        lambda c, _, a: c.invitations.create_many(
            a[0], concurrency=a[1], rate_limit=a[2], on_progress=a[3]
        ),
    ),
    "invitations.create_many(items)": (
        3,
        lambda c, _, a: c.invitations.create_many(
            [InvitationRequest(a[0], a[1], a[2]), {"templateId": a[0]}, a[1]]
        ),
    ),
    "results.list_page": (
        6,
        lambda c, _, a: c.results.list_page(
            cursor=a[0],
            template_id=a[1],
            external_posting_id=a[2],
            completed_after=a[3],
            limit=a[4],
            extra=a[5],
        ),
    ),
    "results.list": (
        4,
        lambda c, _, a: _drain(
            c.results.list(template_id=a[0], completed_after=a[1], limit=a[2], extra=a[3])
        ),
    ),
    "results.wait_for": (
        3,
        lambda c, _, a: c.results.wait_for(
            a[0], timeout=0.05, poll_interval=a[1], template_id=a[2]
        ),
    ),
    "RetryPolicy": (
        4,
        lambda _, __, a: RetryPolicy(
            max_retries=a[0], initial_backoff=a[1], max_backoff=a[2], retry_statuses=a[3]
        ),
    ),
    "Contract": (
        3,
        lambda _, __, a: Contract(results_path=a[0], page_items_keys=a[1], status_created=a[2]),
    ),
    "WebhookVerifier": (2, lambda _, __, a: WebhookVerifier(a[0], tolerance=a[1])),
    "WebhookVerifier.verify": (2, lambda _, __, a: WebhookVerifier("whsec_x").verify(a[0], a[1])),
    "sign": (3, lambda _, __, a: sign(a[0], a[1], timestamp=a[2])),
    "MemoryInbox.claim": (2, lambda _, __, a: _inbox_call("claim", a)),
    "MemoryInbox.renew": (3, lambda _, __, a: _inbox_call("renew", a)),
    "MemoryInbox.complete": (2, lambda _, __, a: _inbox_call("complete", a)),
    "MemoryInbox.is_done": (1, lambda _, __, a: _inbox_call("is_done", a)),
    "MemoryInbox.set_checkpoint": (3, lambda _, __, a: _inbox_call("set_checkpoint", a)),
    "SQLiteInbox": (2, lambda _, __, a: SQLiteInbox(a[0], busy_timeout=a[1])),
    "RedisInbox": (4, lambda _, __, a: RedisInbox(a[0], prefix=a[1], done_ttl=a[2], retries=a[3])),
    "RedisLease": (3, lambda _, __, a: RedisLease(a[0], a[1], ttl=a[2])),
    "ResultPoller": (
        6,
        lambda c, _, a: ResultPoller(
            c,
            _handler,
            inbox=MemoryInbox(),
            interval=a[0],
            concurrency=a[1],
            partitions=a[2],
            lookback=a[3],
            start_from=a[4],
            claim_ttl=a[5],
        ),
    ),
    "ResultPoller(handler)": (1, lambda c, _, a: ResultPoller(c, a[0], inbox=MemoryInbox())),
}


async def _handler(result: object) -> None:
    """A well-formed handler, so the other arguments are the ones under test."""


async def _inbox_call(method: str, args: list[Any]) -> None:
    async with MemoryInbox() as inbox:
        call = getattr(inbox, method)
        if method in ("claim", "renew"):
            await call(*args[:-1], ttl=args[-1])
        elif method == "set_checkpoint":
            await call(args[0], args[1], fence=args[2])
        else:
            await call(*args)


async def _ok(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"items": []})


@pytest.fixture
async def api_url() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _ok)
    async with serve(app) as url:
        yield url


async def _call(call: Call, client: NtrvstaClient, url: str, args: list[Any]) -> None:
    result = call(client, url, args)
    if isinstance(result, NtrvstaClient):
        await result.close()
    elif hasattr(result, "__await__"):
        outcome = await result
        if isinstance(outcome, NtrvstaClient):
            await outcome.close()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
@pytest.mark.parametrize("name", ENTRY_POINTS)
async def test_arbitrary_arguments_raise_only_sdk_errors(
    api_url: str, name: str, data: st.DataObject
) -> None:
    count, call = ENTRY_POINTS[name]
    args = data.draw(st.lists(VALUES, min_size=count, max_size=count), label="args")
    async with NtrvstaClient(api_key=API_KEY, base_url=api_url, max_retries=0) as client:
        with contextlib.suppress(NtrvstaError):
            await _call(call, client, api_url, args)

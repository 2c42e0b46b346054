"""Hostile API responses: malformed, huge, deeply nested, wrongly typed, invalid UTF-8, broken
HTTP. Every public call raises a clear ``NtrvstaError`` (or parses what is valid), nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async import (
    APIConnectionError,
    APIStatusError,
    NotFoundError,
    NtrvstaClient,
    NtrvstaError,
    Page,
    RateLimitError,
    ResponseValidationError,
    RetryPolicy,
    ServerError,
    Template,
)
from tests.conftest import RecordingSleep, serve

API_KEY = "ntr_live_hostile_0123456789abcdef"
MB = 1024 * 1024


@attrs.define
class Scripted:
    """A loopback API whose every route answers with ``status``, ``headers`` and ``body``."""

    base_url: str = ""
    status: int = 200
    headers: dict[str, str] = attrs.Factory(dict)
    body: bytes = b""
    requests: int = 0

    def answer(self, status: int, body: bytes, **headers: str) -> None:
        self.status, self.body, self.headers = status, body, dict(headers)


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    server = Scripted()

    async def handle(request: web.Request) -> web.Response:
        server.requests += 1
        await request.read()
        return web.Response(status=server.status, headers=server.headers, body=server.body)

    app = web.Application(client_max_size=MB)
    app.router.add_route("*", "/{tail:.*}", handle)
    async with serve(app) as url:
        server.base_url = url
        yield server


@pytest.fixture
async def client(scripted: Scripted) -> AsyncIterator[NtrvstaClient]:
    async with NtrvstaClient(api_key=API_KEY, base_url=scripted.base_url, max_retries=0) as c:
        yield c


Call = Callable[[NtrvstaClient], Awaitable[Any]]


async def _list_all(client: NtrvstaClient) -> list[Any]:
    return [item async for item in client.results.list()]


CALLS: dict[str, Call] = {
    "templates.create": lambda c: c.templates.create(title="t", external_posting_id="p"),
    "invitations.create": lambda c: c.invitations.create(
        template_id="tpl_1", candidate={"email": "a@b.c"}
    ),
    "results.list_page": lambda c: c.results.list_page(),
    "results.list": _list_all,
}

NOT_JSON: list[Any] = [
    pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html"),
    pytest.param(b'{"templateId": "t1", "title": ', id="truncated-json"),
    pytest.param(b"\xff\xfe\x00{\x00}", id="invalid-utf8"),
    pytest.param(b'{"templateId": "\xc3\x28", "title": "x"}', id="invalid-utf8-in-string"),
    pytest.param(b"\x00" * 64, id="nul-bytes"),
    pytest.param(b'{"templateId": "t", "n": ' + b"9" * 5000 + b"}", id="int-beyond-digit-limit"),
]


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("body", NOT_JSON)
async def test_body_that_is_not_json_is_a_validation_error(
    scripted: Scripted, client: NtrvstaClient, call: Call, body: bytes
) -> None:
    scripted.answer(200, body, **{"Content-Type": "application/json"})

    with pytest.raises(ResponseValidationError) as info:
        await call(client)

    assert len(str(info.value)) < 500


WRONG_SHAPES: list[Any] = [
    pytest.param(b"", id="empty"),
    pytest.param(b"null", id="null"),
    pytest.param(b"42", id="number"),
    pytest.param(b'"text"', id="string"),
    pytest.param(b'{"templateId": 5, "invitationId": [], "items": "x"}', id="wrong-types"),
]
OPERATOR_OBJECT = b'{"items": [{"resultId": {"$ne": 1}}]}'


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("body", WRONG_SHAPES)
async def test_wrong_shape_is_a_validation_error_naming_a_path(
    scripted: Scripted, client: NtrvstaClient, call: Call, body: bytes
) -> None:
    scripted.answer(201, body)

    with pytest.raises(ResponseValidationError) as info:
        await call(client)

    assert info.value.path.startswith("$")


@pytest.mark.parametrize("call", [CALLS["templates.create"], CALLS["invitations.create"]])
async def test_an_operator_object_is_a_validation_error(
    scripted: Scripted, client: NtrvstaClient, call: Call
) -> None:
    scripted.answer(201, OPERATOR_OBJECT)

    with pytest.raises(ResponseValidationError) as info:
        await call(client)

    assert info.value.path.startswith("$")


async def test_an_operator_object_in_a_results_page_is_a_skipped_result(
    scripted: Scripted, client: NtrvstaClient
) -> None:
    scripted.answer(200, OPERATOR_OBJECT)

    page = await client.results.list_page()

    assert page.items == ()
    (skipped,) = page.skipped
    assert "$.items[0].resultId" in skipped


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("status", [200, 400])
async def test_deeply_nested_json_is_a_clear_error(
    scripted: Scripted, client: NtrvstaClient, status: int
) -> None:
    scripted.answer(status, DEEP)

    with pytest.raises(NtrvstaError):
        await client.results.list_page()


async def test_nesting_within_reason_inside_unknown_fields_is_kept(
    scripted: Scripted, client: NtrvstaClient
) -> None:
    nested: Any = "leaf"
    for _ in range(300):
        nested = {"n": nested}
    scripted.answer(201, json.dumps({"templateId": "t1", "title": "x", "future": nested}).encode())

    template = await client.templates.create(title="x", external_posting_id="p")

    assert template.extra["future"] == nested
    assert template.to_dict()["future"] == nested


async def test_nesting_inside_a_known_field_skips_that_result(
    scripted: Scripted, client: NtrvstaClient
) -> None:
    nested: Any = "leaf"
    for _ in range(300):
        nested = [nested]
    scripted.answer(200, json.dumps({"items": [{"resultId": nested}]}).encode())

    page = await client.results.list_page()

    assert page.items == ()
    (skipped,) = page.skipped
    assert "$.items[0].resultId" in skipped


# -- huge responses --------------------------------------------------------------------------


async def test_20_mb_json_response_is_parsed(scripted: Scripted, client: NtrvstaClient) -> None:
    description = "d" * (20 * MB)
    scripted.answer(
        201, json.dumps({"templateId": "t1", "title": "x", "description": description}).encode()
    )

    template = await client.templates.create(title="x", external_posting_id="p")

    assert isinstance(template, Template)
    assert template.description == description


@pytest.mark.slow
async def test_20_mb_page_of_results_is_parsed(scripted: Scripted, client: NtrvstaClient) -> None:
    item = {"resultId": "", "overallScore": 71.5, "completedAt": "2026-01-01T00:00:00Z"}
    items = [{**item, "resultId": f"res_{n:08d}", "pad": "p" * 140} for n in range(100_000)]
    body = json.dumps({"items": items, "nextCursor": None}).encode()
    assert len(body) > 20 * MB
    scripted.answer(200, body)

    page = await client.results.list_page()

    assert isinstance(page, Page)
    assert len(page.items) == 100_000
    assert page.items[-1].result_id == "res_00099999"


@pytest.mark.parametrize("status", [200, 500])
async def test_20_mb_of_garbage_gives_a_short_error(
    scripted: Scripted, client: NtrvstaClient, status: int
) -> None:
    scripted.answer(status, b"<" * (20 * MB))

    with pytest.raises((ResponseValidationError, ServerError)) as info:
        await client.results.list_page()

    assert len(str(info.value)) < 600
    assert len(repr(info.value)) < 700


async def test_huge_error_message_is_truncated(scripted: Scripted, client: NtrvstaClient) -> None:
    scripted.answer(404, json.dumps({"message": "m" * MB, "code": {"not": "a string"}}).encode())

    with pytest.raises(NotFoundError) as info:
        await client.results.list_page()

    assert len(info.value.message) <= 500
    assert info.value.code is None


# -- arbitrary bodies ------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["templateId", "title", "invitationId", "items", "nextCursor", "resultId", "x"]
            )
            | st.text(max_size=6),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
BODIES = st.binary(max_size=200) | JSON.map(lambda value: json.dumps(value).encode())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=BODIES,
    status=st.sampled_from([200, 201, 400, 404, 409, 422, 500]),
    call=st.sampled_from(list(CALLS)),
)
async def test_arbitrary_bodies_raise_only_sdk_errors(
    scripted: Scripted, client: NtrvstaClient, body: bytes, status: int, call: str
) -> None:
    scripted.answer(status, body)
    if status < 300:
        with contextlib.suppress(ResponseValidationError):
            await CALLS[call](client)
    else:
        with pytest.raises(APIStatusError) as info:
            await CALLS[call](client)
        assert info.value.status == status
        assert re.match(rf"(GET|POST) /v1/[a-z-]+: HTTP {status}: ", str(info.value))


# -- hostile headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "retry_after", ["1e309", "-5", "NaN", "inf", "Wed, 99 Foo 2026", "9" * 400, "86400", ""]
)
async def test_hostile_retry_after_never_sleeps_past_the_cap(
    scripted: Scripted, retry_after: str
) -> None:
    sleeps = RecordingSleep()
    policy = RetryPolicy(max_retries=2, sleep=sleeps, max_retry_after=60)
    scripted.answer(429, b'{"message": "slow down"}', **{"Retry-After": retry_after})
    async with NtrvstaClient(api_key=API_KEY, base_url=scripted.base_url, retry_policy=policy) as c:
        with pytest.raises(RateLimitError):
            await c.results.list_page()
    assert all(0 <= wait <= 60 for wait in sleeps.waits)


RawReply = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> None:
    while await reader.readline() not in (b"\r\n", b""):
        pass


def reply(raw: bytes) -> RawReply:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(raw)
        await writer.drain()
        writer.close()

    return handle


BROKEN_HTTP: list[Any] = [
    pytest.param(
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\nContent-Length: 2\r\n\r\n{}",
        APIConnectionError,
        id="oversized-header",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b'{"items": []',
        APIConnectionError,
        id="truncated-body",
    ),
    pytest.param(b"HTTP/1.1 abc\r\n\r\n", APIConnectionError, id="garbage-status-line"),
    pytest.param(b"", APIConnectionError, id="closed-without-answer"),
    pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", APIConnectionError, id="not-http"),
    pytest.param(
        b"HTTP/1.1 404 Not Found\r\nX-Request-Id: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}",
        NotFoundError,
        id="latin1-request-id",
    ),
    pytest.param(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Encoding: gzip\r\n\r\n{}",
        APIConnectionError,
        id="lying-content-encoding",
    ),
]


@pytest.mark.parametrize(("raw", "expected"), BROKEN_HTTP)
async def test_broken_http_maps_to_sdk_errors(raw: bytes, expected: type[Exception]) -> None:
    server = await asyncio.start_server(reply(raw), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with NtrvstaClient(
            api_key=API_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0
        ) as client:
            with pytest.raises(expected) as info:
                await client.results.list_page()
            assert API_KEY not in str(info.value)
    finally:
        server.close()
        await server.wait_closed()

"""``max_response_size``: a body is capped after decompression, whether the server declares
its length, compresses it or streams it without end; an abandoned body's connection is closed
and not reused, and nothing is retried or leaked."""

from __future__ import annotations

import asyncio
import gc
import gzip
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web

from ntrvsta_async import (
    ConfigurationError,
    NtrvstaClient,
    ResponseTooLargeError,
    ResponseValidationError,
    RetryPolicy,
)
from tests.conftest import RecordingSleep, serve

API_KEY = "ntr_live_size_0123456789abcdefSECRET"
CAP = 1000
OFFERED = 256 * 1024 * 1024
PIECE = b"0," * 32 * 1024


def json_of_size(size: int) -> bytes:
    """A JSON string of exactly ``size`` bytes."""
    return b'"' + b"x" * (size - 2) + b'"'


@attrs.define
class Server:
    """A loopback API that answers with bodies of a requested size, and remembers what it saw."""

    base_url: str = ""
    requests: dict[str, int] = attrs.Factory(dict)
    peers: list[tuple[str, int]] = attrs.Factory(list)
    written: int = 0
    gone: bool = False
    ended: asyncio.Event = attrs.Factory(asyncio.Event)


def app_for(server: Server) -> web.Application:
    def seen(request: web.Request) -> int:
        server.requests[request.path] = server.requests.get(request.path, 0) + 1
        assert request.transport is not None
        server.peers.append((request.path, request.transport.get_extra_info("peername")[1]))
        return int(request.match_info["size"])

    async def sized(request: web.Request) -> web.Response:
        body = json_of_size(seen(request))
        return web.Response(body=body, status=int(request.query.get("status", "200")))

    async def gzipped(request: web.Request) -> web.Response:
        body = gzip.compress(json_of_size(seen(request)))
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def chunked(request: web.Request) -> web.StreamResponse:
        body = json_of_size(seen(request))
        resp = web.StreamResponse()
        await resp.prepare(request)
        for start in range(0, len(body), 400):
            await resp.write(body[start : start + 400])
        return resp

    async def bomb(request: web.Request) -> web.Response:
        seen(request)
        body = gzip.compress(b"[" + b"0," * 100_000 + b"0]")
        return web.Response(body=body, headers={"Content-Encoding": "gzip"})

    async def endless(request: web.Request) -> web.StreamResponse:
        seen(request)
        resp = web.StreamResponse()
        if "declared" in request.query:
            resp.content_length = 1 + OFFERED + 2
        await resp.prepare(request)
        try:
            await resp.write(b"[")
            while server.written < OFFERED:
                await resp.write(PIECE)
                server.written += len(PIECE)
            await resp.write(b"0]")
        except ConnectionError:
            server.gone = True
        finally:
            server.ended.set()
        return resp

    app = web.Application()
    app.router.add_route("*", "/v1/sized/{size}", sized)
    app.router.add_get("/v1/gzip/{size}", gzipped)
    app.router.add_get("/v1/chunked/{size}", chunked)
    app.router.add_get("/v1/bomb/{size}", bomb)
    app.router.add_get("/v1/endless/{size}", endless)
    return app


@pytest.fixture
async def leaks() -> AsyncIterator[list[dict[str, Any]]]:
    """Unclosed-response reports the event loop receives while a test runs (debug mode)."""
    loop = asyncio.get_running_loop()
    reports: list[dict[str, Any]] = []
    loop.set_debug(True)
    loop.set_exception_handler(lambda _, context: reports.append(context))
    yield reports
    gc.collect()
    loop.set_exception_handler(None)
    loop.set_debug(False)
    assert [r["message"] for r in reports if "nclosed" in r["message"]] == []


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    state = Server()
    async with serve(app_for(state)) as base_url:
        state.base_url = base_url
        yield state


@pytest.fixture
async def client(
    server: Server, sleeps: RecordingSleep, leaks: list[dict[str, Any]]
) -> AsyncIterator[NtrvstaClient]:
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.5)
    async with NtrvstaClient(
        api_key=API_KEY, base_url=server.base_url, retry_policy=policy, max_response_size=CAP
    ) as c:
        yield c


@pytest.mark.parametrize("kind", ["sized", "gzip", "chunked"])
async def test_a_body_exactly_at_the_cap_is_read(client: NtrvstaClient, kind: str) -> None:
    assert await client.request("GET", f"/v1/{kind}/{CAP}") == "x" * (CAP - 2)


@pytest.mark.parametrize("kind", ["sized", "gzip", "chunked"])
async def test_one_byte_over_the_cap_is_refused(
    client: NtrvstaClient, server: Server, sleeps: RecordingSleep, kind: str
) -> None:
    path = f"/v1/{kind}/{CAP + 1}"

    with pytest.raises(ResponseTooLargeError) as info:
        await client.request("GET", path)

    assert isinstance(info.value, ResponseValidationError)
    assert info.value.limit == CAP
    assert f"GET {path}" in str(info.value)
    assert f"({CAP} bytes)" in str(info.value)
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)
    assert server.requests[path] == 1
    assert sleeps.waits == []


async def test_a_declared_length_over_the_cap_is_refused_even_for_a_retryable_status(
    client: NtrvstaClient, server: Server, sleeps: RecordingSleep
) -> None:
    with pytest.raises(ResponseTooLargeError, match="HTTP 503"):
        await client.request("GET", "/v1/sized/5000", params={"status": "503"})

    assert server.requests["/v1/sized/5000"] == 1
    assert sleeps.waits == []


async def test_a_gzip_bomb_is_capped_after_decompression(client: NtrvstaClient) -> None:
    assert len(gzip.compress(b"[" + b"0," * 100_000 + b"0]")) < CAP

    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/v1/bomb/0")


@pytest.mark.parametrize(
    "params", [pytest.param({}, id="chunked"), pytest.param({"declared": "1"}, id="declared")]
)
async def test_a_huge_body_is_abandoned_and_its_connection_closed(
    client: NtrvstaClient, server: Server, params: dict[str, str]
) -> None:
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", "/v1/endless/0", params=params)

    await asyncio.wait_for(server.ended.wait(), timeout=10)
    assert server.gone  # the client hung up; the response ended before its body did
    assert server.written < OFFERED // 8

    assert await client.request("GET", "/v1/sized/10") == "x" * 8
    assert server.peers[-1][1] != server.peers[-2][1]  # on a new connection


@pytest.mark.parametrize("kind", ["sized", "gzip", "chunked", "bomb", "endless"])
async def test_the_client_works_after_an_oversized_response(
    client: NtrvstaClient, kind: str
) -> None:
    with pytest.raises(ResponseTooLargeError):
        await client.request("GET", f"/v1/{kind}/{10 * CAP}")

    assert await client.request("GET", "/v1/sized/10") == "x" * 8
    assert await client.request("GET", f"/v1/chunked/{CAP}") == "x" * (CAP - 2)


async def test_a_head_request_is_not_refused_for_its_declared_length(
    client: NtrvstaClient,
) -> None:
    assert await client.request("HEAD", f"/v1/sized/{10 * CAP}") is None


async def test_none_lifts_the_cap(server: Server) -> None:
    async with NtrvstaClient(
        api_key=API_KEY, base_url=server.base_url, max_response_size=None
    ) as client:
        assert client.max_response_size is None
        for kind in ("sized", "gzip", "chunked"):
            body = await client.request("GET", f"/v1/{kind}/{10 * CAP}")
            assert body == "x" * (10 * CAP - 2)
        assert len(await client.request("GET", "/v1/bomb/0")) == 100_001


async def test_the_default_cap_is_64_mib(server: Server) -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url=server.base_url) as client:
        assert client.max_response_size == 64 * 1024 * 1024
        assert await client.request("GET", f"/v1/gzip/{10 * CAP}") == "x" * (10 * CAP - 2)


async def test_with_options_keeps_or_changes_the_cap(client: NtrvstaClient) -> None:
    path = f"/v1/chunked/{10 * CAP}"

    kept = client.with_options(max_retries=0)
    lifted = client.with_options(max_response_size=None)
    raised = client.with_options(max_response_size=10 * CAP)

    assert kept.max_response_size == CAP
    with pytest.raises(ResponseTooLargeError):
        await kept.request("GET", path)
    assert await lifted.request("GET", path) == "x" * (10 * CAP - 2)
    assert await raised.request("GET", path) == "x" * (10 * CAP - 2)
    assert client.max_response_size == CAP


@pytest.mark.parametrize("value", [0, -1, True, False, 1.5, "1000", [1000]])
async def test_bad_caps_are_configuration_errors(value: object) -> None:
    with pytest.raises(ConfigurationError, match="max_response_size") as info:
        NtrvstaClient(api_key=API_KEY, base_url="https://x.test", max_response_size=value)  # type: ignore[arg-type]
    assert API_KEY not in str(info.value)

    async with NtrvstaClient(api_key=API_KEY, base_url="https://x.test") as client:
        with pytest.raises(ConfigurationError, match="max_response_size"):
            client.with_options(max_response_size=value)  # type: ignore[arg-type]

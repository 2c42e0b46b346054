"""Client construction, lifecycle and transport failures, on a real loopback server."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import warnings
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from ntrvsta_async import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    NtrvstaClient,
    RetryPolicy,
)
from tests.conftest import API_KEY, RecordingSleep, serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[web.Request]]]:
    """A loopback server: /v1/templates answers, /v1/slow never does in time."""
    seen: list[web.Request] = []

    async def templates(request: web.Request) -> web.Response:
        seen.append(request)
        return web.json_response({"templateId": "t1"}, status=201)

    async def slow(request: web.Request) -> web.Response:
        seen.append(request)
        await asyncio.sleep(1)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/v1/templates", templates)
    app.router.add_route("*", "/v1/slow", slow)
    async with serve(app) as url:
        yield url, seen


# -- configuration ---------------------------------------------------------------------------


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NTRVSTA_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="NTRVSTA_API_KEY"):
        NtrvstaClient()


async def test_key_and_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NTRVSTA_API_KEY", API_KEY)
    monkeypatch.setenv("NTRVSTA_BASE_URL", "https://staging.example.test/dev/")
    async with NtrvstaClient() as client:
        assert client.base_url == "https://staging.example.test/dev"


async def test_default_base_url_is_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NTRVSTA_BASE_URL", raising=False)
    async with NtrvstaClient(api_key=API_KEY) as client:
        assert client.base_url == "https://partners.ntrvsta.com"


@pytest.mark.parametrize(
    "url",
    [
        "http://partners.ntrvsta.com",
        "http://10.0.0.8/dev",
        "ftp://partners.ntrvsta.com",
        "partners.ntrvsta.com",
        "https://partners.ntrvsta.com/?x=1",
        "https://user:pw@partners.ntrvsta.com",
    ],
)
def test_unsafe_or_invalid_base_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        NtrvstaClient(api_key=API_KEY, base_url=url)
    assert API_KEY not in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"])
async def test_plain_http_allowed_on_loopback(url: str) -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url=url) as client:
        assert client.base_url.startswith("http://")


async def test_plain_http_allowed_when_opted_in() -> None:
    async with NtrvstaClient(
        api_key=API_KEY, base_url="http://10.0.0.8", allow_insecure_http=True
    ) as client:
        assert client.base_url == "http://10.0.0.8"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": 123},
        {"api_key": "   "},
        {"api_key": "abc\r\nX-Evil: 1"},
        {"api_key": API_KEY, "auth_scheme": "basic"},
        {"api_key": API_KEY, "timeout": -1},
        {"api_key": API_KEY, "max_retries": -1},
        {"api_key": API_KEY, "max_connections": 0},
        {"api_key": API_KEY, "retry_policy": {"max_retries": 1}},
        {"api_key": API_KEY, "session": "nope"},
    ],
)
def test_bad_options_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError) as info:
        NtrvstaClient(base_url="https://x.test", **kwargs)  # type: ignore[arg-type]
    assert API_KEY not in str(info.value)


async def test_repr_shows_only_a_short_key_prefix() -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url="https://x.test") as client:
        text = repr(client)
    assert API_KEY not in text
    assert "ntr_li…" in text


async def test_timeout_seconds_become_client_timeout() -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url="https://x.test", timeout=5) as client:
        assert client.timeout.total == 5.0
        assert client.timeout.connect == 5.0
        faster = client.with_options(timeout=aiohttp.ClientTimeout(total=1))
        assert faster.timeout.total == 1
        assert client.timeout.total == 5.0


# -- lifecycle -------------------------------------------------------------------------------


async def test_closed_client_raises_clearly(server: tuple[str, list[web.Request]]) -> None:
    base, _ = server
    client = NtrvstaClient(api_key=API_KEY, base_url=base)
    await client.templates.create(title="x")
    await client.close()
    assert client.closed
    with pytest.raises(ConfigurationError, match="closed"):
        await client.templates.create(title="x")
    await client.aclose()


async def test_unclosed_client_warns() -> None:
    client = NtrvstaClient(api_key=API_KEY, base_url="http://127.0.0.1:9")
    session = client._transport._pool.get()  # open the pool as the first request would
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any("unclosed NtrvstaClient" in m for m in messages)
    await session.close()


async def test_with_options_shares_the_pool(server: tuple[str, list[web.Request]]) -> None:
    base, seen = server
    async with NtrvstaClient(api_key=API_KEY, base_url=base) as client:
        derived = client.with_options(max_retries=0)
        await client.templates.create(title="a")
        await derived.templates.create(title="b")
        assert derived._transport._pool is client._transport._pool
        assert derived.retry_policy.max_retries == 0
        assert client.retry_policy.max_retries == 2
    assert len(seen) == 2
    with pytest.raises(ConfigurationError):
        await derived.templates.create(title="c")


async def test_caller_owned_session_is_not_closed(server: tuple[str, list[web.Request]]) -> None:
    base, seen = server
    async with aiohttp.ClientSession() as session:
        async with NtrvstaClient(api_key=API_KEY, base_url=base, session=session) as client:
            await client.templates.create(title="x")
        assert not session.closed
    assert seen[0].headers["X-Ntrvsta-Api-Key"] == API_KEY


# -- transport failures ----------------------------------------------------------------------


async def test_connection_refused_is_retried_even_for_unsafe_post(sleeps: RecordingSleep) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(sleep=sleeps)
    async with NtrvstaClient(api_key=API_KEY, base_url=base, retry_policy=policy) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.templates.create(title="no posting id")
    assert info.value.request_sent is False
    assert info.value.attempts == 3
    assert len(sleeps.waits) == 2
    assert API_KEY not in str(info.value)


async def test_timeout_maps_to_api_timeout_error(
    server: tuple[str, list[web.Request]], sleeps: RecordingSleep
) -> None:
    base, seen = server
    policy = RetryPolicy(sleep=sleeps, max_retries=1)
    async with NtrvstaClient(
        api_key=API_KEY, base_url=base, timeout=0.2, retry_policy=policy
    ) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.request("GET", "/v1/slow")
        assert info.value.attempts == 2
        with pytest.raises(APITimeoutError) as unsafe:
            await client.request("POST", "/v1/slow", json={})
        assert unsafe.value.attempts == 1
    assert len(seen) == 3


async def test_no_secret_in_debug_logs(
    server: tuple[str, list[web.Request]], caplog: pytest.LogCaptureFixture
) -> None:
    base, _ = server
    caplog.set_level(logging.DEBUG)
    async with NtrvstaClient(api_key=API_KEY, base_url=base, max_retries=0) as client:
        await client.templates.create(title="x")
        with pytest.raises(APITimeoutError):
            await client.with_options(timeout=0.1).request("GET", "/v1/slow")
    assert "POST /v1/templates -> 201" in caplog.text
    assert API_KEY not in caplog.text


async def test_derived_client_does_not_warn_while_the_original_is_open(
    server: tuple[str, list[web.Request]],
) -> None:
    base, _ = server
    async with NtrvstaClient(api_key=API_KEY, base_url=base) as client:
        derived = client.with_options(max_retries=0)
        await derived.templates.create(title="x")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del derived
            gc.collect()
        assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
        await client.templates.create(title="still open")

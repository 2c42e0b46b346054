"""Secrets stay secret: the API key and webhook secrets never appear in DEBUG logs of a full
demo run, in exception texts, reprs or tracebacks, and the key never follows a redirect."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
import traceback
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ntrvsta_async import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    NtrvstaClient,
    NtrvstaError,
    PermissionDeniedError,
    ResponseValidationError,
    ServerError,
)
from ntrvsta_async.cli import demo as demo_module
from ntrvsta_async.sandbox import SandboxServer
from ntrvsta_async.webhooks import WebhookVerifier
from tests.conftest import run_ok, serve

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "ntr_live_SECRETPART_0123456789abcdef"
WEBHOOK_SECRETS = ["whsec_current_SECRETPART_abcdef", "whsec_previous_SECRETPART_123456"]


def secret_parts(secret: str) -> list[str]:
    """The secret and every 12-character piece of it past the 6-character prefix that may be
    shown: none of them may appear anywhere."""
    tail = secret[6:]
    return [secret, *(tail[i : i + 12] for i in range(max(1, len(tail) - 11)))]


def leaks(text: str, *secrets: str) -> list[str]:
    return [part for secret in secrets for part in secret_parts(secret) if part in text]


@pytest.fixture
def all_logs() -> Iterator[io.StringIO]:
    """Every log record at DEBUG and above, from every logger, tracebacks included."""
    captured = io.StringIO()
    handler = logging.StreamHandler(captured)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    loggers = [root, *(logging.getLogger(name) for name in ("ntrvsta_async", "aiohttp", "asyncio"))]
    levels = [logger.level for logger in loggers]
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    logging.captureWarnings(True)
    try:
        yield captured
    finally:
        logging.captureWarnings(False)
        root.removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# -- a full demo run at DEBUG ---------------------------------------------------------------


@pytest.mark.slow
async def test_full_demo_run_at_debug_never_logs_a_secret(
    all_logs: io.StringIO, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sandboxes: list[SandboxServer] = []

    class RecordedSandbox(SandboxServer):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            sandboxes.append(self)

    monkeypatch.setattr(demo_module, "SandboxServer", RecordedSandbox)
    lines: list[str] = []

    summary = await demo_module.run_demo(80, seed=11, out=lines.append)

    assert summary.ok, summary.problems
    (sandbox,) = sandboxes
    assert sandbox.webhook_secret is not None
    secrets = [sandbox.api_key, sandbox.webhook_secret]
    text = all_logs.getvalue()
    shown = capsys.readouterr()
    assert "ntrvsta_async DEBUG POST /v1/interview-invitations -> 201" in text
    assert "ntrvsta_async.retry WARNING retrying" in text
    assert "ntrvsta_async.reconcile INFO reconcile demo:" in text
    assert summary.recovered_by_poller > 0
    for output in (text, "\n".join(lines), shown.out, shown.err, repr(summary)):
        assert leaks(output, *secrets) == []


@pytest.mark.slow
def test_cli_demo_with_debug_output_shows_no_key_or_secret() -> None:
    output = run_ok(
        sys.executable, "-m", "ntrvsta_async", "--debug", "demo", "--invitations", "40",
        cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert "DEBUG" in output
    assert "POST /v1/interview-invitations -> 201" in output
    assert not re.findall(r"sbx_[0-9a-f]{3,}", output), "a sandbox key beyond its prefix"
    assert not re.findall(r"demo_[0-9a-f]{3,}", output), "the webhook secret"


# -- exception texts, reprs and tracebacks --------------------------------------------------


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    """Answers every request by echoing the key back, in every place a server could."""

    async def echo(request: web.Request) -> web.StreamResponse:
        key = request.headers.get("X-Ntrvsta-Api-Key", "")
        kind = request.match_info["kind"]
        if kind == "slow":
            await request.read()
            await asyncio.sleep(1.0)
        headers = {"X-Echo": key}
        if kind == "unauthorized":
            body = {"message": f"key {key} is not valid", "key": key}
            return web.json_response(body, status=401, headers=headers)
        if kind == "echo-everywhere":
            headers["X-Request-Id"] = f"req-{key}"
            body = {"message": f"key {key} is not valid", "code": key}
            return web.json_response(body, status=403, headers=headers)
        if kind == "broken":
            return web.Response(status=502, text=f"upstream rejected {key}", headers=headers)
        return web.json_response({"templateId": 7, "echo": key}, status=201, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/v1/{kind}", echo)
    async with serve(app) as url:
        yield url


def everything_shown(exc: BaseException) -> str:
    """What an exception shows when printed, repr'd, logged or its traceback formatted."""
    logged = io.StringIO()
    logger = logging.getLogger("tests.secrets")
    handler = logging.StreamHandler(logged)
    logger.addHandler(handler)
    try:
        logger.error("failed", exc_info=exc)
    finally:
        logger.removeHandler(handler)
    return "\n".join(
        [str(exc), repr(exc), "".join(traceback.format_exception(exc)), logged.getvalue()]
    )


def _post(path: str) -> Callable[[NtrvstaClient], Coroutine[Any, Any, Any]]:
    return lambda client: client.request("POST", path, json={})


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        pytest.param(_post("/v1/unauthorized"), AuthenticationError, id="401-echo"),
        pytest.param(_post("/v1/broken"), ServerError, id="502-text-echo"),
        pytest.param(
            lambda c: c.templates.create(title="t", external_posting_id="p"),
            ResponseValidationError,
            id="wrong-shape-echo",
        ),
        pytest.param(lambda c: c.request("GET", "/v1/slow"), APITimeoutError, id="timeout"),
        pytest.param(
            _post("/v1/echo-everywhere"),
            PermissionDeniedError,
            id="code-and-request-id-echo",
        ),
    ],
)
async def test_exceptions_never_show_the_key(
    echo_server: str,
    call: Callable[[NtrvstaClient], Coroutine[Any, Any, Any]],
    expected: type[NtrvstaError],
) -> None:
    async with NtrvstaClient(
        api_key=API_KEY, base_url=echo_server, max_retries=1, timeout=0.3
    ) as client:
        with pytest.raises(expected) as info:
            await call(client)

    assert leaks(everything_shown(info.value), API_KEY) == []


async def test_connection_errors_never_show_the_key() -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url="http://127.0.0.1:9", max_retries=0) as c:
        with pytest.raises(APIConnectionError) as info:
            await c.results.list_page()
    assert leaks(everything_shown(info.value), API_KEY) == []


async def test_a_non_json_body_echoing_the_key_is_scrubbed_from_the_error() -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.Response(text=f"key={request.headers['X-Ntrvsta-Api-Key']}")

    app = web.Application()
    app.router.add_get("/v1/interview-results", echo)
    async with (
        serve(app) as base,
        NtrvstaClient(api_key=API_KEY, base_url=base, max_retries=0) as client,
    ):
        with pytest.raises(ResponseValidationError) as info:
            await client.results.list_page()
    assert leaks(everything_shown(info.value), API_KEY) == []


async def test_reprs_never_show_a_secret() -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url="https://partners.ntrvsta.test") as client:
        derived = client.with_options(max_retries=5)
        shown = [repr(client), str(client), repr(derived), repr(client.retry_policy)]
        shown += [repr(client.templates), repr(client.results), repr(client.contract)]
    verifier = WebhookVerifier(WEBHOOK_SECRETS)
    shown += [repr(verifier), str(verifier)]
    text = "\n".join(shown)
    assert leaks(text, API_KEY, *WEBHOOK_SECRETS) == []
    assert API_KEY[:6] in repr(client)


# -- redirects never carry the key to another host -------------------------------------------


@pytest.fixture
async def redirecting() -> AsyncIterator[tuple[str, list[dict[str, str]], list[int]]]:
    """Server A redirects every request to server B on another host; B records what it got."""
    seen_by_b: list[dict[str, str]] = []
    status: list[int] = [302]

    async def b(request: web.Request) -> web.Response:
        seen_by_b.append(dict(request.headers))
        return web.json_response({"items": [], "templateId": "t", "title": "t"}, status=200)

    app_b = web.Application()
    app_b.router.add_route("*", "/{tail:.*}", b)
    async with serve(app_b, host="localhost") as b_url:

        async def a(request: web.Request) -> web.Response:
            return web.Response(status=status[0], headers={"Location": b_url + request.path_qs})

        app_a = web.Application()
        app_a.router.add_route("*", "/{tail:.*}", a)
        async with serve(app_a) as a_url:
            yield a_url, seen_by_b, status


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("auth_scheme", ["api-key", "bearer"])
async def test_the_key_never_follows_a_redirect_to_another_host(
    redirecting: tuple[str, list[dict[str, str]], list[int]], code: int, auth_scheme: str
) -> None:
    base, seen_by_b, status = redirecting
    status[0] = code
    async with NtrvstaClient(api_key=API_KEY, base_url=base, auth_scheme=auth_scheme) as client:
        for call in (
            client.results.list_page(),
            client.templates.create(title="t", external_posting_id="p"),
        ):
            with pytest.raises(APIStatusError) as info:
                await call
            assert info.value.status == code
            assert "not followed" in info.value.message
    assert seen_by_b == [], "the redirect target got no request, so neither key header"

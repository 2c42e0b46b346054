"""A server that reflects the API key back, in malformed HTTP or in typed fields, never gets
more than the key's first 6 characters into an error text, repr, traceback or log record."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import traceback
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from ntrvsta_async import NtrvstaClient, NtrvstaError
from ntrvsta_async._redact import register_secret, scrub
from ntrvsta_async.webhooks import WebhookVerifier

API_KEY = "ntr_live_REFLECTED_0123456789abcdefXYZ"
HEADER = b"x-ntrvsta-api-key:"
LEVELS = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL]


def pieces(secret: str) -> list[str]:
    """Every 7-character piece of ``secret``: the key's 7-character prefix and any longer
    echo of it (whole or cut) contain one."""
    return [secret[i : i + 7] for i in range(len(secret) - 6)]


def assert_clean(text: str, secret: str = API_KEY) -> None:
    found = [piece for piece in pieces(secret) if piece in text]
    assert not found, f"secret pieces {found} in {text!r}"


def _json_response(status: int, body: Any, *headers: bytes) -> bytes:
    raw = json.dumps(body).encode()
    head = [f"HTTP/1.1 {status} X".encode(), *headers, f"Content-Length: {len(raw)}".encode()]
    return b"\r\n".join(head) + b"\r\n\r\n" + raw


# Each builds the raw reply from the key the client sent; the server is a plain socket, so
# the reply can be any bytes at all.
REFLECTIONS: dict[str, Callable[[bytes], bytes]] = {
    "header-line-without-colon": lambda k: (
        b"HTTP/1.1 200 OK\r\n" + k + b"\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "invalid-header-name": lambda k: (
        b"HTTP/1.1 200 OK\r\nX-" + k + b"\x01: v\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "invalid-header-value": lambda k: (
        b"HTTP/1.1 200 OK\r\nX-Echo: " + k + b"\x00\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "broken-status-line": lambda k: b"HTTP/1.1 2" + k + b" OK\r\n\r\n",
    "status-line-is-the-key": lambda k: k + b"\r\n\r\n",
    "oversized-header-cut-mid-key": lambda k: (
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 8180 + k + b"\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "bad-chunk-size": lambda k: (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + k + b"\r\n{}\r\n0\r\n\r\n"
    ),
    "error-body-fields": lambda k: _json_response(
        401, {"message": f"bad key {k.decode()}", "code": k.decode(), "requestId": k.decode()}
    ),
    "error-message-cut-mid-key": lambda k: _json_response(400, {"message": "x" * 480 + k.decode()}),
    "request-id-header": lambda k: _json_response(404, {}, b"X-Request-Id: " + k),
    "redirect-location": lambda k: (
        b"HTTP/1.1 302 Found\r\nLocation: https://elsewhere.test/?k=" + k + b"\r\n"
        b"Content-Length: 0\r\n\r\n"
    ),
    "non-json-success": lambda k: (
        b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n" + (b"echo " + k).ljust(60, b" ")
    ),
}


@contextlib.asynccontextmanager
async def reflecting(reply: Callable[[bytes], bytes]) -> AsyncIterator[str]:
    """A loopback server answering every request with ``reply(<the key it was sent>)``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        key = b""
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(HEADER):
                key = line[len(HEADER) :].strip()
        writer.write(reply(key))
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("reply", REFLECTIONS.values(), ids=REFLECTIONS.keys())
async def test_a_reflected_key_appears_in_no_error_or_log(
    reply: Callable[[bytes], bytes], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        reflecting(reply) as url,
        NtrvstaClient(api_key=API_KEY, base_url=url, max_retries=1) as client,
    ):
        with pytest.raises(NtrvstaError) as info:
            await client.with_options(retry_policy=client.retry_policy).results.list_page()
    error = info.value
    # The way an application reports it: a log line with the traceback, at every level.
    for level in LEVELS:
        logging.getLogger("ntrvsta_async.reconcile").log(
            level, "poll failed: %s", error, exc_info=error
        )
    assert_clean(str(error))
    assert_clean(repr(error))
    assert_clean("".join(traceback.format_exception(error)))
    assert_clean(caplog.text)
    for record in caplog.records:
        assert_clean(record.getMessage())
        assert_clean(record.exc_text or "")


async def test_a_key_in_a_typed_field_is_masked_in_the_page_its_logs_and_reprs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = lambda k: _json_response(  # noqa: E731
        200,
        {
            "items": [
                {"resultId": "r1", "completedAt": k.decode()},  # kept as text (OP-18)
                {"resultId": "r2", "overallScore": k.decode()},  # unreadable: skipped
            ]
        },
    )
    async with reflecting(reply) as url, NtrvstaClient(api_key=API_KEY, base_url=url) as client:
        page = await client.results.list_page()
        items = [item async for item in client.results.list()]
    assert [item.result_id for item in page.items] == ["r1"]
    (skipped,) = page.skipped
    assert "overallScore" in skipped
    assert "r2" not in skipped or "[redacted]" in skipped
    for text in (repr(page), repr(items), skipped, caplog.text):
        assert_clean(text)
    for record in caplog.records:
        assert_clean(record.getMessage())


@pytest.mark.parametrize(
    "name", ["ntrvsta_async", "ntrvsta_async.retry", "ntrvsta_async.webhooks", "ntrvsta_async.x.y"]
)
@pytest.mark.parametrize("level", LEVELS)
def test_every_sdk_logger_masks_secrets_at_every_level(
    name: str, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    handle = register_secret(API_KEY)
    caplog.set_level(logging.DEBUG)
    try:
        raise RuntimeError(f"foreign failure quoting {API_KEY[2:30]}")
    except RuntimeError:
        logging.getLogger(name).log(level, "echo %s", API_KEY, exc_info=True, stack_info=True)
    (record,) = caplog.records
    assert record.levelno == level
    assert "echo [redacted]" in record.getMessage()
    assert "foreign failure quoting [redacted]" in caplog.text
    assert_clean(caplog.text)
    assert_clean(record.stack_info or "")
    del handle


def test_webhook_secrets_are_masked_while_the_verifier_lives() -> None:
    secret = "whsec_masked_only_while_held_abcdef"
    verifier = WebhookVerifier(secret)
    assert scrub(f"signed with {secret}") == "signed with [redacted]"
    assert repr(verifier).count(secret[7:]) == 0
    del verifier
    gc.collect()
    # The registry holds secrets weakly: it never grows past the secrets in use.
    assert scrub(f"signed with {secret}") == f"signed with {secret}"


def test_partial_echoes_are_masked_and_six_characters_may_show() -> None:
    handle = register_secret(API_KEY)
    assert scrub(f"a{API_KEY[3:12]}b") == "a[redacted]b"
    assert scrub(API_KEY[:6]) == API_KEY[:6]
    assert scrub(f"{API_KEY} and {API_KEY[-9:]}") == "[redacted] and [redacted]"
    del handle

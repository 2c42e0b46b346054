"""Hostile deliveries at the webhook receiver, over real sockets: slow bodies, hostile headers,
bodies that are not what they claim. Each gets a clear 4xx and nothing reaches ``on_event``."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from ntrvsta_async import ConfigurationError, ResultCompletedEvent
from ntrvsta_async.reconcile import ClaimState, MemoryInbox
from ntrvsta_async.webhooks import (
    DEFAULT_READ_TIMEOUT,
    WebhookVerifier,
    setup_webhooks,
    webhook_handler,
)
from tests.conftest import serve
from tests.support.webhook_support import settle

SECRET = "whsec-hostile-0123456789"
NOW = 1_750_000_000
READ_TIMEOUT = 0.4


def digest(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(result_id: str, **extra: Any) -> bytes:
    return json.dumps({"resultId": result_id, "candidate": {"email": "a@b.c"}, **extra}).encode()


@attrs.define
class Receiver:
    """A running receiver: where to reach it, what ``on_event`` saw, and its inbox."""

    host: str
    port: int
    inbox: MemoryInbox
    events: list[ResultCompletedEvent]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/webhooks"


StartReceiver = Callable[..., Awaitable[Receiver]]


@pytest.fixture
async def start_receiver() -> AsyncIterator[StartReceiver]:
    served = contextlib.AsyncExitStack()

    async def start(**options: Any) -> Receiver:
        events: list[ResultCompletedEvent] = []
        inbox = MemoryInbox()

        async def on_event(event: ResultCompletedEvent) -> None:
            events.append(event)

        app = web.Application()
        verifier = WebhookVerifier(SECRET, clock=lambda: float(NOW), max_body_size=64 * 1024)
        options.setdefault("read_timeout", READ_TIMEOUT)
        setup_webhooks(app, verifier, on_event, inbox=inbox, **options)
        url = URL(await served.enter_async_context(serve(app, shutdown_timeout=1.0)))
        assert url.host is not None
        assert url.port is not None
        return Receiver(url.host, url.port, inbox, events)

    async with served:
        yield start


async def post_signed(receiver: Receiver, body: bytes) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            receiver.url, data=body, headers={"X-Ntrvsta-Signature": digest(body)}
        ) as response,
    ):
        return response.status


@attrs.frozen
class RawAnswer:
    status: int | None
    body: bytes
    closed: bool
    seconds: float


def request_head(body_length: int | None, signature: str, *extra: bytes) -> bytes:
    lines = [
        b"POST /webhooks HTTP/1.1",
        b"Host: receiver.test",
        b"Content-Type: application/json",
        b"X-Ntrvsta-Signature: " + signature.encode(),
        *extra,
    ]
    if body_length is not None:
        lines.append(b"Content-Length: " + str(body_length).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def raw_exchange(
    receiver: Receiver,
    head: bytes,
    chunks: list[bytes],
    *,
    pause: float = 0.0,
    wait: float = 5.0,
    check_closed: bool = False,
) -> RawAnswer:
    """Send ``head`` then ``chunks`` ``pause`` seconds apart (until an answer comes back), and
    read the answer and (with ``check_closed``) whether the server then hung up."""
    reader, writer = await asyncio.open_connection(receiver.host, receiver.port)
    started = time.monotonic()

    async def trickle() -> None:
        writer.write(head)
        await writer.drain()
        for chunk in chunks:
            await asyncio.sleep(pause)
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(trickle())
    try:
        async with asyncio.timeout(wait):
            status_line = await reader.readline()
            seconds = time.monotonic() - started
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        closed = False
        if check_closed:
            with contextlib.suppress(TimeoutError):
                closed = await asyncio.wait_for(reader.read(), 1.0) == b""
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()
    status = int(status_line.split()[1]) if status_line.startswith(b"HTTP/1.") else None
    return RawAnswer(status=status, body=body, closed=closed, seconds=seconds)


# -- slow bodies (read timeout) --------------------------------------------------------------


async def test_slow_loris_body_gets_408_and_the_connection_is_dropped(
    start_receiver: StartReceiver,
) -> None:
    receiver = await start_receiver()
    body = payload("res_slow")
    head = request_head(len(body), digest(body))

    answer = await raw_exchange(
        receiver, head, [bytes([b]) for b in body], pause=0.05, check_closed=True
    )

    assert answer.status == 408
    assert json.loads(answer.body) == {"error": "read_timeout"}
    assert READ_TIMEOUT <= answer.seconds < READ_TIMEOUT + 1.0
    assert answer.closed, "the server hangs up instead of lingering for the rest of the body"
    await settle()
    assert receiver.events == []
    assert (await receiver.inbox.claim("res_slow")).state is ClaimState.CLAIMED


async def test_body_that_stops_short_of_its_content_length_gets_408(
    start_receiver: StartReceiver,
) -> None:
    receiver = await start_receiver()
    body = payload("res_short")
    head = request_head(len(body) + 100, digest(body))

    answer = await raw_exchange(receiver, head, [body], check_closed=True)

    assert answer.status == 408
    assert answer.closed
    assert receiver.events == []


async def test_slow_chunked_body_gets_408(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    body = payload("res_chunked_slow")
    head = request_head(None, digest(body), b"Transfer-Encoding: chunked")
    chunks = [b"%x\r\n%s\r\n" % (1, bytes([b])) for b in body] + [b"0\r\n\r\n"]

    answer = await raw_exchange(receiver, head, chunks, pause=0.05)

    assert answer.status == 408
    assert receiver.events == []


async def test_body_arriving_in_pieces_within_the_timeout_is_accepted(
    start_receiver: StartReceiver,
) -> None:
    receiver = await start_receiver(read_timeout=2.0)
    body = payload("res_pieces")
    head = request_head(len(body), digest(body))
    third = len(body) // 3

    answer = await raw_exchange(
        receiver, head, [body[:third], body[third : 2 * third], body[2 * third :]], pause=0.05
    )

    assert answer.status == 200
    assert json.loads(answer.body) == {"status": "accepted", "resultId": "res_pieces"}
    await settle()
    assert [e.key for e in receiver.events] == ["res_pieces"]


async def test_the_receiver_keeps_serving_after_a_slow_loris(
    start_receiver: StartReceiver,
) -> None:
    receiver = await start_receiver()
    slow = payload("res_slow_first")
    stalled = asyncio.create_task(
        raw_exchange(receiver, request_head(len(slow), digest(slow)), [slow[:5]], wait=5.0)
    )
    assert await post_signed(receiver, payload("res_meanwhile")) == 200
    assert (await stalled).status == 408
    await settle()
    assert [e.key for e in receiver.events] == ["res_meanwhile"]


async def test_sender_hanging_up_mid_body_is_a_quiet_rejection(
    start_receiver: StartReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = await start_receiver()
    body = payload("res_gone")
    caplog.set_level(logging.DEBUG)
    _, writer = await asyncio.open_connection(receiver.host, receiver.port)
    writer.write(request_head(len(body), digest(body)) + body[:10])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    await writer.wait_closed()
    await asyncio.sleep(0.1)

    assert "the sender hung up before its body ended" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert receiver.events == []
    assert await post_signed(receiver, payload("res_next")) == 200


def test_read_timeout_is_on_by_default() -> None:
    import inspect

    for function in (webhook_handler, setup_webhooks):
        default = inspect.signature(function).parameters["read_timeout"].default
        assert default == DEFAULT_READ_TIMEOUT == 10.0


@pytest.mark.parametrize("value", [0, -1.0, True, "5"])
def test_read_timeout_must_be_positive(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="read_timeout"):
        webhook_handler(WebhookVerifier(SECRET), _never, read_timeout=value)


async def _never(event: ResultCompletedEvent) -> None:
    raise AssertionError("on_event must not run")


# -- hostile headers and bodies --------------------------------------------------------------

GOOD = payload("res_hostile")
DEEP = b'{"resultId": "res_hostile", "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
INVALID_UTF8 = b'{"resultId": "res_hostile", "candidate": {"email": "\xff\xfe@b.c"}}'


def stamped(body: bytes, ts: int) -> str:
    return f"t={ts},v1={digest(f'{ts}.'.encode() + body)}"


HOSTILE: list[Any] = [
    pytest.param(request_head(len(GOOD), "\xff" * 64) + GOOD, 401, id="latin1-signature"),
    pytest.param(request_head(len(GOOD), "sha256=" + "0" * 5000) + GOOD, 401, id="long-signature"),
    pytest.param(
        request_head(len(GOOD), digest(GOOD) + "\tX-Evil: 1") + GOOD, 401, id="signature-with-tab"
    ),
    pytest.param(
        request_head(len(GOOD), digest(GOOD), b"X-Ntrvsta-Signature: " + digest(GOOD).encode())
        + GOOD,
        401,
        id="two-signatures",
    ),
    pytest.param(
        request_head(len(GOOD), digest(GOOD), b"X-Ntrvsta-Timestamp: \xd9\xa1\xd9\xa7") + GOOD,
        401,
        id="unicode-digit-timestamp",
    ),
    pytest.param(
        request_head(len(GOOD), digest(GOOD), b"X-Ntrvsta-Timestamp: 99999999999999999999") + GOOD,
        401,
        id="huge-timestamp",
    ),
    pytest.param(
        request_head(len(GOOD), stamped(GOOD, NOW + 10**11)) + GOOD, 401, id="far-future-replay"
    ),
    pytest.param(request_head(len(GOOD), stamped(GOOD, 0)) + GOOD, 401, id="epoch-replay"),
    pytest.param(
        request_head(len(GOOD), "t=-5,v1=" + digest(b"-5." + GOOD)) + GOOD,
        401,
        id="negative-timestamp",
    ),
    pytest.param(
        request_head(len(GOOD), digest(GOOD), b"X-Big: " + b"a" * 20_000) + GOOD,
        400,
        id="oversized-header",
    ),
    pytest.param(
        request_head(len(GOOD), digest(GOOD), b"Content-Length: 5") + GOOD,
        400,
        id="two-content-lengths",
    ),
    pytest.param(request_head(len(DEEP), digest(DEEP)) + DEEP, 400, id="deeply-nested-body"),
    pytest.param(
        request_head(len(INVALID_UTF8), digest(INVALID_UTF8)) + INVALID_UTF8,
        400,
        id="invalid-utf8-body",
    ),
    pytest.param(
        request_head(len(b"\xef\xbb\xbf" + GOOD), digest(b"\xef\xbb\xbf" + GOOD))
        + b"\xef\xbb\xbf"
        + GOOD,
        200,
        id="bom-body-is-json",
    ),
    pytest.param(request_head(4, digest(b"null")) + b"null", 400, id="json-null"),
    pytest.param(
        request_head(len(b'{"resultId": 7}'), digest(b'{"resultId": 7}')) + b'{"resultId": 7}',
        400,
        id="wrong-type-result-id",
    ),
]


@pytest.mark.parametrize(("raw", "status"), HOSTILE)
async def test_hostile_delivery_gets_a_clear_4xx_and_handles_nothing(
    start_receiver: StartReceiver, raw: bytes, status: int
) -> None:
    receiver = await start_receiver()
    head, _, body = raw.partition(b"\r\n\r\n")

    answer = await raw_exchange(receiver, head + b"\r\n\r\n", [body] if body else [])

    assert answer.status == status
    await settle()
    if status >= 400:
        assert receiver.events == []
        assert not await receiver.inbox.is_done("res_hostile")
    else:
        assert [e.key for e in receiver.events] == ["res_hostile"]
    assert await post_signed(receiver, payload("res_after")) == 200, "still serving"


async def test_hostile_idempotency_keys_do_not_break_dedup(start_receiver: StartReceiver) -> None:
    receiver = await start_receiver()
    keys = [b"\xff\xfe\x00-latin1", b"k" * 8000, b"   ", b"res_other"]
    for key in keys:
        body = payload("res_idem")
        head = request_head(len(body), digest(body), b"X-Ntrvsta-Idempotency-Key: " + key)
        answer = await raw_exchange(receiver, head, [body])
        if key == keys[0]:
            assert answer.status in (200, 400)
        else:
            assert answer.status == 200
        await settle()
    assert [e.key for e in receiver.events] == ["res_idem"]


# -- arbitrary input through the real endpoint ----------------------------------------------

HEADER_VALUES = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80
) | st.sampled_from(["", "sha256=", "t=,v1=", "t=1,v1=" + "0" * 64, "0" * 64])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.binary(max_size=300) | st.just(GOOD),
    signature=HEADER_VALUES,
    timestamp=st.none() | HEADER_VALUES,
    idempotency=st.none() | HEADER_VALUES,
    event=st.none() | st.sampled_from(["result.completed", "RESULT.COMPLETED ", "x", ""]),
)
async def test_unsigned_input_never_reaches_on_event_nor_a_5xx(
    start_receiver: StartReceiver,
    body: bytes,
    signature: str,
    timestamp: str | None,
    idempotency: str | None,
    event: str | None,
) -> None:
    receiver = await start_receiver()
    headers = {"X-Ntrvsta-Signature": signature}
    for name, value in (
        ("X-Ntrvsta-Timestamp", timestamp),
        ("X-Ntrvsta-Idempotency-Key", idempotency),
        ("X-Ntrvsta-Event", event),
    ):
        if value is not None:
            headers[name] = value
    async with (
        aiohttp.ClientSession() as session,
        session.post(receiver.url, data=body, headers=headers) as response,
    ):
        status = response.status
    await settle()
    assert status in (400, 401, 413)
    assert receiver.events == []

"""``WebhookReceiver``: its core called directly, its ASGI app driven by hand, and both inside a
real FastAPI app under a real uvicorn on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async import ConfigurationError, InboxError, ResultCompletedEvent
from ntrvsta_async.reconcile import Claim, ClaimState, MemoryInbox, ResultKeys
from ntrvsta_async.webhooks import (
    WebhookASGIApp,
    WebhookReceiver,
    WebhookReply,
    WebhookVerifier,
)
from tests.support.asgi_support import Served, drive, running_lifespan, serve_uvicorn
from tests.support.webhook_support import Recorder, settle
from tests.webhooks.test_hostile_webhooks import Receiver, raw_exchange, request_head

SECRET = "whsec-asgi-0123456789"
NOW = 1_750_000_000
LIMIT = 2048


def payload(result_id: str = "res_1", **extra: Any) -> bytes:
    data = {
        "resultId": result_id,
        "resultUrl": f"https://api.ntrvsta.test/v1/interview-results/{result_id}",
        "candidate": {"email": "a@b.c"},
        **extra,
    }
    return json.dumps(data).encode()


def digest(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed(body: bytes, secret: str = SECRET, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Ntrvsta-Signature": digest(body, secret),
        **extra,
    }


def raw(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode(), value.encode("latin-1")) for name, value in headers.items()]


def make_receiver(
    recorder: Recorder, inbox: MemoryInbox | None = None, **options: Any
) -> WebhookReceiver:
    verifier = WebhookVerifier(SECRET, clock=lambda: float(NOW), max_body_size=LIMIT)
    options.setdefault("read_timeout", 0.3)
    return WebhookReceiver(verifier, recorder, inbox=inbox, **options)


# -- the core: handle(body, headers) ---------------------------------------------------------

GOOD = payload("res_good")
ANSWERS = [
    pytest.param(GOOD, signed(GOOD), 200, {"status": "accepted", "resultId": "res_good"}, id="ok"),
    pytest.param(
        GOOD,
        signed(GOOD, **{"X-Ntrvsta-Event": "result.archived"}),
        200,
        {"status": "ignored", "event": "result.archived"},
        id="unknown-event",
    ),
    pytest.param(GOOD, signed(GOOD, "wrong"), 401, {"error": "bad_signature"}, id="bad-signature"),
    pytest.param(GOOD, {}, 401, {"error": "missing_signature"}, id="unsigned"),
    pytest.param(b"[1]", signed(b"[1]"), 400, {"error": "malformed_payload"}, id="not-an-object"),
    pytest.param(
        payload("res_big", pad="x" * LIMIT),
        signed(payload("res_big", pad="x" * LIMIT)),
        413,
        {"error": "payload_too_large"},
        id="oversized",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "answer"), ANSWERS)
async def test_handle_answers_each_kind_of_delivery(
    body: bytes, headers: dict[str, str], status: int, answer: dict[str, str]
) -> None:
    recorder = Recorder()
    receiver = make_receiver(recorder)

    reply = await receiver.handle(body, headers)
    await receiver.aclose()

    assert reply == WebhookReply(status, answer)
    assert json.loads(reply.content()) == answer
    assert recorder.keys == (["res_good"] if answer.get("status") == "accepted" else [])


async def test_handle_runs_on_event_once_per_result_under_both_its_ids() -> None:
    recorder = Recorder()
    inbox = MemoryInbox()
    receiver = make_receiver(recorder, inbox)
    body = payload("res_once")

    first = await receiver.handle(body, signed(body))
    await receiver.aclose()
    again = await make_receiver(recorder, inbox).handle(body, signed(body))

    assert first.body == {"status": "accepted", "resultId": "res_once"}
    assert again.body == {"status": "duplicate", "resultId": "res_once"}
    assert recorder.finished == ["res_once"]
    assert await inbox.is_done("res_once")
    assert await inbox.is_done("https://api.ntrvsta.test/v1/interview-results/res_once")


async def test_handle_answers_in_progress_while_on_event_runs() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    receiver = make_receiver(recorder)
    body = payload("res_slow")

    first = await receiver.handle(body, signed(body))
    await asyncio.wait_for(recorder.called.wait(), 5)
    second = await receiver.handle(body, signed(body))
    recorder.gate.set()
    await receiver.aclose()

    assert (first.body["status"], second.body["status"]) == ("accepted", "in_progress")
    assert recorder.finished == ["res_slow"]


async def test_failed_on_event_is_released_and_a_redelivery_runs_it_again() -> None:
    recorder = Recorder(failures=1)
    inbox = MemoryInbox()
    receiver = make_receiver(recorder, inbox)
    body = payload("res_retry")

    await receiver.handle(body, signed(body))
    await asyncio.wait_for(recorder.called.wait(), 5)
    await settle()
    assert not await inbox.is_done("res_retry")
    retried = await receiver.handle(body, signed(body))
    await receiver.aclose()

    assert retried.body["status"] == "accepted"
    assert recorder.keys == ["res_retry", "res_retry"]
    assert recorder.finished == ["res_retry"]
    assert await inbox.is_done("res_retry")


class BrokenInbox(MemoryInbox):
    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        raise InboxError("the inbox is down")


async def test_inbox_down_is_a_503_and_nothing_runs() -> None:
    recorder = Recorder()
    receiver = make_receiver(recorder, BrokenInbox())
    body = payload()

    reply = await receiver.handle(body, signed(body))
    await settle()

    assert reply == WebhookReply(503, {"error": "inbox_unavailable"})
    assert recorder.events == []


async def test_aclose_waits_for_running_on_event_then_refuses_deliveries() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox = MemoryInbox()
    receiver = make_receiver(recorder, inbox)
    body, later = payload("res_drain"), payload("res_late")
    await receiver.handle(body, signed(body))
    await asyncio.wait_for(recorder.called.wait(), 5)

    asyncio.get_running_loop().call_later(0.05, recorder.gate.set)
    await receiver.aclose()
    refused = await receiver.handle(later, signed(later))

    assert recorder.finished == ["res_drain"]
    assert await inbox.is_done("res_drain")
    assert receiver.running == 0
    assert refused == WebhookReply(503, {"error": "shutting_down"})
    assert recorder.keys == ["res_drain"]


async def test_aclose_cancels_a_stuck_on_event_and_releases_its_claim() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox = MemoryInbox()
    receiver = make_receiver(recorder, inbox)
    body = payload("res_stuck")
    await receiver.handle(body, signed(body))
    await asyncio.wait_for(recorder.called.wait(), 5)

    await receiver.aclose(drain_timeout=0.05)

    assert recorder.finished == []
    assert (await inbox.claim("res_stuck")).state is ClaimState.CLAIMED


async def _sync_callback(event: ResultCompletedEvent) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "word"),
    [
        ({"on_event": lambda event: None}, "on_event"),
        ({"read_timeout": 0}, "read_timeout"),
        ({"claim_ttl": -1}, "claim_ttl"),
        ({"max_body_size": 0}, "max_body_size"),
    ],
)
def test_bad_settings_are_refused_at_construction(options: dict[str, Any], word: str) -> None:
    on_event = options.pop("on_event", _sync_callback)
    with pytest.raises(ConfigurationError, match=word):
        WebhookReceiver(WebhookVerifier(SECRET), on_event, **options)


# -- the ASGI app, driven by hand ------------------------------------------------------------


async def test_asgi_app_answers_at_whatever_path_it_is_routed_to() -> None:
    recorder = Recorder()
    receiver = make_receiver(recorder)
    app = receiver.asgi_app()
    first, second = payload("res_a"), payload("res_b")

    a = await drive(app, path="/webhooks", headers=raw(signed(first)), chunks=[first])
    b = await drive(app, path="/hooks/ntrvsta/", headers=raw(signed(second)), chunks=[second])
    await receiver.aclose()

    assert isinstance(app, WebhookASGIApp)
    assert (a.status, json.loads(a.body)) == (200, {"status": "accepted", "resultId": "res_a"})
    assert (b.status, json.loads(b.body)["status"]) == (200, "accepted")
    assert a.headers[b"content-type"] == b"application/json"
    assert int(a.headers[b"content-length"]) == len(a.body)
    assert sorted(recorder.finished) == ["res_a", "res_b"]


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE"])
async def test_asgi_app_answers_405_to_other_methods(method: str) -> None:
    recorder = Recorder()
    app = make_receiver(recorder).asgi_app()

    answer = await drive(app, method=method, headers=raw(signed(GOOD)), chunks=[GOOD])

    assert answer.status == 405
    assert answer.headers[b"allow"] == b"POST"
    assert answer.receives == 0
    assert recorder.events == []


async def test_declared_oversized_body_gets_413_before_any_of_it_is_read() -> None:
    recorder = Recorder()
    app = make_receiver(recorder).asgi_app()
    body = payload("res_big", pad="x" * 10 * LIMIT)
    headers = raw(signed(body, **{"Content-Length": str(len(body))}))

    answer = await drive(app, headers=headers, chunks=[body])

    assert (answer.status, json.loads(answer.body)) == (413, {"error": "payload_too_large"})
    assert answer.receives == 0
    assert answer.headers[b"connection"] == b"close"
    assert recorder.events == []


async def test_streamed_oversized_body_gets_413_once_past_the_limit() -> None:
    recorder = Recorder()
    app = make_receiver(recorder).asgi_app()
    body = payload("res_big", pad="x" * 10 * LIMIT)
    chunks = [body[i : i + 512] for i in range(0, len(body), 512)]

    answer = await drive(app, headers=raw(signed(body)), chunks=chunks)

    assert answer.status == 413
    assert answer.receives == LIMIT // 512 + 1 < len(chunks)
    assert recorder.events == []


async def test_slow_body_gets_408_and_the_connection_closed() -> None:
    recorder = Recorder()
    inbox = MemoryInbox()
    app = make_receiver(recorder, inbox, read_timeout=0.2).asgi_app()
    body = payload("res_slow")
    chunks = [body[i : i + 8] for i in range(0, len(body), 8)]

    answer = await drive(app, headers=raw(signed(body)), chunks=chunks, pause=0.05)

    assert (answer.status, json.loads(answer.body)) == (408, {"error": "read_timeout"})
    assert answer.headers[b"connection"] == b"close"
    await settle()
    assert recorder.events == []
    assert (await inbox.claim("res_slow")).state is ClaimState.CLAIMED


async def test_sender_hanging_up_mid_body_handles_nothing() -> None:
    recorder = Recorder()
    app = make_receiver(recorder).asgi_app()
    body = payload("res_gone")

    answer = await drive(app, headers=raw(signed(body)), chunks=[body[:10]], disconnect=True)

    assert answer.status == 400
    await settle()
    assert recorder.events == []


async def test_repeated_signature_header_is_refused() -> None:
    recorder = Recorder()
    app = make_receiver(recorder).asgi_app()
    headers = [(b"x-ntrvsta-signature", digest(GOOD).encode())] * 2

    answer = await drive(app, headers=headers, chunks=[GOOD])

    assert (answer.status, json.loads(answer.body)) == (401, {"error": "malformed_signature"})
    assert recorder.events == []


async def test_lifespan_shutdown_waits_for_running_on_event() -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox = MemoryInbox()
    app = make_receiver(recorder, inbox).asgi_app()
    body = payload("res_life")

    async with running_lifespan(app) as answers:
        assert answers == ["lifespan.startup.complete"]
        await drive(app, headers=raw(signed(body)), chunks=[body])
        await asyncio.wait_for(recorder.called.wait(), 5)
        asyncio.get_running_loop().call_later(0.05, recorder.gate.set)

    assert answers == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert recorder.finished == ["res_life"]
    assert await inbox.is_done("res_life")


async def test_websocket_is_closed() -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        sent.append(dict(message))

    await make_receiver(Recorder()).asgi_app()({"type": "websocket"}, receive, send)

    assert [message["type"] for message in sent] == ["websocket.close"]


HEADER_NAMES = st.sampled_from(
    [
        *(b"x-ntrvsta-signature", b"x-ntrvsta-timestamp", b"x-ntrvsta-event"),
        *(b"x-ntrvsta-idempotency-key", b"content-length", b"content-type", b"\xff\x00", b""),
    ]
)
HEADER_VALUES = st.binary(max_size=80) | st.sampled_from(
    [b"", b"sha256=", b"t=,v1=", b"t=1,v1=" + b"0" * 64, b"0" * 64, b"-1", b"99999999999999999999"]
)
BODIES = st.binary(max_size=3 * LIMIT) | st.just(GOOD) | st.just(b"\xef\xbb\xbf" + GOOD)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(cut % (len(body) + 1) for cut in cuts)})
    return [body[a:b] for a, b in itertools.pairwise(points)] or [b""]


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(
    headers=st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=6),
    body=BODIES,
    cuts=st.lists(st.integers(min_value=0), max_size=5),
    disconnect=st.booleans(),
)
async def test_hostile_headers_and_bodies_get_a_4xx_and_reach_nothing(
    headers: list[tuple[bytes, bytes]], body: bytes, cuts: list[int], disconnect: bool
) -> None:
    recorder = Recorder()
    receiver = make_receiver(recorder)

    answer = await drive(
        receiver.asgi_app(), headers=headers, chunks=split(body, cuts), disconnect=disconnect
    )
    await receiver.aclose()

    assert answer.status is not None
    assert 400 <= answer.status < 500
    assert "error" in json.loads(answer.body)
    assert recorder.events == []


@HYPOTHESIS
@given(
    result_id=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20),
    cuts=st.lists(st.integers(min_value=0), max_size=8),
    with_length=st.booleans(),
    extra=st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=3),
)
async def test_signed_bodies_in_any_chunking_are_answered_and_handled_once(
    result_id: str, cuts: list[int], with_length: bool, extra: dict[str, Any]
) -> None:
    recorder = Recorder()
    receiver = make_receiver(recorder)
    body = json.dumps({**extra, "resultId": result_id}).encode()
    headers = signed(body, **({"Content-Length": str(len(body))} if with_length else {}))

    answer = await drive(receiver.asgi_app(), headers=raw(headers), chunks=split(body, cuts))
    await receiver.aclose()

    assert answer.status is not None
    assert answer.status < 500
    accepted = answer.status == 200
    assert recorder.keys == ([result_id] if accepted else [])
    if not accepted:
        assert json.loads(answer.body) == {"error": "malformed_payload"}


# -- inside FastAPI, under uvicorn -----------------------------------------------------------


ServeApp = Callable[..., Awaitable[tuple[Served, Recorder, MemoryInbox]]]


@pytest.fixture
async def serve_fastapi() -> AsyncIterator[ServeApp]:
    """Start a FastAPI app with the receiver at ``/webhooks`` under uvicorn; the receiver is
    drained in the app's lifespan, as the README shows."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(
            drain_timeout: float = 30.0, **options: Any
        ) -> tuple[Served, Recorder, MemoryInbox]:
            recorder, inbox = Recorder(), MemoryInbox()
            receiver = make_receiver(recorder, inbox, **options)

            @contextlib.asynccontextmanager
            async def life(_: FastAPI) -> AsyncIterator[None]:
                yield
                await receiver.aclose(drain_timeout=drain_timeout)

            app = FastAPI(lifespan=life)
            app.add_route("/webhooks", receiver.asgi_app(), methods=["POST"])  # type: ignore[arg-type]
            served = await stack.enter_async_context(serve_uvicorn(app))
            return served, recorder, inbox

        yield start


async def post(url: str, data: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=data, headers=headers, allow_redirects=False) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_fastapi_route_serves_the_exact_path_under_uvicorn(serve_fastapi: ServeApp) -> None:
    served, recorder, inbox = await serve_fastapi()
    body = payload("res_fastapi")

    first = await post(f"{served.url}/webhooks", body, signed(body))
    await asyncio.wait_for(recorder.called.wait(), 5)
    again = await post(f"{served.url}/webhooks", body, signed(body))
    async with aiohttp.ClientSession() as http, http.get(f"{served.url}/webhooks") as got:
        get_status = got.status
    await served.shutdown()

    assert first == (200, {"status": "accepted", "resultId": "res_fastapi"})
    assert again[0] == 200
    assert again[1]["status"] in ("duplicate", "in_progress")
    assert get_status == 405
    assert recorder.finished == ["res_fastapi"]
    assert await inbox.is_done("res_fastapi")


async def test_oversized_bodies_get_413_under_uvicorn_and_reach_nothing(
    serve_fastapi: ServeApp,
) -> None:
    served, recorder, inbox = await serve_fastapi()
    body = payload("res_huge", pad="x" * 50 * LIMIT)

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1024):
            yield body[i : i + 1024]

    declared = await post(f"{served.url}/webhooks", body, signed(body))
    streamed = await post(f"{served.url}/webhooks", stream(), signed(body))
    fine = payload("res_after")
    after = await post(f"{served.url}/webhooks", fine, signed(fine))
    await served.shutdown()

    assert declared == (413, {"error": "payload_too_large"})
    assert streamed == (413, {"error": "payload_too_large"})
    assert after[0] == 200
    assert recorder.keys == ["res_after"]
    assert not await inbox.is_done("res_huge")


async def test_slow_body_gets_408_under_uvicorn_and_reaches_nothing(
    serve_fastapi: ServeApp,
) -> None:
    served, recorder, inbox = await serve_fastapi(read_timeout=0.3)
    port = int(served.url.rsplit(":", 1)[1])
    body = payload("res_slow")
    target = Receiver("127.0.0.1", port, inbox, recorder.events)

    answer = await raw_exchange(
        target,
        request_head(len(body), digest(body)),
        [bytes([b]) for b in body],
        pause=0.05,
        check_closed=True,
    )
    await served.shutdown()

    assert answer.status == 408
    assert json.loads(answer.body) == {"error": "read_timeout"}
    assert answer.closed, "the server hangs up instead of waiting for the rest of the body"
    assert recorder.events == []
    assert (await inbox.claim("res_slow")).state is ClaimState.CLAIMED


async def test_uvicorn_shutdown_waits_for_running_on_event(serve_fastapi: ServeApp) -> None:
    served, recorder, inbox = await serve_fastapi()
    recorder.gate.clear()
    body = payload("res_drain")

    assert (await post(f"{served.url}/webhooks", body, signed(body)))[0] == 200
    await asyncio.wait_for(recorder.called.wait(), 5)
    asyncio.get_running_loop().call_later(0.2, recorder.gate.set)
    await served.shutdown()

    assert recorder.finished == ["res_drain"]
    assert await inbox.is_done("res_drain")


async def test_uvicorn_shutdown_cancels_a_stuck_on_event_after_the_drain_timeout(
    serve_fastapi: ServeApp,
) -> None:
    served, recorder, inbox = await serve_fastapi(drain_timeout=0.1)
    recorder.gate.clear()
    body = payload("res_stuck")

    assert (await post(f"{served.url}/webhooks", body, signed(body)))[0] == 200
    await asyncio.wait_for(recorder.called.wait(), 5)
    await served.shutdown()

    assert recorder.finished == []
    assert (await inbox.claim("res_stuck")).state is ClaimState.CLAIMED

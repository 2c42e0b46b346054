"""The aiohttp webhook endpoint, driven over real HTTP with aiohttp's test server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ntrvsta_async.reconcile import Claim, ClaimState, Inbox, MemoryInbox, ResultKeys, SQLiteInbox
from ntrvsta_async.webhooks import (
    WebhookVerifier,
    setup_webhooks,
    track_webhook_tasks,
    webhook_handler,
)
from tests.support.webhook_support import Recorder, settle

SECRET = "whsec-receiver-secret"
NOW = 1_750_000_000


def payload(result_id: str = "res_1", **extra: Any) -> bytes:
    return json.dumps({"resultId": result_id, "candidate": {"email": "a@b.c"}, **extra}).encode()


def signed(body: bytes, secret: str = SECRET, **headers: str) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Ntrvsta-Signature": digest, **headers}


Start = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    clients: list[TestClient[web.Request, web.Application]] = []

    async def factory(
        on_event: Recorder, inbox: Inbox | None = None, **kwargs: Any
    ) -> TestClient[web.Request, web.Application]:
        app = web.Application()
        verifier = WebhookVerifier(SECRET, clock=lambda: float(NOW), max_body_size=4096)
        setup_webhooks(app, verifier, on_event, inbox=inbox, **kwargs)
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        await client.close()


async def test_verified_delivery_answers_200_before_on_event_runs(start: Start) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox = MemoryInbox()
    client = await start(recorder, inbox=inbox)
    body = payload("res_1")

    response = await client.post("/webhooks", data=body, headers=signed(body))

    assert response.status == 200
    assert await response.json() == {"status": "accepted", "resultId": "res_1"}
    await asyncio.wait_for(recorder.called.wait(), 1)
    assert not recorder.ended.is_set()
    assert not await inbox.is_done("res_1")
    recorder.gate.set()
    await asyncio.wait_for(recorder.ended.wait(), 1)
    await settle()
    assert await inbox.is_done("res_1")
    assert recorder.keys == ["res_1"]
    assert recorder.events[0].candidate is not None
    assert recorder.events[0].candidate.email == "a@b.c"


GOOD = payload("res_bad")
REJECTIONS = [
    pytest.param(GOOD, {"Content-Type": "application/json"}, 401, "missing_signature", id="none"),
    pytest.param(GOOD, signed(GOOD, "wrong-secret"), 401, "bad_signature", id="wrong"),
    pytest.param(GOOD, signed(payload("res_other")), 401, "bad_signature", id="other-bytes"),
    pytest.param(
        GOOD,
        {
            "X-Ntrvsta-Signature": "t={},v1={}".format(
                NOW - 3600,
                hmac.new(SECRET.encode(), f"{NOW - 3600}.".encode() + GOOD, "sha256").hexdigest(),
            )
        },
        401,
        "stale_timestamp",
        id="stale",
    ),
    pytest.param(
        GOOD, {"X-Ntrvsta-Signature": "sha256=zzz"}, 401, "malformed_signature", id="garbage"
    ),
    pytest.param(b"not json", signed(b"not json"), 400, "malformed_payload", id="not-json"),
    pytest.param(b'{"x": 1}', signed(b'{"x": 1}'), 400, "malformed_payload", id="no-result-id"),
    pytest.param(
        b"{" + b" " * 5000 + b"}",
        signed(b"{" + b" " * 5000 + b"}"),
        413,
        "payload_too_large",
        id="oversized",
    ),
]


@pytest.mark.parametrize(("body", "headers", "status", "reason"), REJECTIONS)
async def test_bad_deliveries_get_4xx_and_never_reach_on_event(
    start: Start, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    recorder = Recorder()
    inbox = MemoryInbox()
    client = await start(recorder, inbox=inbox)

    response = await client.post("/webhooks", data=body, headers=headers)

    assert response.status == status
    assert await response.json() == {"error": reason}
    await settle()
    assert recorder.events == []
    assert not await inbox.is_done("res_bad")


async def test_oversized_streamed_body_without_content_length_is_refused(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder)
    body = payload("res_big", padding="x" * 10_000)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    response = await client.post("/webhooks", data=chunks(), headers=signed(body))

    assert response.status == 413
    await settle()
    assert recorder.events == []


async def test_streamed_body_within_limit_is_accepted(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder)
    body = payload("res_chunked")

    async def chunks() -> AsyncIterator[bytes]:
        yield body[:10]
        yield body[10:]

    response = await client.post("/webhooks", data=chunks(), headers=signed(body))

    assert response.status == 200
    await asyncio.wait_for(recorder.ended.wait(), 1)
    assert recorder.keys == ["res_chunked"]


async def test_sequential_duplicates_are_handled_once(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder)
    body = payload("res_dup")

    first = await client.post("/webhooks", data=body, headers=signed(body))
    await asyncio.wait_for(recorder.ended.wait(), 1)
    await settle()
    second = await client.post("/webhooks", data=body, headers=signed(body))

    assert first.status == second.status == 200
    assert (await second.json())["status"] == "duplicate"
    await settle()
    assert recorder.keys == ["res_dup"]


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
async def test_simultaneous_duplicates_call_on_event_once(
    start: Start, tmp_path: Path, backend: str
) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox: Inbox = MemoryInbox() if backend == "memory" else SQLiteInbox(tmp_path / "i.db")
    async with inbox:
        client = await start(recorder, inbox=inbox)
        body = payload("res_race")
        responses = await asyncio.gather(
            *(client.post("/webhooks", data=body, headers=signed(body)) for _ in range(5))
        )
        statuses = sorted([(await r.json())["status"] for r in responses])
        assert [r.status for r in responses] == [200] * 5
        assert statuses == ["accepted"] + ["in_progress"] * 4
        recorder.gate.set()
        await asyncio.wait_for(recorder.ended.wait(), 1)
        await settle()
        assert recorder.keys == ["res_race"]
        assert await inbox.is_done("res_race")
        await client.close()


async def test_failed_on_event_is_logged_released_and_retried_on_redelivery(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder(failures=1)
    inbox = MemoryInbox()
    client = await start(recorder, inbox=inbox)
    body = payload("res_retry")
    headers = signed(body, **{"X-Ntrvsta-Idempotency-Key": "delivery-1"})

    with caplog.at_level(logging.ERROR, logger="ntrvsta_async.webhooks"):
        first = await client.post("/webhooks", data=body, headers=headers)
        await asyncio.wait_for(recorder.ended.wait(), 1)
        await settle()

    assert first.status == 200
    failures = [r for r in caplog.records if r.name == "ntrvsta_async.webhooks"]
    assert failures
    assert "res_retry" in failures[0].getMessage()
    assert failures[0].exc_info is not None
    assert not await inbox.is_done("res_retry")

    recorder.ended.clear()
    second = await client.post("/webhooks", data=body, headers=headers)
    assert (await second.json())["status"] == "accepted"
    await asyncio.wait_for(recorder.ended.wait(), 1)
    await settle()
    assert recorder.keys == ["res_retry", "res_retry"]
    assert await inbox.is_done("res_retry")


class CountingInbox(MemoryInbox):
    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    async def claim(self, key: ResultKeys, *, ttl: float = 300.0) -> Claim:
        self.claims += 1
        return await super().claim(key, ttl=ttl)


async def test_repeated_idempotency_key_skips_the_inbox(start: Start) -> None:
    recorder = Recorder()
    inbox = CountingInbox()
    client = await start(recorder, inbox=inbox)
    body = payload("res_idem")
    headers = signed(body, **{"X-Ntrvsta-Idempotency-Key": "delivery-9"})

    await client.post("/webhooks", data=body, headers=headers)
    await asyncio.wait_for(recorder.ended.wait(), 1)
    await settle()
    again = await client.post("/webhooks", data=body, headers=headers)

    assert (await again.json())["status"] == "duplicate"
    assert inbox.claims == 1

    other = payload("res_other")
    reused_key = signed(other, **{"X-Ntrvsta-Idempotency-Key": "delivery-9"})
    recorder.ended.clear()
    response = await client.post("/webhooks", data=other, headers=reused_key)
    assert (await response.json())["status"] == "accepted"
    await asyncio.wait_for(recorder.ended.wait(), 1)
    assert recorder.keys == ["res_idem", "res_other"]


async def test_result_done_elsewhere_is_a_duplicate(start: Start) -> None:
    recorder = Recorder()
    inbox = MemoryInbox()
    polled = await inbox.claim("res_polled")
    assert polled.token is not None
    await inbox.complete("res_polled", polled.token)
    client = await start(recorder, inbox=inbox)
    body = payload("res_polled")

    response = await client.post("/webhooks", data=body, headers=signed(body))

    assert (await response.json()) == {"status": "duplicate", "resultId": "res_polled"}
    await settle()
    assert recorder.events == []


async def test_unknown_event_is_acknowledged_but_not_passed_on(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder)
    body = b'{"resultId": "res_x"}'

    response = await client.post(
        "/webhooks", data=body, headers=signed(body, **{"X-Ntrvsta-Event": "result.archived"})
    )

    assert response.status == 200
    assert await response.json() == {"status": "ignored", "event": "result.archived"}
    await settle()
    assert recorder.events == []


class BrokenInbox(MemoryInbox):
    async def claim(self, key: ResultKeys, *, ttl: float = 300.0) -> Claim:
        raise OSError("disk on fire")


async def test_inbox_failure_asks_for_a_redelivery(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder, inbox=BrokenInbox())
    body = payload()

    response = await client.post("/webhooks", data=body, headers=signed(body))

    assert response.status == 503
    await settle()
    assert recorder.events == []


async def test_shutdown_waits_for_running_on_event(start: Start) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox = MemoryInbox()
    client = await start(recorder, inbox=inbox)
    body = payload("res_drain")
    await client.post("/webhooks", data=body, headers=signed(body))
    await asyncio.wait_for(recorder.called.wait(), 1)

    asyncio.get_running_loop().call_later(0.05, recorder.gate.set)
    await client.close()

    assert recorder.ended.is_set()
    assert await inbox.is_done("res_drain")


async def test_shutdown_cancels_stuck_on_event_and_releases_its_claim(start: Start) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    inbox = MemoryInbox()
    client = await start(recorder, inbox=inbox, drain_timeout=0.05)
    body = payload("res_stuck")
    await client.post("/webhooks", data=body, headers=signed(body))
    await asyncio.wait_for(recorder.called.wait(), 1)

    await client.close()

    assert not recorder.ended.is_set()
    assert not await inbox.is_done("res_stuck")
    assert (await inbox.claim("res_stuck")).state is ClaimState.CLAIMED


async def test_handler_on_a_custom_route_with_tracking(caplog: pytest.LogCaptureFixture) -> None:
    recorder = Recorder()
    recorder.gate.clear()
    verifier = WebhookVerifier([SECRET], clock=lambda: float(NOW))
    app = web.Application()
    sub = web.Application()
    sub.router.add_post("/ntrvsta", webhook_handler(verifier, recorder))
    app.add_subapp("/hooks", sub)
    track_webhook_tasks(app)
    body = payload("res_sub")

    with caplog.at_level(logging.WARNING, logger="ntrvsta_async.webhooks"):
        async with TestClient(TestServer(app)) as client:
            response = await client.post("/hooks/ntrvsta", data=body, headers=signed(body))
            assert response.status == 200
            asyncio.get_running_loop().call_later(0.05, recorder.gate.set)

    assert recorder.ended.is_set()
    assert recorder.keys == ["res_sub"]
    assert "not drained" not in caplog.text


async def test_untracked_handler_still_works_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder()
    app = web.Application()
    app.router.add_post("/wh", webhook_handler(WebhookVerifier(SECRET), recorder))

    with caplog.at_level(logging.WARNING, logger="ntrvsta_async.webhooks"):
        async with TestClient(TestServer(app)) as client:
            for result_id in ("a", "b"):
                recorder.ended.clear()
                body = payload(result_id)
                response = await client.post("/wh", data=body, headers=signed(body))
                assert response.status == 200
                await asyncio.wait_for(recorder.ended.wait(), 1)
            await settle()

    assert recorder.keys == ["a", "b"]
    assert caplog.text.count("not drained on app shutdown") == 1


async def test_logs_never_show_the_secret_or_signature(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    client = await start(recorder)
    body = payload()
    headers = signed(body, "attacker-secret")

    with caplog.at_level(logging.DEBUG, logger="ntrvsta_async"):
        response = await client.post("/webhooks", data=body, headers=headers)

    assert response.status == 401
    assert "bad_signature" in caplog.text
    assert SECRET not in caplog.text
    assert headers["X-Ntrvsta-Signature"] not in caplog.text


async def test_endless_body_is_cut_off_at_the_limit(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder)
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1024
            yield b" " * 1024
            await asyncio.sleep(0)

    response = await asyncio.wait_for(
        client.post("/webhooks", data=endless(), headers=signed(b"")), 5
    )

    assert response.status == 413
    assert await response.json() == {"error": "payload_too_large"}
    assert recorder.events == []


async def test_declared_oversize_is_refused_without_reading_the_body(start: Start) -> None:
    recorder = Recorder()
    client = await start(recorder)
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(
            b"POST /webhooks HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"X-Ntrvsta-Signature: " + b"0" * 64 + b"\r\nContent-Length: 100000000\r\n\r\n{"
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()

    assert status_line.startswith(b"HTTP/1.1 413")
    assert recorder.events == []

"""``result.completed`` deliveries: payload, signature, retries, and webhook faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import pytest
from aiohttp import web

from ntrvsta_async import Candidate, ResultCompletedEvent
from ntrvsta_async.assumptions import (
    RESULT_COMPLETED_EVENT,
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
)
from ntrvsta_async.client import NtrvstaClient
from ntrvsta_async.sandbox import (
    FaultPlan,
    SandboxServer,
    WebhookFaults,
    WebhookRetryPolicy,
)
from ntrvsta_async.webhooks import WebhookVerifier
from tests.conftest import serve

SECRET = "test-signing-secret"
FAST = WebhookRetryPolicy(max_attempts=4, initial_delay=0.05, multiplier=2.0, max_delay=0.5)


@attrs.define
class Hit:
    at: float
    body: bytes
    headers: dict[str, str]


class Receiver:
    """A webhook endpoint that records every request and answers what ``respond`` says."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.respond: Callable[[int], int] = lambda n: 200
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.hits.append(Hit(time.monotonic(), await request.read(), dict(request.headers)))
        return web.Response(status=self.respond(len(self.hits)))

    def events(self) -> list[ResultCompletedEvent]:
        verifier = WebhookVerifier(SECRET)
        out = []
        for hit in self.hits:
            event = verifier.verify(hit.body, hit.headers)
            assert isinstance(event, ResultCompletedEvent)
            out.append(event)
        return out


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", rec.handle)
    async with serve(app, access_log=None) as url:
        rec.url = f"{url}/hooks"
        yield rec


async def _complete_n(server: SandboxServer, count: int, **options: Any) -> list[str]:
    async with NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client:
        template = await client.templates.create(title="Hooks", external_posting_id="hooks")
        ids = []
        for n in range(count):
            invitation = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email=f"w{n}@x.io")
            )
            ids.append((await server.complete(invitation.invitation_id, **options)).result_id)
    return ids


def _sandbox(receiver: Receiver, **options: Any) -> SandboxServer:
    options.setdefault("webhook_retry", FAST)
    return SandboxServer(webhook_url=receiver.url, webhook_secret=SECRET, **options)


async def test_delivery_is_signed_and_carries_the_full_payload(receiver: Receiver) -> None:
    async with _sandbox(receiver) as server:
        (result_id,) = await _complete_n(server, 1, overall_score=91.0)
        await server.wait_deliveries_idle()
        completed = server.results[0]
    (hit,) = receiver.hits
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers[WEBHOOK_EVENT_HEADER] == RESULT_COMPLETED_EVENT
    assert hit.headers[WEBHOOK_IDEMPOTENCY_HEADER] == completed.event_id
    assert hit.headers[WEBHOOK_SIGNATURE_HEADER].startswith("t=")
    (event,) = receiver.events()
    assert event == completed.event
    assert event.result_id == result_id
    assert event.event == RESULT_COMPLETED_EVENT
    assert event.organization_id == server.organization_id
    assert event.external_posting_id == "hooks"
    assert event.candidate is not None
    assert event.candidate.email == "w0@x.io"
    assert event.interview is not None
    assert event.interview.status == "completed"
    assert event.interview.duration_seconds is not None
    assert event.interview.duration_seconds > 0
    assert event.ai_analysis is not None
    assert event.ai_analysis.scoring is not None
    scoring = event.ai_analysis.scoring
    assert (scoring.overall_score, scoring.max_score) == (91.0, 100.0)
    assert [c.key for c in scoring.categories] == [
        "communication_clarity",
        "technical_accuracy",
        "language_proficiency",
    ]
    assert event.result_url == completed.summary.result_url
    assert set(completed.payload) >= {
        "event",
        "eventId",
        "occurredAt",
        "resultId",
        "organizationId",
        "templateId",
        "externalPostingId",
        "invitationId",
        "candidate",
        "interview",
        "aiAnalysis",
        "resultUrl",
    }


async def test_a_wrong_secret_does_not_verify(receiver: Receiver) -> None:
    from ntrvsta_async import WebhookVerificationError

    async with _sandbox(receiver) as server:
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
    (hit,) = receiver.hits
    with pytest.raises(WebhookVerificationError):
        WebhookVerifier("another-secret").verify(hit.body, hit.headers)


async def test_failed_deliveries_are_retried_with_backoff_and_a_stable_key(
    receiver: Receiver,
) -> None:
    receiver.respond = lambda n: 503 if n <= 2 else 204
    async with _sandbox(receiver) as server:
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
        stats = server.deliveries.stats
        attempts = server.deliveries.attempts
    assert len(receiver.hits) == 3
    keys = {hit.headers[WEBHOOK_IDEMPOTENCY_HEADER] for hit in receiver.hits}
    assert len(keys) == 1
    assert {hit.body for hit in receiver.hits} == {receiver.hits[0].body}
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:], strict=False)]
    assert gaps[0] >= FAST.backoff(1) * 0.9
    assert gaps[1] >= FAST.backoff(2) * 0.9
    assert [a.status for a in attempts] == [503, 503, 204]
    assert (stats.attempts, stats.failed_attempts, stats.delivered, stats.exhausted) == (3, 2, 1, 0)
    assert len(receiver.events()) == 3


async def test_delivery_gives_up_after_max_attempts(receiver: Receiver) -> None:
    receiver.respond = lambda n: 500
    async with _sandbox(receiver) as server:
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
        assert server.deliveries.exhausted == (server.results[0].event_id,)
        assert server.deliveries.delivered == ()
    assert len(receiver.hits) == FAST.max_attempts


async def test_unreachable_receiver_is_retried() -> None:
    async with SandboxServer(
        webhook_url="http://127.0.0.1:9/unreachable", webhook_retry=FAST
    ) as server:
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
        attempts = server.deliveries.attempts
    assert len(attempts) == FAST.max_attempts
    assert all(a.status is None and a.error for a in attempts)


async def test_no_webhook_url_means_no_delivery() -> None:
    async with SandboxServer() as server:
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
        assert server.deliveries.stats.events == 0


async def test_configure_webhook_after_start(receiver: Receiver) -> None:
    async with SandboxServer(webhook_retry=FAST) as server:
        secret = server.configure_webhook(receiver.url)
        assert secret is not None
        assert server.webhook_secret == secret
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
    (hit,) = receiver.hits
    event = WebhookVerifier(secret).verify(hit.body, hit.headers)
    assert isinstance(event, ResultCompletedEvent)


async def test_dropped_events_are_never_sent_but_still_listed(receiver: Receiver) -> None:
    plan = FaultPlan(seed=1, webhooks=WebhookFaults(drop_rate=1.0))
    async with _sandbox(receiver, faults=plan) as server:
        ids = await _complete_n(server, 3)
        await server.wait_deliveries_idle()
        assert server.deliveries.dropped == tuple(r.event_id for r in server.results)
        assert server.deliveries.stats.dropped == 3
        async with NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client:
            listed = [r.result_id async for r in client.results.list()]
    assert receiver.hits == []
    assert listed == ids


async def test_duplicated_events_share_body_and_key(receiver: Receiver) -> None:
    plan = FaultPlan(seed=1, webhooks=WebhookFaults(duplicate_rate=1.0))
    async with _sandbox(receiver, faults=plan) as server:
        await _complete_n(server, 1)
        await server.wait_deliveries_idle()
        delivered = server.deliveries.delivered
    assert len(receiver.hits) == 2
    first, second = receiver.hits
    assert first.body == second.body
    assert first.headers[WEBHOOK_IDEMPOTENCY_HEADER] == second.headers[WEBHOOK_IDEMPOTENCY_HEADER]
    assert [d.copy for d in delivered] == [0, 1]
    assert [e.result_id for e in receiver.events()] == [delivered[0].result_id] * 2


async def test_delayed_events_arrive_late(receiver: Receiver) -> None:
    plan = FaultPlan(seed=1, webhooks=WebhookFaults(delay_rate=1.0, delay=0.3))
    async with _sandbox(receiver, faults=plan) as server:
        await _complete_n(server, 1)
        completed_at = time.monotonic()
        await asyncio.sleep(0.1)
        assert receiver.hits == []
        await server.wait_deliveries_idle()
        assert server.deliveries.stats.delayed == 1
    assert receiver.hits[0].at - completed_at >= 0.25


async def test_reordered_event_arrives_after_the_next_one(receiver: Receiver) -> None:
    plan = FaultPlan(seed=1, webhooks=WebhookFaults(reorder_rate=1.0, reorder_window=5.0))
    async with _sandbox(receiver, faults=plan) as server:
        first, second = await _complete_n(server, 2)
        await server.wait_deliveries_idle()
        assert server.deliveries.stats.reordered == 1
    assert [e.result_id for e in receiver.events()] == [second, first]


async def test_a_held_event_is_released_after_the_window(receiver: Receiver) -> None:
    plan = FaultPlan(seed=1, webhooks=WebhookFaults(reorder_rate=1.0, reorder_window=0.2))
    async with _sandbox(receiver, faults=plan) as server:
        (only,) = await _complete_n(server, 1)
        async with asyncio.timeout(5):
            await server.wait_deliveries_idle()
    assert [e.result_id for e in receiver.events()] == [only]


async def test_webhook_faults_follow_the_seed(receiver: Receiver) -> None:
    faults = WebhookFaults(drop_rate=0.3, duplicate_rate=0.3)

    async def run(seed: int) -> tuple[list[int], list[int]]:
        async with _sandbox(receiver, faults=FaultPlan(seed=seed, webhooks=faults)) as server:
            await _complete_n(server, 12)
            await server.wait_deliveries_idle()
            events = [r.event_id for r in server.results]
            dropped = [events.index(e) for e in server.deliveries.dropped]
            duplicated = sorted(
                events.index(d.event_id) for d in server.deliveries.delivered if d.copy == 1
            )
        return dropped, duplicated

    first, again, other = await run(5), await run(5), await run(6)
    assert first == again
    assert first != other
    assert first[0]
    assert first[1]


async def test_sdk_webhook_handler_accepts_sandbox_deliveries() -> None:
    from ntrvsta_async.webhooks import webhook_handler

    seen: list[ResultCompletedEvent] = []
    done = asyncio.Event()

    async def on_event(event: ResultCompletedEvent) -> None:
        seen.append(event)
        done.set()

    app = web.Application()
    app.router.add_post("/hooks", webhook_handler(WebhookVerifier(SECRET), on_event))
    plan = FaultPlan(seed=3, webhooks=WebhookFaults(duplicate_rate=1.0))
    async with (
        serve(app, access_log=None) as url,
        SandboxServer(
            webhook_url=f"{url}/hooks", webhook_secret=SECRET, faults=plan, webhook_retry=FAST
        ) as server,
    ):
        (result_id,) = await _complete_n(server, 1)
        await server.wait_deliveries_idle()
        async with asyncio.timeout(5):
            await done.wait()
        assert [a.status for a in server.deliveries.attempts] == [200, 200]
    assert [e.result_id for e in seen] == [result_id]

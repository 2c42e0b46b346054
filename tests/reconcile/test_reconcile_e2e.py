"""Receiver and poller on one inbox against the sandbox: every result handled once in effect."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ntrvsta_async import Candidate, NtrvstaClient, ResultCompletedEvent, ResultSummary
from ntrvsta_async.reconcile import MemoryInbox, ResultPoller
from ntrvsta_async.sandbox import FaultPlan, SandboxServer, WebhookFaults
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks
from tests.conftest import serve

SECRET = "whsec-e2e-test"


class Handled:
    def __init__(self) -> None:
        self.by_webhook: list[str] = []
        self.by_poller: list[str] = []

    async def on_event(self, event: ResultCompletedEvent) -> None:
        self.by_webhook.append(event.key)

    async def on_result(self, result: ResultSummary) -> None:
        self.by_poller.append(result.key)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, Handled, MemoryInbox]]:
    handled = Handled()
    inbox = MemoryInbox()
    app = web.Application()
    setup_webhooks(app, WebhookVerifier(SECRET), handled.on_event, inbox=inbox)
    async with serve(app) as url:
        yield f"{url}/webhooks", handled, inbox
    await inbox.close()


async def test_poller_recovers_dropped_webhooks_and_skips_delivered_ones(
    receiver: tuple[str, Handled, MemoryInbox],
) -> None:
    url, handled, inbox = receiver
    faults = FaultPlan(seed=11, webhooks=WebhookFaults(drop_rate=0.4, duplicate_rate=0.2))
    async with SandboxServer(webhook_url=url, webhook_secret=SECRET, faults=faults) as sandbox:
        async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
            template = await client.templates.create(title="E2E")
            for n in range(60):
                invitation = await client.invitations.create(
                    template_id=template.template_id,
                    candidate=Candidate(email=f"e2e{n}@example.com"),
                )
                await sandbox.complete(invitation.invitation_id)
            async with asyncio.timeout(20):
                await sandbox.wait_deliveries_idle()
            await asyncio.sleep(0.05)  # let the receiver's background handlers finish

            poller = ResultPoller(client, handled.on_result, inbox=inbox, page_size=7)
            first = await poller.run_once()
            second = await poller.run_once()
        keys = {r.result_id for r in sandbox.results}
        stats = sandbox.deliveries.stats

    webhook, polled = Counter(handled.by_webhook), Counter(handled.by_poller)
    assert set(webhook) | set(polled) == keys, "every result handled"
    assert not set(webhook) & set(polled), "no result handled by both paths"
    assert max((webhook + polled).values()) == 1, "no result handled twice"
    assert polled, "dropped deliveries were recovered by the poller"
    assert webhook, "delivered webhooks were handled by the receiver"
    assert first.handled == len(polled)
    assert first.skipped_duplicates == len(webhook)
    assert (second.new, second.skipped_duplicates) == (0, len(keys))
    assert stats.dropped > 0

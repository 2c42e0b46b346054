"""``WebhookReceiver`` in an aiohttp application: a request handler and its shutdown drain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from ntrvsta_async.inbox import Inbox
from ntrvsta_async.webhooks.receiver import (
    DEFAULT_CLAIM_TTL,
    DEFAULT_DRAIN_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    EventCallback,
    WebhookReceiver,
    WebhookReply,
)
from ntrvsta_async.webhooks.verifier import WebhookVerifier

__all__ = ["WebhookRequestHandler", "setup_webhooks", "track_webhook_tasks", "webhook_handler"]

logger = logging.getLogger("ntrvsta_async.webhooks")

WebhookRequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler, as ``webhook_handler`` returns."""

_RECEIVERS: Final = web.AppKey("ntrvsta_async.webhook_receivers", set[WebhookReceiver])


def track_webhook_tasks(
    app: web.Application, *, drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
) -> None:
    """Wait on ``app``'s shutdown for the ``on_event`` tasks of the webhook handlers it serves.

    ``setup_webhooks`` calls this; call it yourself when you add the route with
    ``webhook_handler``. Tasks still running after ``drain_timeout`` are cancelled (their
    claims are released, so a redelivery or the poller handles those results).
    """
    if _RECEIVERS in app:
        return
    receivers: set[WebhookReceiver] = set()
    app[_RECEIVERS] = receivers

    async def drain(_: web.Application) -> None:
        await asyncio.gather(*(r.aclose(drain_timeout=drain_timeout) for r in receivers))

    app.on_shutdown.append(drain)


def setup_webhooks(
    app: web.Application,
    verifier: WebhookVerifier,
    on_event: EventCallback,
    *,
    path: str = "/webhooks",
    inbox: Inbox | None = None,
    claim_ttl: float = DEFAULT_CLAIM_TTL,
    drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
) -> None:
    """Route ``POST path`` to ``webhook_handler(...)`` and drain its tasks on shutdown."""
    handler = webhook_handler(
        verifier, on_event, inbox=inbox, claim_ttl=claim_ttl, read_timeout=read_timeout
    )
    track_webhook_tasks(app, drain_timeout=drain_timeout)
    app.router.add_post(path, handler)


def webhook_handler(
    verifier: WebhookVerifier,
    on_event: EventCallback,
    *,
    inbox: Inbox | None = None,
    claim_ttl: float = DEFAULT_CLAIM_TTL,
    read_timeout: float | None = DEFAULT_READ_TIMEOUT,
) -> WebhookRequestHandler:
    """An aiohttp handler for deliveries, answering as ``WebhookReceiver`` does: 401 bad
    signature, 413 too large, 400 malformed body, 408 body not received within
    ``read_timeout`` seconds (None: no limit), 200 once verified; ``on_event`` then runs once
    per result, after the response. ``track_webhook_tasks(app)`` drains it on shutdown.
    """
    receiver = WebhookReceiver(
        verifier, on_event, inbox=inbox, claim_ttl=claim_ttl, read_timeout=read_timeout
    )
    warned: list[bool] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        receivers = request.config_dict.get(_RECEIVERS)
        if receivers is not None:
            receivers.add(receiver)
        elif not warned:
            warned.append(True)
            logger.warning(
                "webhook tasks are not drained on app shutdown; use setup_webhooks() or"
                " track_webhook_tasks(app)"
            )
        reply = await receiver.handle_stream(
            request.content.iter_any(), request.headers, content_length=request.content_length
        )
        if reply.status == 408:  # the rest of the body may never come: do not linger for it
            return await _answer_and_close(request, reply)
        return web.json_response(reply.body, status=reply.status)

    return handle


async def _answer_and_close(request: web.Request, reply: WebhookReply) -> web.StreamResponse:
    """Send ``reply``, then drop the connection instead of waiting for the rest of a body."""
    response = web.json_response(reply.body, status=reply.status)
    response.force_close()
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()
    return response

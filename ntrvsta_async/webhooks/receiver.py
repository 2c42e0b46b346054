"""An aiohttp endpoint for deliveries: verify, answer fast, handle once in the background."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from ntrvsta_async._checks import is_coroutine_callable, is_positive_number
from ntrvsta_async.assumptions import WEBHOOK_IDEMPOTENCY_HEADER
from ntrvsta_async.errors import ConfigurationError, WebhookVerificationError
from ntrvsta_async.inbox import ClaimState, Inbox, MemoryInbox, claim_settled
from ntrvsta_async.models import ResultCompletedEvent
from ntrvsta_async.webhooks.verifier import UnknownEvent, WebhookVerifier

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "EventCallback",
    "WebhookRequestHandler",
    "setup_webhooks",
    "track_webhook_tasks",
    "webhook_handler",
]

logger = logging.getLogger("ntrvsta_async.webhooks")

EventCallback = Callable[[ResultCompletedEvent], Awaitable[object]]
"""The user's work for one verified, de-duplicated ``result.completed`` event."""

WebhookRequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler, as ``webhook_handler`` returns."""

#: Seconds a result stays claimed by a running ``on_event`` before another delivery may retry it.
DEFAULT_CLAIM_TTL: Final = 300.0
#: Seconds app shutdown waits for running ``on_event`` tasks before cancelling them.
DEFAULT_DRAIN_TIMEOUT: Final = 30.0
#: Seconds a delivery's whole body may take to arrive before the receiver answers 408.
DEFAULT_READ_TIMEOUT: Final = 10.0

_TASKS: Final = web.AppKey("ntrvsta_async.webhook_tasks", set[asyncio.Task[None]])
_RECENT_DELIVERIES: Final = 4096
_REJECTION_STATUS: Final = {"payload_too_large": 413, "malformed_payload": 400}


def track_webhook_tasks(
    app: web.Application, *, drain_timeout: float = DEFAULT_DRAIN_TIMEOUT
) -> None:
    """Keep the app's webhook background tasks on ``app`` and wait for them on shutdown.

    ``setup_webhooks`` calls this; call it yourself when you add the route with
    ``webhook_handler``. Tasks still running after ``drain_timeout`` are cancelled (their
    claims are released, so a redelivery or the poller handles those results).
    """
    if _TASKS in app:
        return
    tasks: set[asyncio.Task[None]] = set()
    app[_TASKS] = tasks

    async def drain(_: web.Application) -> None:
        await _drain(tasks, drain_timeout)

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
    """An aiohttp handler for deliveries: 401 bad signature, 413 too large, 400 malformed
    body, 408 body not received within ``read_timeout`` seconds (None: no limit), 200 once
    verified; ``on_event`` then runs once per result key, after the response.

    De-duplication claims the result key in ``inbox`` (default: a private ``MemoryInbox``);
    a failed ``on_event`` is logged and its claim released so the result is retried.
    """
    if not is_coroutine_callable(on_event):
        raise ConfigurationError("on_event must be a coroutine function (async def)")
    if read_timeout is not None and not is_positive_number(read_timeout):
        raise ConfigurationError("read_timeout must be a positive number of seconds, or None")
    if not is_positive_number(claim_ttl):
        raise ConfigurationError("claim_ttl must be a positive number of seconds")
    store: Inbox = inbox if inbox is not None else MemoryInbox()
    recent: OrderedDict[str, str] = OrderedDict()
    untracked: set[asyncio.Task[None]] = set()
    warned: list[bool] = []

    def remember(idempotency_key: str | None, key: str) -> None:
        if idempotency_key:
            recent[idempotency_key] = key
            recent.move_to_end(idempotency_key)
            while len(recent) > _RECENT_DELIVERIES:
                recent.popitem(last=False)

    async def run(event: ResultCompletedEvent, token: str, idempotency_key: str | None) -> None:
        key = event.key
        try:
            error = await store.run_claimed(
                event.keys, token, functools.partial(on_event, event), ttl=claim_ttl
            )
        except Exception:
            logger.exception("could not mark result %s done in the inbox", key)
            return
        if error is not None:
            logger.error("on_event failed for result %s; released for a retry", key, exc_info=error)
            return
        remember(idempotency_key, key)

    def start(request: web.Request, event: ResultCompletedEvent, token: str) -> None:
        tasks = request.config_dict.get(_TASKS)
        if tasks is None:
            tasks = untracked
            if not warned:
                warned.append(True)
                logger.warning(
                    "webhook tasks are not drained on app shutdown; use setup_webhooks() or"
                    " track_webhook_tasks(app)"
                )
        idempotency_key = request.headers.get(WEBHOOK_IDEMPOTENCY_HEADER)
        task = asyncio.get_running_loop().create_task(
            run(event, token, idempotency_key), name=f"ntrvsta-webhook-{event.key}"
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            async with asyncio.timeout(read_timeout):
                body = await _read_limited(request, verifier.max_body_size)
        except TimeoutError:
            logger.warning(
                "rejected a webhook delivery: read_timeout (body not received within %g s)",
                read_timeout,
            )
            return await _answer_and_close(request, {"error": "read_timeout"}, status=408)
        except ConnectionError:
            logger.warning("rejected a webhook delivery: the sender hung up before its body ended")
            return web.json_response({"error": "connection_lost"}, status=400)
        try:
            if body is None:
                raise WebhookVerificationError(
                    f"body exceeds the {verifier.max_body_size} byte limit",
                    reason="payload_too_large",
                )
            event = verifier.verify(body, request.headers)
        except WebhookVerificationError as exc:
            logger.warning("rejected a webhook delivery: %s (%s)", exc.reason, exc.message)
            status = _REJECTION_STATUS.get(exc.reason, 401)
            return web.json_response({"error": exc.reason}, status=status)
        if isinstance(event, UnknownEvent):
            logger.info("ignored a verified delivery of unknown event %r", event.event)
            return web.json_response({"status": "ignored", "event": event.event})
        key = event.key
        idempotency_key = request.headers.get(WEBHOOK_IDEMPOTENCY_HEADER)
        if idempotency_key and recent.get(idempotency_key) == key:
            return _accepted("duplicate", key)
        try:
            claim = await claim_settled(store, event.keys, claim_ttl)
        except Exception:
            logger.exception("inbox unavailable; asking for a redelivery of result %s", key)
            return web.json_response({"error": "inbox_unavailable"}, status=503)
        if claim.state is ClaimState.DONE:
            remember(idempotency_key, key)
            return _accepted("duplicate", key)
        if claim.state is ClaimState.IN_PROGRESS or claim.token is None:
            return _accepted("in_progress", key)
        start(request, event, claim.token)
        return _accepted("accepted", key)

    return handle


def _accepted(status: str, key: str) -> web.Response:
    return web.json_response({"status": status, "resultId": key})


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to exceed ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


async def _answer_and_close(
    request: web.Request, data: dict[str, str], *, status: int
) -> web.StreamResponse:
    """Send a JSON answer, then drop the connection instead of waiting for the rest of a body."""
    response = web.json_response(data, status=status)
    response.force_close()
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()
    return response


async def _drain(tasks: set[asyncio.Task[None]], wait_seconds: float) -> None:
    if not tasks:
        return
    _, pending = await asyncio.wait(set(tasks), timeout=wait_seconds)
    if pending:
        logger.warning("cancelling %d webhook task(s) still running at shutdown", len(pending))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

"""The framework-neutral webhook receiver: verify, de-duplicate, answer fast, handle once.

``WebhookReceiver`` knows nothing of any web framework: an adapter hands it the raw body (or
its chunks as they arrive) and the headers, and sends back the ``WebhookReply`` it returns.
``asgi_app()`` is the adapter for ASGI servers and frameworks (FastAPI, Starlette, ...);
``webhook_handler`` and ``setup_webhooks`` are the adapters for aiohttp.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Final

import attrs

from ntrvsta_async import _json
from ntrvsta_async._checks import is_coroutine_callable, is_count, is_positive_number
from ntrvsta_async.assumptions import WEBHOOK_IDEMPOTENCY_HEADER
from ntrvsta_async.errors import ConfigurationError, WebhookVerificationError
from ntrvsta_async.inbox import ClaimState, Inbox, MemoryInbox, claim_settled
from ntrvsta_async.models import ResultCompletedEvent
from ntrvsta_async.webhooks.verifier import UnknownEvent, WebhookVerifier

if TYPE_CHECKING:
    from ntrvsta_async.webhooks.asgi import WebhookASGIApp

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "EventCallback",
    "WebhookReceiver",
    "WebhookReply",
]

logger = logging.getLogger("ntrvsta_async.webhooks")

EventCallback = Callable[[ResultCompletedEvent], Awaitable[object]]
"""The user's work for one verified, de-duplicated ``result.completed`` event."""

#: Seconds a result stays claimed by a running ``on_event`` before another delivery may retry it.
DEFAULT_CLAIM_TTL: Final = 300.0
#: Seconds shutdown waits for running ``on_event`` tasks before cancelling them.
DEFAULT_DRAIN_TIMEOUT: Final = 30.0
#: Seconds a delivery's whole body may take to arrive before the receiver answers 408.
DEFAULT_READ_TIMEOUT: Final = 10.0

_RECENT_DELIVERIES: Final = 4096
_REJECTION_STATUS: Final = {"payload_too_large": 413, "malformed_payload": 400}
_IDEMPOTENCY: Final = WEBHOOK_IDEMPOTENCY_HEADER.lower()


@attrs.frozen(slots=True)
class WebhookReply:
    """What to answer a delivery: an HTTP status and a small JSON object.

    ``close_connection`` is True when the body was not read to its end (too large, too
    slow): the adapter should then close the connection instead of reading the rest.
    """

    status: int
    body: Mapping[str, str]
    close_connection: bool = False

    def content(self) -> bytes:
        """``body`` encoded as JSON (UTF-8), for the response."""
        return _json.dumps(dict(self.body))


class WebhookReceiver:
    """Receives ``result.completed`` deliveries in any web framework, with one behaviour.

    Verifies each delivery with ``verifier`` (401 bad signature, 400 malformed body, 413 over
    ``max_body_size`` bytes, 408 body not received within ``read_timeout`` seconds, None: no
    limit), answers 200 at once for a verified event (a duplicate or an ``UnknownEvent``
    included; the latter never reaches ``on_event``), then runs ``on_event`` once per result
    in a tracked background task. De-duplication claims the result in ``inbox`` (default: a
    private ``MemoryInbox``; share a durable one with the ``ResultPoller``), keeps the claim
    while ``on_event`` runs, and marks the result done once it returned; a failed
    ``on_event`` is logged and its claim released so a redelivery or the poller retries it.
    When the inbox is down the answer is 503, so the sender redelivers later.

    ``await aclose()`` on shutdown waits for running ``on_event`` tasks.
    """

    def __init__(
        self,
        verifier: WebhookVerifier,
        on_event: EventCallback,
        *,
        inbox: Inbox | None = None,
        max_body_size: int | None = None,
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
    ) -> None:
        if not is_coroutine_callable(on_event):
            raise ConfigurationError("on_event must be a coroutine function (async def)")
        if read_timeout is not None and not is_positive_number(read_timeout):
            raise ConfigurationError("read_timeout must be a positive number of seconds, or None")
        if not is_positive_number(claim_ttl):
            raise ConfigurationError("claim_ttl must be a positive number of seconds")
        if max_body_size is not None and not is_count(max_body_size):
            raise ConfigurationError("max_body_size must be a positive integer (bytes), or None")
        self._verifier = verifier
        self._on_event = on_event
        self._inbox: Inbox = inbox if inbox is not None else MemoryInbox()
        self.max_body_size: int = (
            max_body_size if max_body_size is not None else verifier.max_body_size
        )
        self.read_timeout = read_timeout
        self.claim_ttl = claim_ttl
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    def __repr__(self) -> str:
        state = "closed" if self._closing else f"{len(self._tasks)} running"
        return f"WebhookReceiver({self._verifier!r}, {state})"

    @property
    def running(self) -> int:
        """How many ``on_event`` tasks are running now."""
        return len(self._tasks)

    def asgi_app(self) -> WebhookASGIApp:
        """An ASGI application answering deliveries at whatever path it is routed to.

        In FastAPI or Starlette: ``app.add_route("/webhooks", receiver.asgi_app(),
        methods=["POST"])``, and ``await receiver.aclose()`` in the app's lifespan.
        """
        from ntrvsta_async.webhooks.asgi import WebhookASGIApp

        return WebhookASGIApp(self)

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> WebhookReply:
        """Answer one delivery whose raw ``body`` was read in full; ``on_event`` runs after."""
        try:
            if len(body) > self.max_body_size:
                raise WebhookVerificationError(
                    f"body of {len(body)} bytes exceeds the {self.max_body_size} byte limit",
                    reason="payload_too_large",
                )
            event = self._verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            logger.warning("rejected a webhook delivery: %s (%s)", exc.reason, exc.message)
            return WebhookReply(_REJECTION_STATUS.get(exc.reason, 401), {"error": exc.reason})
        if isinstance(event, UnknownEvent):
            logger.info("ignored a verified delivery of unknown event %r", event.event)
            return WebhookReply(200, {"status": "ignored", "event": event.event})
        return await self._accept(event, _header(headers, _IDEMPOTENCY))

    async def handle_stream(
        self,
        chunks: AsyncIterable[bytes],
        headers: Mapping[str, str],
        *,
        content_length: int | None = None,
    ) -> WebhookReply:
        """Read the body from ``chunks`` as it arrives, then answer as ``handle`` does.

        For adapters: 413 as soon as ``content_length`` or the bytes read so far exceed
        ``max_body_size``, 408 when the body takes longer than ``read_timeout``, 400 when
        ``chunks`` raises ``ConnectionError`` (the sender hung up).
        """
        too_large = WebhookReply(413, {"error": "payload_too_large"}, close_connection=True)
        if content_length is not None and content_length > self.max_body_size:
            logger.warning("rejected a webhook delivery: payload_too_large (Content-Length)")
            return too_large
        try:
            async with asyncio.timeout(self.read_timeout):
                body = await _read_limited(chunks, self.max_body_size)
        except TimeoutError:
            logger.warning(
                "rejected a webhook delivery: read_timeout (body not received within %g s)",
                self.read_timeout,
            )
            return WebhookReply(408, {"error": "read_timeout"}, close_connection=True)
        except ConnectionError:
            logger.warning("rejected a webhook delivery: the sender hung up before its body ended")
            return WebhookReply(400, {"error": "connection_lost"}, close_connection=True)
        if body is None:
            logger.warning("rejected a webhook delivery: payload_too_large (streamed)")
            return too_large
        return await self.handle(body, headers)

    async def aclose(self, *, drain_timeout: float = DEFAULT_DRAIN_TIMEOUT) -> None:
        """Stop taking deliveries (503 from now on) and wait for running ``on_event`` tasks.

        Tasks still running after ``drain_timeout`` seconds are cancelled; their claims are
        released, so a redelivery or the poller handles those results. Safe to call twice.
        """
        self._closing = True
        tasks = set(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=drain_timeout)
        if pending:
            logger.warning("cancelling %d webhook task(s) still running at shutdown", len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _accept(
        self, event: ResultCompletedEvent, idempotency_key: str | None
    ) -> WebhookReply:
        key = event.key
        if self._closing:
            logger.warning("asked for a redelivery of result %s: shutting down", key)
            return WebhookReply(503, {"error": "shutting_down"})
        if idempotency_key and self._recent.get(idempotency_key) == key:
            return _accepted("duplicate", key)
        try:
            claim = await claim_settled(self._inbox, event.keys, self.claim_ttl)
        except Exception:
            logger.exception("inbox unavailable; asking for a redelivery of result %s", key)
            return WebhookReply(503, {"error": "inbox_unavailable"})
        if claim.state is ClaimState.DONE:
            self._remember(idempotency_key, key)
            return _accepted("duplicate", key)
        if claim.state is ClaimState.IN_PROGRESS or claim.token is None:
            return _accepted("in_progress", key)
        task = asyncio.get_running_loop().create_task(
            self._run(event, claim.token, idempotency_key), name=f"ntrvsta-webhook-{key}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return _accepted("accepted", key)

    async def _run(
        self, event: ResultCompletedEvent, token: str, idempotency_key: str | None
    ) -> None:
        key = event.key
        try:
            error = await self._inbox.run_claimed(
                event.keys, token, functools.partial(self._on_event, event), ttl=self.claim_ttl
            )
        except Exception:
            logger.exception("could not mark result %s done in the inbox", key)
            return
        if error is not None:
            logger.error("on_event failed for result %s; released for a retry", key, exc_info=error)
            return
        self._remember(idempotency_key, key)

    def _remember(self, idempotency_key: str | None, key: str) -> None:
        if idempotency_key:
            self._recent[idempotency_key] = key
            self._recent.move_to_end(idempotency_key)
            while len(self._recent) > _RECENT_DELIVERIES:
                self._recent.popitem(last=False)


def _accepted(status: str, key: str) -> WebhookReply:
    return WebhookReply(200, {"status": status, "resultId": key})


def _header(headers: Mapping[str, str], lowered_name: str) -> str | None:
    """The first value of a header, whatever the case of its name in ``headers``."""
    for name, value in headers.items():
        if isinstance(name, str) and name.lower() == lowered_name and isinstance(value, str):
            return value
    return None


async def _read_limited(chunks: AsyncIterable[bytes], limit: int) -> bytes | None:
    """The body from ``chunks``, or None as soon as it is known to exceed ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)

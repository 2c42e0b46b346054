"""Sending ``result.completed`` webhooks: signed, retried with back-off, faults applied.

Every delivery of one event (each retry, and a duplicate) carries the same body and the
same ``X-Ntrvsta-Idempotency-Key`` (the event id); each attempt is signed afresh with
``ntrvsta_async.webhooks.sign`` and the current time. Everything sent is recorded so
tests can look at it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import attrs

from ntrvsta_async._version import __version__
from ntrvsta_async.assumptions import (
    RESULT_COMPLETED_EVENT,
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
)
from ntrvsta_async.sandbox.faults import FaultInjector, WebhookFault
from ntrvsta_async.webhooks import sign

__all__ = [
    "DeliveredEvent",
    "DeliveryAttempt",
    "DeliveryStats",
    "WebhookDispatcher",
    "WebhookRetryPolicy",
]

logger = logging.getLogger("ntrvsta_async.sandbox")


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


@attrs.frozen
class WebhookRetryPolicy:
    """How failed deliveries are retried: up to ``max_attempts``, exponential back-off.

    The defaults are short so tests stay fast; the wait after attempt ``n`` is
    ``initial_delay * multiplier ** (n - 1)``, at most ``max_delay``.
    """

    max_attempts: int = attrs.field(default=5, validator=_positive)
    initial_delay: float = attrs.field(default=0.05, validator=_non_negative)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    max_delay: float = attrs.field(default=1.0, validator=_non_negative)
    timeout: float = attrs.field(default=10.0, validator=_positive)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1)))


@attrs.frozen
class DeliveryAttempt:
    """One HTTP attempt: which event, which copy (0, or 1 for a duplicate), what came back."""

    event_id: str
    result_id: str
    copy: int
    attempt: int
    status: int | None
    error: str | None
    headers: Mapping[str, str] = attrs.field(repr=False)

    @property
    def ok(self) -> bool:
        """True when the receiver answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@attrs.frozen
class DeliveredEvent:
    """A delivery the receiver accepted: the exact body and headers it got."""

    event_id: str
    result_id: str
    copy: int
    body: bytes = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(repr=False)

    @property
    def payload(self) -> dict[str, Any]:
        """The decoded JSON body."""
        data: dict[str, Any] = json.loads(self.body)
        return data


@attrs.frozen
class DeliveryStats:
    """Counters over every event the dispatcher was given."""

    events: int
    attempts: int
    failed_attempts: int
    delivered: int
    exhausted: int
    dropped: int
    duplicated: int
    delayed: int
    reordered: int


@attrs.frozen
class _Event:
    event_id: str
    result_id: str
    url: str
    secret: str = attrs.field(repr=False)
    body: bytes = attrs.field(repr=False)


class WebhookDispatcher:
    """Delivers events in background tasks; ``wait_idle()`` waits until all are settled."""

    def __init__(
        self,
        *,
        retry: WebhookRetryPolicy | None = None,
        faults: FaultInjector | None = None,
    ) -> None:
        self.retry = retry or WebhookRetryPolicy()
        self._faults = faults
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: asyncio.Event | None = None
        self._attempts: list[DeliveryAttempt] = []
        self._delivered: list[DeliveredEvent] = []
        self._dropped: list[str] = []
        self._exhausted: list[str] = []
        self._events = self._duplicated = self._delayed = self._reordered = 0

    # Observation

    @property
    def attempts(self) -> tuple[DeliveryAttempt, ...]:
        """Every HTTP attempt, in the order they finished."""
        return tuple(self._attempts)

    @property
    def delivered(self) -> tuple[DeliveredEvent, ...]:
        """Accepted deliveries in arrival order (a duplicate appears twice)."""
        return tuple(self._delivered)

    @property
    def dropped(self) -> tuple[str, ...]:
        """Event ids the fault plan dropped: never sent at all."""
        return tuple(self._dropped)

    @property
    def exhausted(self) -> tuple[str, ...]:
        """Event ids whose every attempt failed."""
        return tuple(self._exhausted)

    @property
    def pending(self) -> int:
        """Events still being delivered (or waiting to be)."""
        return len(self._tasks)

    @property
    def stats(self) -> DeliveryStats:
        """Counters of events, attempts and injected faults."""
        failed = sum(1 for attempt in self._attempts if not attempt.ok)
        return DeliveryStats(
            events=self._events,
            attempts=len(self._attempts),
            failed_attempts=failed,
            delivered=len(self._delivered),
            exhausted=len(self._exhausted),
            dropped=len(self._dropped),
            duplicated=self._duplicated,
            delayed=self._delayed,
            reordered=self._reordered,
        )

    # Lifecycle

    async def start(self) -> None:
        """Open the outbound HTTP session."""
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=self.retry.timeout)
            self._session = aiohttp.ClientSession(timeout=timeout)

    async def close(self) -> None:
        """Cancel deliveries still in flight and close the session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_idle(self) -> None:
        """Return once no delivery is pending (bound it with ``asyncio.timeout``)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    # Sending

    def submit(self, *, event_id: str, result_id: str, url: str, secret: str, body: bytes) -> None:
        """Queue one event for delivery, drawing its webhook fault now (in event order)."""
        if self._session is None:
            raise RuntimeError("the webhook dispatcher is not started")
        event = _Event(event_id=event_id, result_id=result_id, url=url, secret=secret, body=body)
        fault = self._faults.next_webhook() if self._faults is not None else WebhookFault()
        self._events += 1
        hold: asyncio.Event | None = None
        release: asyncio.Event | None = None
        if fault.reorder and not fault.drop and self._held is None:
            hold = self._held = asyncio.Event()
            self._reordered += 1
        else:
            release, self._held = self._held, None
        task = asyncio.create_task(self._run(event, fault, hold, release))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(
        self,
        event: _Event,
        fault: WebhookFault,
        hold: asyncio.Event | None,
        release: asyncio.Event | None,
    ) -> None:
        try:
            if fault.drop:
                self._dropped.append(event.event_id)
                logger.debug("webhook %s dropped by the fault plan", event.event_id)
                return
            if fault.delay:
                self._delayed += 1
                await asyncio.sleep(fault.delay)
            if hold is not None:
                window = self._faults.plan.webhooks.reorder_window if self._faults else 0.0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(hold.wait(), timeout=window)
                if self._held is hold:
                    self._held = None
            await self._deliver(event, copy=0, after_first_attempt=release)
            if fault.duplicate:
                self._duplicated += 1
                await self._deliver(event, copy=1)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("webhook %s: delivery task failed", event.event_id)
        finally:
            if release is not None:
                release.set()

    async def _deliver(
        self, event: _Event, *, copy: int, after_first_attempt: asyncio.Event | None = None
    ) -> bool:
        for attempt in range(1, self.retry.max_attempts + 1):
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"ntrvsta-sandbox/{__version__}",
                WEBHOOK_EVENT_HEADER: RESULT_COMPLETED_EVENT,
                WEBHOOK_IDEMPOTENCY_HEADER: event.event_id,
                **sign(event.body, event.secret, timestamp=int(time.time())),
            }
            status, error = await self._post(event, headers)
            record = DeliveryAttempt(
                event_id=event.event_id,
                result_id=event.result_id,
                copy=copy,
                attempt=attempt,
                status=status,
                error=error,
                headers=headers,
            )
            self._attempts.append(record)
            if after_first_attempt is not None:
                after_first_attempt.set()
            if record.ok:
                self._delivered.append(
                    DeliveredEvent(
                        event_id=event.event_id,
                        result_id=event.result_id,
                        copy=copy,
                        body=event.body,
                        headers=headers,
                    )
                )
                return True
            logger.debug(
                "webhook %s attempt %d failed (%s)", event.event_id, attempt, status or error
            )
            if attempt < self.retry.max_attempts:
                await asyncio.sleep(self.retry.backoff(attempt))
        self._exhausted.append(event.event_id)
        logger.warning(
            "webhook %s not delivered after %d attempts", event.event_id, self.retry.max_attempts
        )
        return False

    async def _post(
        self, event: _Event, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None]:
        assert self._session is not None
        try:
            async with self._session.post(
                event.url, data=event.body, headers=dict(headers), allow_redirects=False
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, type(exc).__name__

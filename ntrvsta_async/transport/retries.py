"""The retry policy (OP-11): which failures are retried, how long to wait, and when to stop."""

from __future__ import annotations

import asyncio
import email.utils
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from tenacity import RetryCallState

from .. import assumptions
from ..errors import APIConnectionError, APIStatusError

__all__ = ["RetryPolicy", "parse_http_date", "parse_retry_after"]

Sleep = Callable[[float], Awaitable[None]]


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative")


@attrs.frozen
class RetryPolicy:
    """How a client retries: exponential back-off with full jitter, honouring Retry-After.

    ``sleep`` is awaited between attempts; pass a fake to make tests instant. ``on_retry``
    hears of every retry (error and wait) before the sleep.
    """

    max_retries: int = attrs.field(default=assumptions.DEFAULT_MAX_RETRIES, validator=_non_negative)
    initial_backoff: float = attrs.field(default=0.5, validator=_non_negative)
    max_backoff: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(
        default=assumptions.DEFAULT_MAX_RETRY_AFTER, validator=_non_negative
    )
    retry_statuses: frozenset[int] = assumptions.RETRYABLE_STATUSES
    sleep: Sleep = attrs.field(default=asyncio.sleep, repr=False)
    random: Callable[[], float] = attrs.field(default=random.random, repr=False)
    on_retry: Callable[[BaseException, float], None] | None = attrs.field(default=None, repr=False)
    """Called before each retry with the error and the wait, for metrics or shared throttling."""

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1))
        return float(ceiling * self.random())

    def should_retry(self, exc: BaseException, *, safe: bool) -> bool:
        """Whether ``exc`` may be retried; ``safe`` says a repeat cannot duplicate anything."""
        if isinstance(exc, APIConnectionError):
            return safe or not exc.request_sent
        if isinstance(exc, APIStatusError):
            if not safe or exc.status not in self.retry_statuses:
                return False
            retry_after = parse_retry_after(exc.headers)
            return retry_after is None or retry_after <= self.max_retry_after
        return False

    def wait(self, state: RetryCallState) -> float:
        """Seconds to sleep before the next attempt: Retry-After when given, else back-off."""
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, APIStatusError):
            retry_after = parse_retry_after(exc.headers)
            if retry_after is not None:
                return retry_after
        return self.backoff(state.attempt_number)


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (``Date``, ``Retry-After``) as an aware datetime; None when absent or bad."""
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, from delta-seconds or an HTTP date; None when absent or bad."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        when = parse_http_date(value)
        if when is None:
            return None
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        return None
    return max(0.0, seconds)

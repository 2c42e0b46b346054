"""The retry policy (OP-11): which failures are retried, how long to wait, and when to stop."""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import attrs
from tenacity import RetryCallState

from ntrvsta_async import assumptions
from ntrvsta_async._checks import is_count
from ntrvsta_async.errors import APIConnectionError, APIStatusError, ConfigurationError

__all__ = ["RetryPolicy", "parse_http_date", "parse_retry_after"]

Sleep = Callable[[float], Awaitable[None]]


# A wrong RetryPolicy field is a wrong setting: each validator raises ConfigurationError.


def _retries(_: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if not is_count(value, minimum=0):
        raise ConfigurationError(f"{attribute.name} must be a non-negative integer")


def _seconds(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not (is_count(value, minimum=0) or (isinstance(value, float) and 0 <= value < math.inf)):
        raise ConfigurationError(f"{attribute.name} must be a non-negative number of seconds")


def _statuses(value: Iterable[int]) -> frozenset[int]:
    message = "retry_statuses must be a set of HTTP status codes"
    try:
        statuses = frozenset(value)
    except TypeError:
        raise ConfigurationError(message) from None
    if not all(is_count(status, minimum=100) and status < 600 for status in statuses):
        raise ConfigurationError(message)
    return statuses


def _callable(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not callable(value):
        raise ConfigurationError(f"{attribute.name} must be callable")


@attrs.frozen
class RetryPolicy:
    """How a client retries: exponential back-off with full jitter, honouring Retry-After.

    ``sleep`` is awaited between attempts; pass a fake to make tests instant. ``on_retry``
    hears of every retry (error and wait) before the sleep.
    """

    max_retries: int = attrs.field(default=assumptions.DEFAULT_MAX_RETRIES, validator=_retries)
    initial_backoff: float = attrs.field(default=0.5, validator=_seconds)
    max_backoff: float = attrs.field(default=8.0, validator=_seconds)
    max_retry_after: float = attrs.field(
        default=assumptions.DEFAULT_MAX_RETRY_AFTER, validator=_seconds
    )
    retry_statuses: frozenset[int] = attrs.field(
        default=assumptions.RETRYABLE_STATUSES, converter=_statuses
    )
    sleep: Sleep = attrs.field(default=asyncio.sleep, repr=False, validator=_callable)
    random: Callable[[], float] = attrs.field(
        default=random.random, repr=False, validator=_callable
    )
    on_retry: Callable[[BaseException, float], None] | None = attrs.field(
        default=None, repr=False, validator=attrs.validators.optional(_callable)
    )
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

"""Seeded fault plans: how often the sandbox fails each route and each webhook delivery.

A ``FaultPlan`` is plain configuration. A ``FaultInjector`` turns it into decisions, one
per request or event, drawn from a ``random.Random`` per stream (one per route, one for
webhooks), so the same seed gives the same sequence of faults on every run.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

import attrs

__all__ = [
    "ROUTES",
    "FaultInjector",
    "FaultPlan",
    "RequestFault",
    "RouteFaults",
    "WebhookFault",
    "WebhookFaults",
]

#: Route names a plan can configure, one per ``/v1`` operation.
ROUTES: Final = ("templates", "invitations", "results")


def _rate(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be between 0 and 1, got {value!r}")


def _non_negative(_: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value!r}")


def _rate_field() -> Any:
    return attrs.field(default=0.0, converter=float, validator=_rate)


def _seconds_field(default: float) -> Any:
    return attrs.field(default=default, converter=float, validator=_non_negative)


@attrs.frozen
class RouteFaults:
    """How one API route misbehaves: error and reset rates (at most one per request), latency.

    ``retry_after`` is the whole-second ``Retry-After`` value sent with a 429 (None: no header).
    """

    rate_429: float = _rate_field()
    rate_500: float = _rate_field()
    rate_502: float = _rate_field()
    rate_503: float = _rate_field()
    reset_rate: float = _rate_field()
    retry_after: int | None = 1
    latency: float = _seconds_field(0.0)
    latency_jitter: float = _seconds_field(0.0)

    def __attrs_post_init__(self) -> None:
        if sum(rate for _, rate in self._outcomes()) > 1.0 + 1e-9:
            raise ValueError("the error and reset rates of one route add up to more than 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")

    def _outcomes(self) -> tuple[tuple[int | None, float], ...]:
        return (
            (429, self.rate_429),
            (500, self.rate_500),
            (502, self.rate_502),
            (503, self.rate_503),
            (None, self.reset_rate),
        )


@attrs.frozen
class WebhookFaults:
    """How deliveries of ``result.completed`` misbehave, each rate drawn once per event.

    Dropped events are never sent; duplicated ones are sent twice; delayed ones wait
    ``delay`` seconds; a reordered one is held back until the next event has been sent
    (or ``reorder_window`` seconds pass).
    """

    drop_rate: float = _rate_field()
    duplicate_rate: float = _rate_field()
    delay_rate: float = _rate_field()
    reorder_rate: float = _rate_field()
    delay: float = _seconds_field(0.2)
    reorder_window: float = _seconds_field(1.0)


def _freeze_routes(value: Mapping[str, RouteFaults]) -> Mapping[str, RouteFaults]:
    unknown = sorted(set(value) - set(ROUTES))
    if unknown:
        raise ValueError(f"unknown route(s) {unknown}; known routes are {list(ROUTES)}")
    return MappingProxyType(dict(value))


@attrs.frozen
class FaultPlan:
    """Everything that should go wrong in a sandbox run, reproducible from ``seed``.

    ``default`` applies to every route not named in ``routes`` (keys from ``ROUTES``).
    """

    seed: int = 0
    default: RouteFaults = attrs.field(factory=RouteFaults)
    routes: Mapping[str, RouteFaults] = attrs.field(
        factory=dict, converter=_freeze_routes, hash=False
    )
    webhooks: WebhookFaults = attrs.field(factory=WebhookFaults)

    def for_route(self, route: str) -> RouteFaults:
        """The faults configured for ``route`` (its own entry, else ``default``)."""
        return self.routes.get(route, self.default)


@attrs.frozen
class RequestFault:
    """What to do to one API request: wait ``delay``, then answer ``status`` or reset, or serve."""

    delay: float = 0.0
    status: int | None = None
    reset: bool = False
    retry_after: int | None = None

    @property
    def kind(self) -> str:
        """A short label: ``"ok"``, ``"reset"`` or the status code as text."""
        if self.reset:
            return "reset"
        return "ok" if self.status is None else str(self.status)


@attrs.frozen
class WebhookFault:
    """What to do to one event's delivery."""

    drop: bool = False
    duplicate: bool = False
    delay: float = 0.0
    reorder: bool = False


class FaultInjector:
    """Draws the faults of a ``FaultPlan``: one seeded random stream per route and for webhooks."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._streams: dict[str, random.Random] = {}

    def _stream(self, name: str) -> random.Random:
        stream = self._streams.get(name)
        if stream is None:
            # A string seed hashes with SHA-512, so it is stable across processes.
            stream = random.Random(f"ntrvsta-sandbox:{self.plan.seed}:{name}")  # noqa: S311
            self._streams[name] = stream
        return stream

    def next_request(self, route: str) -> RequestFault:
        """The fault for the next request to ``route``."""
        faults = self.plan.for_route(route)
        stream = self._stream(f"route:{route}")
        draw, jitter = stream.random(), stream.random()
        delay = faults.latency + faults.latency_jitter * jitter
        threshold = 0.0
        for status, rate in faults._outcomes():
            threshold += rate
            if draw < threshold:
                if status is None:
                    return RequestFault(delay=delay, reset=True)
                retry_after = faults.retry_after if status == 429 else None
                return RequestFault(delay=delay, status=status, retry_after=retry_after)
        return RequestFault(delay=delay)

    def next_webhook(self) -> WebhookFault:
        """The fault for the next ``result.completed`` event."""
        faults = self.plan.webhooks
        stream = self._stream("webhooks")
        drop, duplicate, delay, reorder = (stream.random() for _ in range(4))
        if drop < faults.drop_rate:
            return WebhookFault(drop=True)
        return WebhookFault(
            duplicate=duplicate < faults.duplicate_rate,
            delay=faults.delay if delay < faults.delay_rate else 0.0,
            reorder=reorder < faults.reorder_rate,
        )

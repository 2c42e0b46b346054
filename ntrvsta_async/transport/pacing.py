"""Client-side pacing: one rate controller per client learns the rate the server admits.

The anchors, and where this controller departs from them for a bulk job against an API
that publishes no quota (docs/contract.md#op-11):

- The AWS SDKs' ``adaptive`` retry mode paces sends through a client-side token bucket
  whose rate follows CUBIC: multiplicative decrease (x0.7) from the measured sending rate on
  a throttle, then a cubic climb back to, and past, the rate of the last throttle. We keep
  that shape (same decrease, same cap of twice the measured rate) but scale the cubic to
  the rate itself, so a quota of 50 or 1,000 req/s is climbed back in the same two seconds,
  and a quota that rises eightfold is reached within about eight seconds.
- Google SRE's client-side adaptive throttling drops requests locally with probability
  ``(requests - K * accepts) / (requests + 1)``; gRPC's retry throttling stops retries while
  a token count (success +ratio, failure -1) is below half. Both shed work, which is right
  for a serving path and wrong for a bulk job that must finish every item: here nothing is
  refused locally, requests wait their turn.
- Unlike all three, the server's own figures are used when it sends them: the quota of
  ``RateLimit-Policy`` (IETF httpapi draft, ``q``/``w`` or ``limit;w=``) caps and seeds the
  rate; an exhausted ``RateLimit`` / ``RateLimit-Remaining`` / ``X-RateLimit-Remaining``
  (0) holds every request until its reset, as does a ``Retry-After`` long enough to mean a
  spent window. A short ``Retry-After`` is left to the refused request alone (the retry
  policy waits it): a token bucket refills continuously, and holding every worker for it
  and then releasing them together is what kept today's fan-out at a quarter of its quota.
- Waiting requests are released one by one at the pace (a bucket of small burst), never
  all at once after a pause; a decrease re-times requests already waiting.
- A 429 with ``Retry-After: 0`` is no signal: the server asks for the request again at
  once, which is how random refusals (load shedding, injected faults) look; a quota
  names a wait. Unless such refusals are most answers: a quota whose waits, under a
  second, are rounded down to 0 looks so, and is then followed until throttling ends.

Until the first 429, ``"adaptive"`` costs one attribute check per request and a counter
per response; ``None`` turns it off; a number paces from the start and never exceeds it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Final, Literal

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.transport.retries import parse_retry_after

__all__ = ["RateControl", "RateController", "shown_rate"]

RateControl = Literal["adaptive"] | float | None
"""What ``rate_limit`` takes: ``"adaptive"``, a ceiling in requests per second, or None."""

logger = logging.getLogger("ntrvsta_async.pacing")

_BETA: Final = 0.8
"""Multiplicative decrease on a throttle (the AWS adaptive mode's value)."""
_RETURN: Final = 1.5
"""Seconds the cubic takes to climb back to the rate of the last throttle."""
_CUBIC: Final = (1 - _BETA) / _RETURN**3
_WINDOW: Final = 1.0
"""Seconds over which the sending rate is measured."""
_BURST: Final = 0.01
"""Seconds' worth of requests that may leave together: the bucket's small burst."""
_FLOOR: Final = 0.5
"""The lowest pace, in requests per second."""
_START: Final = 20.0
"""The first pace when neither the headers nor the traffic so far tell a better one."""
_QUIET: Final = 10.0
"""Seconds without a 429 after which throttling is over."""
_SPENT_WINDOW: Final = 5.0
"""A Retry-After at least this long means the quota's window is spent: everyone waits."""
_MAX_HOLD: Final = 60.0
_EPOCH_SECONDS: Final = 1e9
"""A reset value above this is a Unix time, not a number of seconds."""
_MARK_EVERY: Final = 16
_SAMPLE: Final = 50
"""Answers over which the share of 429s asking for no wait is averaged."""
_NO_WAIT_MOST: Final = 0.6
"""The share of answers (a moving average over about ``_SAMPLE``) that are 429s asking for no
wait above which they are taken for throttling after all."""


class RateController:
    """Paces every request of a client (and of its ``with_options`` copies).

    ``await acquire()`` before each attempt waits for its turn and returns the time it was
    released; ``observe(status, headers, sent)`` after each response feeds the controller.
    ``clock`` (seconds, monotonic), ``wall`` (Unix seconds) and ``sleep`` can be replaced
    for deterministic tests.
    """

    # Not aiolimiter: its rate is fixed at construction and it is no core dependency, while
    # this bucket's rate changes on every throttle and every client paces through it.

    def __init__(
        self,
        rate_limit: RateControl = "adaptive",
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_limit not in (None, "adaptive") and (
            not is_positive_number(rate_limit) or math.isinf(rate_limit)
        ):
            raise ConfigurationError(
                "rate_limit must be 'adaptive', a positive number of requests per second,"
                f" or None; got {rate_limit!r}"
            )
        self._clock = clock
        self._wall = wall
        self._sleep = sleep
        self.enabled = rate_limit is not None
        """False when pacing is off (``rate_limit=None``)."""
        self.ceiling = None if rate_limit in (None, "adaptive") else float(rate_limit)
        """The pinned ceiling in requests per second, or None."""
        self.active = self.ceiling is not None
        """True while requests are paced; False costs nothing but this check."""
        self._rate = self.ceiling or 0.0
        self._policy: float | None = None
        self._w_max = self._rate
        self._cut_at = -math.inf
        self._resumed: float | None = None
        self._tat = 0.0
        self._epoch = 0
        self._sent: deque[float] = deque()
        self._admitted: deque[float] = deque()
        self._no_waits = 0.0
        """The share of recent answers that were 429s asking for no wait (a moving average)."""
        self._no_wait_throttles = False
        """True once those were most answers, until throttling ends."""
        self._since = clock()
        self._seen = 0
        self._marks: deque[tuple[float, int]] = deque(maxlen=8)
        self._throttled_at: float | None = None
        self._last_429 = -math.inf
        self._refused = 0
        self._paced = 0

    @property
    def pace(self) -> float | None:
        """The current pace in requests per second, or None while requests are not paced."""
        return self._rate if self.active else None

    @property
    def throttled(self) -> bool:
        """True from the server's first 429 until it has sent none for a while."""
        return self._throttled_at is not None

    async def acquire(self) -> float:
        """Wait for this request's turn at the current pace; the clock time it was released."""
        while True:
            now = self._clock()
            if not self.active:
                return now
            epoch = self._epoch
            at = self._reserve(now)
            if at > now:
                await self._sleep(at - now)
                if epoch != self._epoch:
                    continue  # the pace was cut or held meanwhile: take a new turn
                now = self._clock()
            self._stamp(self._sent, now)
            if self._resumed is None:
                self._resumed = now
            self._paced += self._throttled_at is not None
            return now

    def observe(self, status: int, headers: Mapping[str, str], sent: float) -> None:
        """Learn from one response; ``sent`` is what ``acquire`` returned (0.0 if unpaced).

        A 429 with ``Retry-After: 0`` teaches nothing: the server asks for the request again
        at once, so the refusal is not tied to the rate (a shed request, a fault injected at
        random); slowing everyone down for it would only lose throughput. When such 429s are
        most answers, they are a quota's after all, and count until throttling ends.
        """
        if not self.enabled:
            return
        no_wait = status == 429 and parse_retry_after(headers) == 0.0
        self._no_waits += (no_wait - self._no_waits) / _SAMPLE
        if no_wait and not self._no_wait_throttles:
            if self._no_waits <= _NO_WAIT_MOST:
                return
            self._no_wait_throttles = True  # most answers: a quota rounding its waits down
        if not self.active and status != 429:
            seen = self._seen = self._seen + 1
            if not seen % _MARK_EVERY:
                self._marks.append((self._clock(), seen))
            return
        now = self._clock()
        policy = _policy_rate(headers)
        if policy is not None:
            self._policy = policy
        if status == 429:
            self._refused += 1
            self._last_429 = now
            if self._throttled_at is None:
                self._start(now)
            elif sent >= self._cut_at:
                self._cut(now)
        else:
            self._stamp(self._admitted, now)
            self._grow(now)
        if self.active:
            self._apply_headers(now, status, headers, policy)

    def _reserve(self, now: float) -> float:
        """The release time of the next request (GCRA): spaced at the pace, small burst."""
        interval = 1.0 / self._rate
        tat = self._tat if self._tat > now else now
        self._tat = tat + interval
        earliest = tat - max(0.0, _BURST - interval)
        return earliest if earliest > now else now

    @staticmethod
    def _stamp(stamps: deque[float], now: float) -> None:
        """Add ``now`` to ``stamps``, dropping those past ``_WINDOW``: a long run paced at a
        ceiling, never cut, keeps one window's worth, not one stamp per request."""
        while stamps and stamps[0] < now - _WINDOW:
            stamps.popleft()
        stamps.append(now)

    @staticmethod
    def _per_second(stamps: deque[float], now: float, since: float) -> float | None:
        """Events per second over the last ``_WINDOW``, for ``stamps`` kept only from ``since``
        on; None when that is under 0.2 s."""
        while stamps and stamps[0] < now - _WINDOW:
            stamps.popleft()
        span = min(_WINDOW, now - since)
        return len(stamps) / span if span >= 0.2 else None

    def _idle_rate(self, now: float) -> float | None:
        """The admitted rate before pacing began, from the response counter's marks."""
        recent = [(t, n) for t, n in self._marks if t >= now - _WINDOW]
        if recent:
            t0, n0 = recent[0]
        elif self._seen and now - self._since <= _WINDOW:
            t0, n0 = self._since, 0
        else:
            return None
        return (self._seen - n0) / max(now - t0, _BURST)

    def _start(self, now: float) -> None:
        self._throttled_at = now
        self._refused, self._paced = 1, 0
        if not self.active:
            self.active = True
            self._since = now
            self._sent.clear()
            self._admitted.clear()
            self._rate = self._idle_rate(now) or _START
        if self._policy is None:
            self._cut(now)
        else:  # the server said what it admits: pace at that, without a decrease
            self._set(self._policy)
            self._w_max, self._cut_at = self._rate, now
            self._epoch += 1
        logger.info("server throttling: pacing at ~%s req/s", shown_rate(self._rate))

    def _cut(self, now: float) -> None:
        """Multiplicative decrease from the pace or, lower, the rate admitted since sending
        resumed after the last cut (about the quota when the pace was above it), by at most
        three quarters. Counting from the resumption, not the cut, keeps a pause (everyone
        waiting out a Retry-After) from passing for a low quota."""
        base = self._rate
        since = max(self._cut_at, self._since, now if self._resumed is None else self._resumed)
        admitted = self._per_second(self._admitted, now, since)
        if admitted is not None:
            base = min(base, max(admitted, base / 4))
        self._admitted.clear()
        self._w_max = max(base, _FLOOR)
        self._set(max(base * _BETA, _FLOOR))
        self._cut_at = now
        self._resumed = None
        self._hold(now)

    def _grow(self, now: float) -> None:
        """The cubic climb after a cut, never above twice the measured sending rate."""
        if not self.active or (self.ceiling is not None and self._throttled_at is None):
            return
        measured = self._per_second(self._sent, now, self._since)
        if measured is not None and 2 * measured < self._rate and now - self._last_429 >= _QUIET:
            self._end(now)  # no 429 for a while, and the pace holds nobody back
            return
        elapsed = now - self._cut_at - _RETURN
        target = self._w_max * (1 + _CUBIC * elapsed * elapsed * elapsed)
        if target <= self._rate:
            return
        if measured is not None and target > 2 * measured:
            target = max(self._rate, 2 * measured)
        self._set(target)

    def _set(self, rate: float) -> None:
        for cap in (self.ceiling, self._policy):
            if cap is not None and rate > cap:
                rate = cap
        self._rate = rate

    def _end(self, now: float) -> None:
        assert self._throttled_at is not None
        logger.info(
            "server throttling over after %.0f s: %d requests paced, %d answered 429;"
            " last pace ~%s req/s",
            now - self._throttled_at,
            self._paced,
            self._refused,
            shown_rate(self._rate),
        )
        self._throttled_at = None
        self._no_wait_throttles = False
        if self.ceiling is None:
            self.active = False
            self._marks.clear()
            self._seen = 0
        else:
            self._rate = self.ceiling

    def _apply_headers(
        self, now: float, status: int, headers: Mapping[str, str], policy: float | None
    ) -> None:
        """Cap the pace at a published quota; hold everyone while the quota is spent."""
        if policy is not None:
            if self._throttled_at is None and self.ceiling is not None:
                self._rate = min(self.ceiling, policy)
            elif self._rate > policy:
                self._rate = policy
        hold = _spent_for(headers, self._wall)
        if status == 429:
            retry_after = parse_retry_after(headers)
            if retry_after is not None and (hold is not None or retry_after >= _SPENT_WINDOW):
                hold = max(hold or 0.0, retry_after)
        if hold and now + hold > self._tat:
            until = now + min(hold, _MAX_HOLD)
            self._hold(until)
            self._last_429 = max(self._last_429, until)  # quiet is counted from the reset

    def _hold(self, until: float) -> None:
        """Release nothing before ``until``, then one at a time at the pace: no burst, and
        requests already waiting take new turns."""
        interval = 1.0 / self._rate
        self._tat = until + interval + max(0.0, _BURST - interval)
        self._epoch += 1


def shown_rate(rate: float) -> str:
    """A pace as it is shown in log lines and progress: whole requests per second, one
    decimal below 10."""
    return f"{rate:.0f}" if rate >= 10 else f"{rate:.1f}"


def _items(value: str) -> list[tuple[str, dict[str, str]]]:
    """A structured-field list (``a;k=v, b;k=v``) as (first member, parameters) pairs."""
    items = []
    for item in value.split(","):
        first, *params = item.split(";")
        parsed = {}
        for param in params:
            key, _, val = param.partition("=")
            parsed[key.strip().lower()] = val.strip().strip('"')
        items.append((first.strip().strip('"'), parsed))
    return items


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value
    return None


def _policy_rate(headers: Mapping[str, str]) -> float | None:
    """The tightest published quota in requests per second: ``q`` (or a bare limit) / ``w``."""
    value = _header(headers, "RateLimit-Policy", "ratelimit-policy")
    if value is None:
        return None
    rates = []
    for first, params in _items(value):
        quota = _number(params.get("q", first))
        window = _number(params.get("w"))
        if quota is not None and window and math.isfinite(quota / window):
            rates.append(max(quota / window, _FLOOR))
    return min(rates) if rates else None


def _spent_for(headers: Mapping[str, str], wall: Callable[[], float]) -> float | None:
    """Seconds until the quota resets when the server says none is left, else None."""
    remaining = reset = None
    combined = _header(headers, "RateLimit", "ratelimit")
    if combined is not None:
        for _, params in _items(combined):
            r, t = _number(params.get("r")), _number(params.get("t"))
            if r is not None and (remaining is None or r < remaining):
                remaining, reset = r, t
    if remaining is None:
        remaining = _number(_header(headers, "RateLimit-Remaining", "X-RateLimit-Remaining"))
        reset = _number(_header(headers, "RateLimit-Reset", "X-RateLimit-Reset"))
    if remaining is None or remaining >= 1 or reset is None:
        return None
    if reset > _EPOCH_SECONDS:
        reset = max(0.0, reset - wall())
    return reset

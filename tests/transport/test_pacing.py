"""Client-side pacing (SDK.md "Client", ``rate_limit``): off until a 429, then learned, shared."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
import tracemalloc
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from hypothesis import given
from hypothesis import strategies as st

from ntrvsta_async import (
    Candidate,
    ConfigurationError,
    InvitationRequest,
    NtrvstaClient,
    RateLimitError,
    RetryPolicy,
)
from ntrvsta_async.reconcile import MemoryInbox, ResultPoller
from ntrvsta_async.transport import RateController
from tests.conftest import API_KEY, BASE, RecordingSleep, serve

RESULTS = f"{BASE}/v1/interview-results"
OK: Mapping[str, str] = {}
THROTTLED = {"Retry-After": "1"}


class FakeTime:
    """A clock that only moves when the controller sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def controller(rate_limit: Any = "adaptive") -> tuple[RateController, FakeTime]:
    fake = FakeTime()
    return RateController(rate_limit, clock=fake.clock, wall=lambda: 0.0, sleep=fake.sleep), fake


async def releases(
    pacer: RateController, fake: FakeTime, count: int, *, think: float = 0.0
) -> list[float]:
    """The clock times at which ``count`` requests are released, ``think`` s apart at least."""
    out = []
    for _ in range(count):
        sent = await pacer.acquire()
        assert sent == fake.now
        out.append(sent)
        pacer.observe(201, OK, sent)
        fake.now += think
    return out


async def test_adaptive_paces_nothing_until_the_first_429(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pacer, fake = controller()
    assert pacer.pace is None
    for _ in range(100):
        pacer.observe(201, OK, await pacer.acquire())
    assert fake.sleeps == []
    assert pacer.pace is None
    with caplog.at_level(logging.INFO, logger="ntrvsta_async.pacing"):
        pacer.observe(429, THROTTLED, 0.0)
    assert pacer.pace is not None
    assert pacer.throttled
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("server throttling: pacing at ~")


async def test_waiting_requests_leave_at_the_pace_never_in_a_burst() -> None:
    pacer, _fake = controller()
    pacer.observe(429, THROTTLED, 0.0)
    previous = await pacer.acquire()
    for _ in range(40):
        sent = await pacer.acquire()
        pacer.observe(201, OK, sent)
        pace = pacer.pace
        assert pace is not None
        # Never two requests closer than the pace allows, whatever it climbed to.
        assert sent - previous >= 1 / pace - 1e-9
        previous = sent


async def test_a_429_cuts_the_pace_and_requests_waiting_take_new_turns() -> None:
    pacer, fake = controller(100.0)
    assert pacer.pace == 100.0
    await releases(pacer, fake, 10)
    sent = await pacer.acquire()
    pacer.observe(429, THROTTLED, sent)
    assert pacer.pace == pytest.approx(80.0)
    times = await releases(pacer, fake, 5)
    assert times[0] - sent >= 1 / 80.0
    assert all(
        b - a == pytest.approx(1 / pacer.pace, rel=0.05) for a, b in itertools.pairwise(times)
    )


async def test_a_pause_before_the_next_429_does_not_pass_for_a_low_quota() -> None:
    pacer, fake = controller(400.0)
    await releases(pacer, fake, 10)
    pacer.observe(429, THROTTLED, await pacer.acquire())
    assert pacer.pace == pytest.approx(320.0)
    fake.now += 1.0  # everyone waits out a Retry-After: nothing sent, nothing admitted
    sent = await pacer.acquire()
    pacer.observe(429, THROTTLED, sent)
    # Nothing was sent in that second: it says nothing of the quota, so the cut is x0.8,
    # not the quarter that "nothing admitted in a second" would mean.
    assert pacer.pace == pytest.approx(256.0)


async def test_a_429_asking_for_no_wait_does_not_slow_anyone_down() -> None:
    pacer, fake = controller()
    for _ in range(50):
        pacer.observe(201, OK, await pacer.acquire())
        pacer.observe(429, {"Retry-After": "0"}, await pacer.acquire())
    assert pacer.pace is None
    assert not pacer.throttled
    assert fake.sleeps == []
    pacer.observe(429, THROTTLED, await pacer.acquire())
    assert pacer.throttled


class Bucket:
    """A token bucket on the fake clock: ``rate`` a second, ``burst`` at once."""

    def __init__(self, fake: FakeTime, rate: float, burst: float = 5.0) -> None:
        self.fake, self.rate, self.burst = fake, rate, burst
        self.tokens, self.stamp = burst, fake.now

    def answer(self) -> int:
        now = self.fake.now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 201
        return 429


async def test_a_quota_that_asks_for_no_wait_but_refuses_most_requests_is_followed() -> None:
    pacer, fake = controller()
    bucket = Bucket(fake, rate=50.0)
    answers = []
    for _ in range(3000):  # its waits, under a second, rounded down to 0
        sent = await pacer.acquire()
        fake.now += 0.0005
        answers.append(bucket.answer())
        pacer.observe(answers[-1], {"Retry-After": "0"}, sent)
    late = answers[-500:]
    assert late.count(429) / len(late) < 0.2, "kept sending at once into a spent quota"
    pace = pacer.pace
    assert pace is not None
    assert pace < 60


async def test_a_number_pins_a_ceiling_the_pace_never_exceeds() -> None:
    pacer, fake = controller(10)
    assert pacer.pace == 10.0
    times = await releases(pacer, fake, 21)
    assert times[-1] - times[0] == pytest.approx(2.0)
    pacer.observe(429, THROTTLED, times[-1])
    assert pacer.pace is not None
    assert pacer.pace < 10.0
    await releases(pacer, fake, 200)
    assert pacer.pace == 10.0


async def test_a_long_run_at_a_pinned_ceiling_keeps_a_bounded_memory() -> None:
    pacer, fake = controller(1000.0)  # as create_many(rate_limit=) paces a long run
    tracemalloc.start()
    try:
        await releases(pacer, fake, 3000)  # a full second's worth of stamps and more
        fake.sleeps.clear()  # the fake clock's own record
        before = tracemalloc.take_snapshot()
        await releases(pacer, fake, 7000)
        fake.sleeps.clear()  # the fake clock's own record
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    only = [tracemalloc.Filter(True, inspect.getsourcefile(RateController) or "?")]
    grown = sum(
        stat.size_diff
        for stat in after.filter_traces(only).compare_to(before.filter_traces(only), "filename")
    )
    assert grown < 32_000, f"{grown} bytes kept for 7,000 more requests"
    assert pacer.pace == 1000.0


async def test_the_pace_climbs_back_after_a_cut_and_throttling_ends_when_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pacer, fake = controller()
    for _ in range(64):
        pacer.observe(201, OK, 0.0)
        fake.now += 0.005  # 200 responses a second before the first 429
    pacer.observe(429, THROTTLED, 0.0)
    first = pacer.pace
    assert first is not None
    assert 100 <= first <= 200
    await releases(pacer, fake, 400)
    assert (pacer.pace or 0.0) > first, "climbed back while in use"
    with caplog.at_level(logging.INFO, logger="ntrvsta_async.pacing"):
        await releases(pacer, fake, 150, think=0.1)
    assert pacer.pace is None, "no 429 for a while and the pace holds nobody back"
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith("server throttling over after ")
    assert "answered 429" in line


@pytest.mark.parametrize(
    ("headers", "pace"),
    [
        ({"RateLimit-Policy": '"default";q=100;w=10', **THROTTLED}, 10.0),
        ({"RateLimit-Policy": "60;w=60, 1000;w=3600", **THROTTLED}, 0.5),
        ({"RateLimit-Policy": '"burst";q=100;w=1, "day";q=86400;w=86400'}, 1.0),
    ],
)
async def test_a_published_quota_seeds_and_caps_the_pace(
    headers: dict[str, str], pace: float
) -> None:
    pacer, fake = controller()
    pacer.observe(429, headers, 0.0)
    assert pacer.pace == pytest.approx(pace)
    await releases(pacer, fake, 50)
    assert pacer.pace == pytest.approx(pace)


@pytest.mark.parametrize(
    ("headers", "hold"),
    [
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "3", **THROTTLED}, 3.0),
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "2"}, 2.0),
        ({"RateLimit": '"default";r=0;t=4'}, 4.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000007"}, 7.0),
        ({"Retry-After": "30"}, 30.0),
    ],
)
async def test_a_spent_quota_holds_every_request_until_it_resets(
    headers: dict[str, str], hold: float
) -> None:
    fake = FakeTime()
    pacer = RateController(clock=fake.clock, wall=lambda: 1700000000.0, sleep=fake.sleep)
    pacer.observe(429, THROTTLED, 0.0)
    await releases(pacer, fake, 3)
    held_at = fake.now
    pacer.observe(429 if "Retry-After" in headers else 200, headers, fake.now)
    first, second = await releases(pacer, fake, 2)
    assert first - held_at >= hold
    assert second - first == pytest.approx(1 / (pacer.pace or 1), rel=0.1), "no burst after"


async def test_a_short_retry_after_is_left_to_the_refused_request() -> None:
    pacer, fake = controller()
    pacer.observe(429, THROTTLED, 0.0)
    (first,) = await releases(pacer, fake, 1)
    pacer.observe(429, THROTTLED, first)
    (second,) = await releases(pacer, fake, 1)
    assert second - first < 1.0


async def test_none_turns_pacing_off() -> None:
    pacer, fake = controller(None)
    for _ in range(5):
        pacer.observe(429, THROTTLED, await pacer.acquire())
    assert pacer.pace is None
    assert fake.sleeps == []


@pytest.mark.parametrize("value", ["fast", "5", True, 0, -1, float("nan"), float("inf"), [1]])
def test_a_wrong_rate_limit_is_refused(value: object) -> None:
    with pytest.raises(ConfigurationError, match="rate_limit"):
        NtrvstaClient(api_key=API_KEY, base_url=BASE, rate_limit=value)  # type: ignore[arg-type]


HEADER_NAMES = [
    "RateLimit-Policy",
    "RateLimit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "Retry-After",
]


@given(st.dictionaries(st.sampled_from(HEADER_NAMES), st.text(max_size=40)))
def test_any_header_values_leave_a_positive_finite_pace(headers: dict[str, str]) -> None:
    fake = FakeTime()
    pacer = RateController(clock=fake.clock, wall=lambda: 0.0, sleep=fake.sleep)
    pacer.observe(429, THROTTLED, 0.0)  # pacing, so that the headers below can move it
    pacer.observe(429, headers, fake.now)
    pacer.observe(200, headers, fake.now)
    pace = pacer.pace
    assert pace is not None
    assert 0 < pace < float("inf")


async def test_a_published_quota_too_large_for_a_float_is_no_quota() -> None:
    pacer, fake = controller()
    pacer.observe(429, {"RateLimit-Policy": "1e308;w=1e-10", **THROTTLED}, 0.0)
    pace = pacer.pace
    assert pace is not None
    assert 0 < pace < float("inf")
    bucket = Bucket(fake, rate=50.0)
    for _ in range(1500):  # a real quota of 50 a second is still followed
        sent = await pacer.acquire()
        fake.now += 0.0005
        pacer.observe(bucket.answer(), THROTTLED, sent)
    assert (pacer.pace or 0.0) < 60


NUMBERS = st.one_of(
    st.sampled_from(["0", "1e308", "1e-300", "-1", "nan", "inf", " 5 ", "1700000007"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)
HOSTILE_VALUES = st.one_of(
    st.text(max_size=40),
    NUMBERS,
    st.builds(lambda q, w: f"{q};w={w}", NUMBERS, NUMBERS),
    st.builds(lambda q, w: f'"p";q={q};w={w}', NUMBERS, NUMBERS),
    st.builds(lambda r, t: f'"d";r={r};t={t}', NUMBERS, NUMBERS),
)
ANSWERS = st.lists(
    st.tuples(
        st.sampled_from([200, 201, 429, 429, 503]),
        st.dictionaries(st.sampled_from(HEADER_NAMES), HOSTILE_VALUES, max_size=2),
        st.floats(min_value=0, max_value=20),
    ),
    max_size=60,
)


@given(ANSWERS, st.sampled_from(["adaptive", 0.5, 7.0, 1000.0]))
def test_any_sequence_of_answers_leaves_a_positive_finite_pace_under_the_ceiling(
    answers: list[tuple[int, dict[str, str], float]], rate_limit: Any
) -> None:
    fake = FakeTime()
    pacer = RateController(rate_limit, clock=fake.clock, wall=lambda: 1.7e9, sleep=fake.sleep)
    for status, headers, step in answers:
        sent = fake.now
        fake.now += step
        pacer.observe(status, headers, sent)
        pace = pacer.pace
        if pace is not None:
            assert 0 < pace < float("inf")
            if pacer.ceiling is not None:
                assert pace <= pacer.ceiling


async def test_with_options_copies_share_the_pace(mock: aioresponses) -> None:
    mock.get(RESULTS, status=429, headers=THROTTLED)
    mock.get(RESULTS, payload={"items": []})
    async with NtrvstaClient(api_key=API_KEY, base_url=BASE) as client:
        policy = RetryPolicy(max_retries=1, sleep=RecordingSleep())
        copy = client.with_options(timeout=5, retry_policy=policy)
        assert client.pace is None
        assert copy.pace is None
        await copy.results.list_page()
        assert client.pace is not None
        assert copy.pace == client.pace
    async with NtrvstaClient(api_key=API_KEY, base_url=BASE, rate_limit=7) as pinned:
        assert pinned.with_options(timeout=1).pace == 7.0


class QuotaServer:
    """Invitations and results behind a token bucket: ``rate`` a second, ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.arrivals: list[tuple[float, str, int]] = []

    def admit(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        status = 201 if self.admit() else 429
        self.arrivals.append((time.monotonic(), request.method, status))
        if status == 429:
            return web.json_response({"message": "slow down"}, status=429, headers=THROTTLED)
        if request.method == "GET":
            return web.json_response({"items": [], "nextCursor": None})
        return web.json_response({"invitationId": "inv"}, status=201)


@pytest.fixture
async def quota() -> AsyncIterator[tuple[QuotaServer, str]]:
    state = QuotaServer(rate=50, burst=5)
    app = web.Application()
    app.router.add_post("/v1/interview-invitations", state.handle)
    app.router.add_get("/v1/interview-results", state.handle)
    async with serve(app) as base:
        yield state, base


def invitations(n: int) -> list[InvitationRequest]:
    return [InvitationRequest("tpl", Candidate(email=f"c{i}@example.com")) for i in range(n)]


async def test_no_burst_above_the_learned_rate_after_the_pause(
    quota: tuple[QuotaServer, str],
) -> None:
    state, base = quota
    paces: list[tuple[float, float | None]] = []
    async with NtrvstaClient(api_key=API_KEY, base_url=base) as client:

        async def watch() -> None:
            while True:
                paces.append((time.monotonic(), client.pace))
                await asyncio.sleep(0.01)

        watcher = asyncio.create_task(watch())
        result = await client.invitations.create_many(invitations(120), concurrency=16)
        watcher.cancel()
    assert len(result.succeeded) == 120
    first_429 = next(t for t, _, status in state.arrivals if status == 429)
    # The refused requests retry together after Retry-After (1 s); the pace lets them out
    # one by one, so no 100 ms window after the first 429 holds more than its pace allows.
    windows: dict[int, list[float]] = {}
    for stamp, _, _ in state.arrivals:
        if stamp > first_429 + 0.05:
            windows.setdefault(int((stamp - first_429) * 10), []).append(stamp)
    assert any(window >= 10 for window in windows), "the refused requests came back after 1 s"
    for stamps in windows.values():
        start = min(stamps)
        pace = max(p or 0.0 for t, p in paces if start - 0.1 <= t <= start + 0.1)
        assert len(stamps) <= pace * 0.1 + 2, (len(stamps), pace)
    late = [t for t, _, status in state.arrivals if status == 429 and t > first_429 + 2]
    assert len(late) <= 6, "the learned pace keeps the quota"


async def test_the_poller_and_create_many_share_one_pace(quota: tuple[QuotaServer, str]) -> None:
    state, base = quota
    state.tokens = 0.0  # the poller's first page meets the quota
    async with NtrvstaClient(api_key=API_KEY, base_url=base) as client:
        poller = ResultPoller(client, _ignore, inbox=MemoryInbox())
        await poller.run_once()
        assert any(method == "GET" and status == 429 for _, method, status in state.arrivals)
        pace = client.pace
        assert pace is not None
        began = time.monotonic()
        result = await client.invitations.create_many(invitations(10), concurrency=10)
        assert len(result.succeeded) == 10
    posts = [t for t, method, _ in state.arrivals if method == "POST"]
    # Unpaced, ten requests at concurrency 10 would leave together.
    assert posts[-1] - began >= 9 / (2 * pace)


async def _ignore(_: Any) -> None:
    return None


async def test_rate_limit_none_sends_unpaced(quota: tuple[QuotaServer, str]) -> None:
    _state, base = quota
    async with NtrvstaClient(
        api_key=API_KEY, base_url=base, rate_limit=None, max_retries=0
    ) as client:
        result = await client.invitations.create_many(invitations(40), concurrency=16)
        assert client.pace is None
    assert len(result.failed) > 20, "every request went out at once; most met the quota"
    assert all(getattr(o.error, "status", None) == 429 for o in result.failed)


async def test_paced_429_retries_log_quietly_and_giving_up_warns_once(
    mock: aioresponses, sleeps: RecordingSleep, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(RESULTS, status=429, headers={"Retry-After": "1"}, repeat=True)
    policy = RetryPolicy(sleep=sleeps)
    async with NtrvstaClient(api_key=API_KEY, base_url=BASE, retry_policy=policy) as client:
        with (
            caplog.at_level(logging.DEBUG, logger="ntrvsta_async"),
            pytest.raises(RateLimitError),
        ):
            await client.results.list_page()
    retries = [(r.levelno, r.getMessage()) for r in caplog.records if r.name.endswith(".retry")]
    assert [level for level, _ in retries] == [logging.DEBUG, logging.DEBUG, logging.WARNING]
    assert retries[-1][1] == "gave up on GET /v1/interview-results after 3 attempts: HTTP 429"
    assert sleeps.waits == [1.0, 1.0]

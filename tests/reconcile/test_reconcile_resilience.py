"""The poller under the failures it exists for: each test is one way a result used to be
lost or handled twice (two ids, slow handlers, skewed clocks, stale cursors, empty pages,
cancelling handlers, deposed leaders, synchronous callbacks, inbox outages)."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from ntrvsta_async import ConfigurationError, NtrvstaClient, ResultSummary
from ntrvsta_async.errors import InboxError
from ntrvsta_async.reconcile import ClaimState, MemoryInbox, ResultKeys, ResultPoller
from ntrvsta_async.webhooks import WebhookVerifier, webhook_handler
from tests.reconcile.test_poller import RESULTS_RE, T0, FakeResults, Recorder, fake, inbox, poller

__all__ = ["fake", "inbox"]  # the fixtures, shared with tests/reconcile/test_poller.py


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class Scripted:
    """Serves one scripted answer per request (a page dict, or a status), then repeats the last."""

    def __init__(self, mock: aioresponses, answers: list[dict[str, Any] | int]) -> None:
        self.answers = answers
        self.queries: list[dict[str, str]] = []
        mock.get(RESULTS_RE, callback=self._serve, repeat=True)

    def _serve(self, url: URL, **kwargs: Any) -> CallbackResult:
        self.queries.append(dict(url.query))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, int):
            return CallbackResult(status=answer, payload={"message": "refused"})
        return CallbackResult(payload=answer)


def summary(n: int, *, with_id: bool = True, at: datetime | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "resultUrl": f"https://app.ntrvsta.test/r/{n}",
        "overallScore": n,
        "completedAt": stamp(at or T0 + timedelta(minutes=n)),
    }
    if with_id:
        item["resultId"] = f"r{n}"
    return item


# 1. ------------------------------------------------------------------------------------


async def test_a_result_handled_by_webhook_is_a_duplicate_for_a_url_only_summary(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    Scripted(mock, [{"items": [summary(1, with_id=False)], "nextCursor": None}])
    handled: list[str] = []

    async def on_event() -> None:
        handled.append("webhook")

    # the receiver claims every id its event carries: resultId and resultUrl
    delivered = await inbox.handle(("r1", "https://app.ntrvsta.test/r/1"), on_event)
    assert delivered == (ClaimState.CLAIMED, None)

    recorder = Recorder()
    report = await poller(client, recorder, inbox).run_once()
    assert recorder.calls == []
    assert report.skipped_duplicates == 1
    assert handled == ["webhook"]


async def test_a_result_polled_by_url_only_is_a_duplicate_for_its_webhook(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    Scripted(mock, [{"items": [summary(1, with_id=False)], "nextCursor": None}])
    recorder = Recorder()
    assert (await poller(client, recorder, inbox).run_once()).handled == 1
    claim = await inbox.claim(("r1", "https://app.ntrvsta.test/r/1"))
    assert claim.state is ClaimState.DONE


# 2. ------------------------------------------------------------------------------------


async def test_a_handler_slower_than_claim_ttl_is_not_run_twice(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake.add(1)
    slow = Recorder(delay=1.0)
    first = poller(client, slow, inbox, claim_ttl=0.3)
    running = asyncio.create_task(first.run_once())
    await slow.started.wait()
    await asyncio.sleep(0.6)  # twice the ttl: without renewal the claim has expired
    second = Recorder()
    report = await poller(client, second, inbox, claim_ttl=0.3).run_once()
    assert second.calls == []
    assert report.in_progress == 1
    assert (await running).handled == 1
    assert slow.calls == ["r1"]


# 4. ------------------------------------------------------------------------------------


async def test_a_result_stamped_in_the_future_does_not_hide_later_results(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    now = [T0 + timedelta(hours=1)]
    fake.add(1, minutes=60 + 120)  # two hours ahead of the clock
    fake.add(2, minutes=30)
    recorder = Recorder()
    p = poller(client, recorder, inbox, clock=lambda: now[0], full_sweep_every=None)
    await p.run_once()
    fake.add(3, minutes=61)  # completes a minute later, long before the skewed stamp
    now[0] += timedelta(minutes=2)
    await p.run_once()
    assert sorted(recorder.calls) == ["r1", "r2", "r3"]


async def test_the_servers_date_header_bounds_the_checkpoint(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    server_now = T0 + timedelta(hours=1)
    date = server_now.strftime("%a, %d %b %Y %H:%M:%S GMT")
    pages: list[dict[str, Any]] = [
        {"items": [summary(1, at=server_now + timedelta(hours=3))], "nextCursor": None},
        {"items": [summary(2, at=server_now + timedelta(minutes=1))], "nextCursor": None},
    ]
    queries: list[dict[str, str]] = []

    def serve(url: URL, **kwargs: Any) -> CallbackResult:
        queries.append(dict(url.query))
        return CallbackResult(payload=pages.pop(0), headers={"Date": date})

    mock.get(RESULTS_RE, callback=serve, repeat=True)
    # the local clock runs a day ahead of the server: the server's Date decides
    p = poller(client, Recorder(), inbox, clock=lambda: T0 + timedelta(days=1))
    await p.run_once()
    await p.run_once()
    bound = datetime.fromisoformat(queries[1]["completedAfter"].replace("Z", "+00:00"))
    assert bound <= server_now - p.lookback


# 5. ------------------------------------------------------------------------------------


@pytest.mark.parametrize("refusal", [400, 404, 410, 422])
async def test_a_refused_saved_cursor_falls_back_to_the_time_bound(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox, refusal: int
) -> None:
    script = Scripted(
        mock,
        [
            {"items": [summary(1)], "nextCursor": "c2"},
            503,
            503,
            503,  # the pass stops after page 1 with its cursor saved
            refusal,  # the next pass resumes from c2: the server no longer knows it
            {"items": [summary(1), summary(2)], "nextCursor": None},
        ],
    )
    recorder = Recorder()
    p = poller(client, recorder, inbox)
    first = await p.run_once()
    assert first.error is not None
    second = await p.run_once()
    assert second.error is None, second.error
    assert sorted(recorder.calls) == ["r1", "r2"]
    assert script.queries[4].get("cursor") == "c2"
    assert "cursor" not in script.queries[5]
    third = await p.run_once()
    assert third.error is None


# 6. ------------------------------------------------------------------------------------


async def test_an_empty_page_with_a_cursor_does_not_end_the_pass(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    Scripted(
        mock,
        [
            {"items": [summary(1)], "nextCursor": "a"},
            {"items": [], "nextCursor": "b"},
            {"items": [], "nextCursor": "c"},
            {"items": [summary(2)], "nextCursor": None},
        ],
    )
    recorder = Recorder()
    report = await poller(client, recorder, inbox).run_once()
    assert sorted(recorder.calls) == ["r1", "r2"]
    assert report.pages == 4


# 7. ------------------------------------------------------------------------------------


async def test_a_handler_raising_cancelled_error_costs_only_its_result(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox, caplog: pytest.LogCaptureFixture
) -> None:
    for n in (1, 2, 3):
        fake.add(n)
    calls: Counter[str] = Counter()

    async def handler(result: ResultSummary) -> None:
        calls[result.key] += 1
        if result.key == "r2" and calls[result.key] == 1:
            raise asyncio.CancelledError  # a library inside the handler gave up

    p = ResultPoller(client, handler, inbox=inbox, interval=0.02, jitter=0)
    with caplog.at_level(logging.ERROR, "ntrvsta_async.reconcile"):
        p.start()
        for _ in range(300):
            if calls["r2"] >= 2:
                break
            await asyncio.sleep(0.01)
        assert p.running
        await p.stop()
    assert calls == Counter({"r1": 1, "r2": 2, "r3": 1})
    assert "r2" in caplog.text


# 8. ------------------------------------------------------------------------------------


async def test_start_is_a_plain_method_that_starts_the_loop(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake.add(1)
    recorder = Recorder()
    p = poller(client, recorder, inbox, interval=60)
    assert p.start() is None  # type: ignore[func-returns-value]
    assert p.running
    await recorder.started.wait()
    await p.stop()
    assert recorder.calls == ["r1"]


# 9. ------------------------------------------------------------------------------------


class HandOverLease:
    """A lease held with epoch 1 until ``depose()``; then another replica holds it."""

    def __init__(self) -> None:
        self.current: int | None = 1

    @property
    def epoch(self) -> int | None:
        return self.current

    def depose(self) -> None:
        self.current = None

    async def acquire(self) -> bool:
        return self.current is not None

    async def release(self) -> None:
        self.current = None

    async def close(self) -> None:
        self.current = None


async def test_a_deposed_leader_stops_paging_and_starting_handlers(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    script = Scripted(
        mock,
        [
            {"items": [summary(1), summary(2)], "nextCursor": "p2"},
            {"items": [summary(3), summary(4)], "nextCursor": "p3"},
            {"items": [summary(5)], "nextCursor": None},
        ],
    )
    lease = HandOverLease()
    started: list[str] = []

    async def handler(result: ResultSummary) -> None:
        started.append(result.key)
        lease.depose()  # paused past the lease: another replica took it meanwhile
        await asyncio.sleep(0.05)

    p = ResultPoller(client, handler, inbox=inbox, lease=lease, concurrency=1)
    report = await p.run_once()
    assert started == ["r1"]
    assert report.error is not None
    assert "lease" in report.error
    assert len(script.queries) <= 2  # at most the page read ahead before the loss was seen


# 10. -----------------------------------------------------------------------------------


def test_a_synchronous_handler_is_refused(client: NtrvstaClient, inbox: MemoryInbox) -> None:
    def handler(result: ResultSummary) -> None:
        """Not a coroutine function."""

    with pytest.raises(ConfigurationError, match="coroutine function"):
        ResultPoller(client, handler, inbox=inbox)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="coroutine function"):
        webhook_handler(WebhookVerifier("s"), handler, inbox=inbox)  # type: ignore[arg-type]


def test_async_callables_of_every_shape_are_accepted(
    client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    class Handler:
        async def __call__(self, result: ResultSummary) -> None:
            """An object with an async __call__."""

    import functools

    async def with_context(result: ResultSummary, context: str) -> None:
        """A partial of a coroutine function."""

    ResultPoller(client, Handler(), inbox=inbox)
    ResultPoller(client, functools.partial(with_context, context="x"), inbox=inbox)


# 11. -----------------------------------------------------------------------------------


class DownInbox(MemoryInbox):
    """An inbox whose store went down: every claim fails."""

    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Any:
        self.claims += 1
        raise InboxError("redis at localhost:6379: Connection refused")


async def test_an_inbox_outage_stops_the_pass_and_is_reported_once(
    mock: aioresponses, client: NtrvstaClient, caplog: pytest.LogCaptureFixture
) -> None:
    pages: list[dict[str, Any] | int] = [
        {"items": [summary(p * 100 + n) for n in range(50)], "nextCursor": f"p{p + 1}"}
        for p in range(40)
    ]
    script = Scripted(mock, pages)
    inbox = DownInbox()
    with caplog.at_level(logging.INFO, "ntrvsta_async.reconcile"):
        report = await poller(client, Recorder(), inbox, concurrency=4).run_once()
    assert report.error is not None
    assert report.error.count("Connection refused") == 1
    assert len(report.error) < 300
    assert len(script.queries) <= 2  # stopped at the first page (and the one read ahead)
    assert report.handled == 0
    assert max(len(record.getMessage()) for record in caplog.records) < 1000
    await inbox.close()

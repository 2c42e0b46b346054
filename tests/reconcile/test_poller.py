"""ResultPoller on a scripted results endpoint: once in effect, checkpoints, bounds, lifecycle."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from ntrvsta_async import NtrvstaClient, ResultSummary, WaitTimeoutError
from ntrvsta_async.reconcile import (
    ClaimState,
    MemoryInbox,
    Partition,
    ReconcileReport,
    ResultPoller,
)
from tests.conftest import BASE

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
RESULTS_RE = re.compile(re.escape(f"{BASE}/v1/interview-results") + r"(\?.*)?$")


class FakeResults:
    """Serves ``GET /v1/interview-results`` from a list, with index cursors and filters."""

    def __init__(self, mock: aioresponses, page_size: int = 3) -> None:
        self.items: list[dict[str, Any]] = []
        self.page_size = page_size
        self.queries: list[dict[str, str]] = []
        self.status: int | None = None
        mock.get(RESULTS_RE, callback=self._serve, repeat=True)

    def add(self, n: int, *, template_id: str = "tpl_a", minutes: int | None = None) -> str:
        key = f"r{n}"
        self.items.append(
            {
                "resultId": key,
                "resultUrl": f"https://app.ntrvsta.test/r/{n}",
                "overallScore": n,
                "templateId": template_id,
                "invitationId": f"inv{n}",
                "completedAt": (T0 + timedelta(minutes=n if minutes is None else minutes))
                .isoformat()
                .replace("+00:00", "Z"),
            }
        )
        return key

    def _serve(self, url: URL, **kwargs: Any) -> CallbackResult:
        query = dict(url.query)
        self.queries.append(query)
        if self.status is not None:
            return CallbackResult(status=self.status, payload={"message": "nope"})
        rows = [
            row
            for row in self.items
            if query.get("templateId") in (None, row["templateId"])
            and row["completedAt"] >= query.get("completedAfter", "")
        ]
        cursor = query.get("cursor", "0")
        if not cursor.isdigit():
            return CallbackResult(status=400, payload={"message": "invalid cursor"})
        start = int(cursor)
        end = start + self.page_size
        next_cursor = str(end) if end < len(rows) else None
        return CallbackResult(payload={"items": rows[start:end], "nextCursor": next_cursor})


@pytest.fixture
def fake(mock: aioresponses) -> FakeResults:
    return FakeResults(mock)


@pytest.fixture
async def inbox() -> AsyncIterator[MemoryInbox]:
    async with MemoryInbox() as box:
        yield box


class Recorder:
    """A handler that records what it saw and can fail chosen keys."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[str] = []
        self.fail: set[str] = set()
        self.delay = delay
        self.active = 0
        self.max_active = 0
        self.started = asyncio.Event()

    async def __call__(self, result: ResultSummary) -> None:
        self.active += 1
        self.started.set()
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            self.calls.append(result.key)
            if result.key in self.fail:
                raise RuntimeError(f"cannot store {result.key}")
        finally:
            self.active -= 1


def poller(client: NtrvstaClient, handler: Recorder, inbox: MemoryInbox, **kw: Any) -> ResultPoller:
    kw.setdefault("clock", lambda: T0 + timedelta(hours=1))
    return ResultPoller(client, handler, inbox=inbox, **kw)


async def test_every_result_handled_once_across_runs(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    keys = [fake.add(n) for n in range(1, 9)]
    handler = Recorder()
    p = poller(client, handler, inbox)
    first = await p.run_once()
    fake.add(9)
    second = await p.run_once()
    assert sorted(handler.calls) == sorted([*keys, "r9"])
    assert Counter(handler.calls).most_common(1)[0][1] == 1
    assert (first.seen, first.new, first.handled, first.failed) == (8, 8, 8, 0)
    assert first.pages == 3
    assert first.ok
    assert second.handled == 1
    assert second.skipped_duplicates == second.seen - 1
    assert all([await inbox.is_done(k) for k in keys])


async def test_checkpoint_narrows_later_runs_by_lookback(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 5):
        fake.add(n)
    p = poller(client, Recorder(), inbox, lookback=timedelta(minutes=2))
    await p.run_once()
    assert "completedAfter" not in fake.queries[0]
    fake.queries.clear()
    await p.run_once()
    assert fake.queries[0]["completedAfter"] == "2026-05-01T10:02:00Z"


async def test_start_from_bounds_the_first_run(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 5):
        fake.add(n)
    handler = Recorder()
    report = await poller(client, handler, inbox, start_from=T0 + timedelta(minutes=3)).run_once()
    assert sorted(handler.calls) == ["r3", "r4"]
    assert report.lag == timedelta(minutes=56)


async def test_webhook_handled_keys_are_skipped(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 4):
        fake.add(n)
    claim = await inbox.claim("r2")
    assert claim.token is not None
    await inbox.complete("r2", claim.token)
    handler = Recorder()
    report = await poller(client, handler, inbox).run_once()
    assert sorted(handler.calls) == ["r1", "r3"]
    assert report.skipped_duplicates == 1


async def test_key_in_progress_elsewhere_is_left_and_retried(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 4):
        fake.add(n)
    claim = await inbox.claim("r1")
    handler = Recorder()
    p = poller(client, handler, inbox)
    report = await p.run_once()
    assert report.in_progress == 1
    assert "r1" not in handler.calls
    assert claim.token is not None
    await inbox.release("r1", claim.token)
    await p.run_once()
    assert handler.calls.count("r1") == 1


async def test_failing_handler_is_retried_next_run(
    fake: FakeResults,
    client: NtrvstaClient,
    inbox: MemoryInbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for n in range(1, 8):
        fake.add(n)
    handler = Recorder()
    handler.fail = {"r2"}
    p = poller(client, handler, inbox, lookback=timedelta(0))
    first = await p.run_once()
    assert (first.failed, first.handled) == (1, 6)
    assert not first.ok
    assert "handler failed for result r2" in caplog.text
    assert "cannot store r2" in caplog.text
    handler.fail.clear()
    fake.queries.clear()
    second = await p.run_once()
    assert fake.queries[0]["completedAfter"] <= "2026-05-01T10:02:00Z"
    assert second.handled == 1
    assert Counter(handler.calls) == Counter({"r2": 2, **{f"r{n}": 1 for n in (1, 3, 4, 5, 6, 7)}})


async def test_concurrency_bound_holds_across_partitions(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake = FakeResults(mock, page_size=10)
    for n in range(1, 41):
        fake.add(n, template_id="tpl_a" if n % 2 else "tpl_b")
    handler = Recorder(delay=0.01)
    p = poller(client, handler, inbox, concurrency=3, partitions=["tpl_a", "tpl_b"])
    report = await p.run_once()
    assert report.handled == 40
    assert report.partitions == 2
    assert handler.max_active == 3
    assert {q.get("templateId") for q in fake.queries} == {"tpl_a", "tpl_b"}


async def test_partitions_by_posting_id_use_their_filter(
    mock: aioresponses, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    seen: list[dict[str, str]] = []

    def serve(url: URL, **kwargs: Any) -> CallbackResult:
        seen.append(dict(url.query))
        return CallbackResult(payload={"items": []})

    mock.get(RESULTS_RE, callback=serve, repeat=True)
    partitions = [Partition(external_posting_id="job-1"), Partition(external_posting_id="job-2")]
    await poller(client, Recorder(), inbox, partitions=partitions).run_once()
    assert sorted(q["externalPostingId"] for q in seen) == ["job-1", "job-2"]
    checkpoint = await inbox.get_checkpoint("poller:default:posting:job-1")
    assert checkpoint is not None


async def test_rejected_cursor_falls_back_to_time_bound(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 6):
        fake.add(n)
    await inbox.set_checkpoint(
        "poller:default:all",
        '{"v":1,"after":null,"cursor":"expired-token","pass_after":null}',
    )
    handler = Recorder()
    report = await poller(client, handler, inbox).run_once()
    assert fake.queries[0]["cursor"] == "expired-token"
    assert "cursor" not in fake.queries[1]
    assert sorted(handler.calls) == ["r1", "r2", "r3", "r4", "r5"]
    assert report.ok


async def test_saved_cursor_resumes_an_interrupted_pass(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 8):
        fake.add(n)
    await inbox.set_checkpoint("poller:default:all", '{"v":1,"cursor":"3"}')
    handler = Recorder()
    await poller(client, handler, inbox).run_once()
    assert fake.queries[0]["cursor"] == "3"
    assert sorted(handler.calls) == ["r4", "r5", "r6", "r7"]


async def test_api_error_ends_the_run_with_a_report(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake.add(1)
    fake.status = 503
    report = await poller(client, Recorder(), inbox).run_once()
    assert report.error is not None
    assert "503" in report.error
    assert not report.auth_failed
    fake.status = None
    assert (await poller(client, Recorder(), inbox).run_once()).handled == 1


async def test_unauthorized_keeps_the_background_loop_running_and_says_why(
    fake: FakeResults,
    client: NtrvstaClient,
    inbox: MemoryInbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.status = 401
    fake.add(1)
    reports: list[ReconcileReport] = []
    p = poller(client, Recorder(), inbox, interval=0.01, jitter=0, on_report=reports.append)
    p.start()
    for _ in range(200):
        if len(reports) >= 2:
            break
        await asyncio.sleep(0.01)
    assert p.running
    assert reports[0].auth_failed
    assert "rejected the key" in caplog.text
    fake.status = None  # the key was fixed: the next pass handles the result
    for _ in range(200):
        if any(report.handled for report in reports):
            break
        await asyncio.sleep(0.01)
    assert any(report.handled == 1 for report in reports)
    await p.stop()


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_run_once_hands_its_report_to_on_report(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox, asynchronous: bool
) -> None:
    fake.add(1)
    reports: list[ReconcileReport] = []

    async def on_report_async(report: ReconcileReport) -> None:
        reports.append(report)

    on_report = on_report_async if asynchronous else reports.append
    p = poller(client, Recorder(), inbox, on_report=on_report)
    first = await p.run_once()
    second = await p.run_once()
    assert reports == [first, second]
    assert (first.handled, second.handled) == (1, 0)


async def test_a_failing_on_report_does_not_fail_the_pass(
    fake: FakeResults,
    client: NtrvstaClient,
    inbox: MemoryInbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.add(1)

    def on_report(report: ReconcileReport) -> None:
        raise RuntimeError("dashboard down")

    report = await poller(client, Recorder(), inbox, on_report=on_report).run_once()
    assert report.handled == 1
    assert "on_report callback failed" in caplog.text


async def test_background_runs_and_stop_drains_in_flight_handlers(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    for n in range(1, 4):
        fake.add(n)
    handler = Recorder(delay=0.3)
    reports: list[ReconcileReport] = []

    async def on_report(report: ReconcileReport) -> None:
        reports.append(report)

    p = poller(client, handler, inbox, interval=30, on_report=on_report)
    async with p:
        await handler.started.wait()
    assert not p.running
    assert sorted(handler.calls) == ["r1", "r2", "r3"]
    assert [await inbox.is_done(k) for k in ("r1", "r2", "r3")] == [True, True, True]
    assert reports
    assert reports[0].handled == 3


async def test_stop_timeout_cancels_and_leaves_keys_for_later(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake.add(1)
    handler = Recorder(delay=10)
    p = poller(client, handler, inbox)
    p.start()
    await handler.started.wait()
    await p.stop(drain_timeout=0.05)
    assert not await inbox.is_done("r1")
    assert (await inbox.claim("r1")).state is ClaimState.CLAIMED


class FakeLease:
    def __init__(self, held: bool) -> None:
        self.held = held
        self.released = False

    @property
    def epoch(self) -> int | None:
        return 7 if self.held else None

    async def acquire(self) -> bool:
        return self.held

    async def release(self) -> None:
        self.released = True

    async def close(self) -> None:
        await self.release()


async def test_non_leader_does_not_call_the_api(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake.add(1)
    report = await poller(client, Recorder(), inbox, lease=FakeLease(held=False)).run_once()
    assert (report.leader, report.pages) == (False, 0)
    assert fake.queries == []
    leader = await poller(client, Recorder(), inbox, lease=FakeLease(held=True)).run_once()
    assert leader.leader
    assert leader.handled == 1


async def test_fenced_checkpoint_write_is_reported(
    fake: FakeResults, client: NtrvstaClient, inbox: MemoryInbox
) -> None:
    fake.add(1)
    await inbox.set_checkpoint("poller:default:all", '{"v":1}', fence=9)
    report = await poller(client, Recorder(), inbox, lease=FakeLease(held=True)).run_once()
    assert report.error is not None
    assert "lease" in report.error


async def test_wait_for_finds_a_result_by_invitation_id(
    fake: FakeResults, client: NtrvstaClient
) -> None:
    async def complete_later() -> None:
        await asyncio.sleep(0.05)
        fake.add(5)

    task = asyncio.create_task(complete_later())
    result = await client.results.wait_for("inv5", timeout=5, poll_interval=0.02)
    await task
    assert result.result_id == "r5"
    with pytest.raises(WaitTimeoutError, match="inv6"):
        await client.results.wait_for("inv6", timeout=0.1, poll_interval=0.02)

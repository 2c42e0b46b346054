"""Paging ``GET /v1/interview-results``: filters, every page read, OP-8 tolerance."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from aioresponses import aioresponses
from yarl import URL

from ntrvsta_async import (
    BadRequestError,
    InvalidArgumentError,
    NtrvstaClient,
    ResponseValidationError,
)
from tests.conftest import API_KEY, BASE, serve

RESULTS = f"{BASE}/v1/interview-results"


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "resultId": f"r{n}",
        "resultUrl": f"https://app.ntrvsta.test/r/{n}",
        "overallScore": 70 + n,
        "completedAt": "2026-05-01T10:00:00Z",
        **extra,
    }


async def collect(client: NtrvstaClient, **kwargs: Any) -> list[str]:
    return [summary.key async for summary in client.results.list(**kwargs)]


async def test_all_pages_are_read(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(RESULTS, payload={"items": [item(1), item(2)], "nextCursor": "c2"})
    mock.get(f"{RESULTS}?cursor=c2", payload={"items": [item(3)], "nextCursor": "c3"})
    mock.get(f"{RESULTS}?cursor=c3", payload={"items": [item(4)], "nextCursor": None})
    assert await collect(client) == ["r1", "r2", "r3", "r4"]
    assert len(mock.requests) == 3


async def test_filters_use_wire_names_and_unset_ones_are_omitted(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    after = datetime(2026, 5, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    url = (
        f"{RESULTS}?limit=25&templateId=tpl_1&externalPostingId=job-9"
        "&completedAfter=2026-05-01T10:00:00Z&region=eu"
    )
    mock.get(url, payload={"items": []})
    await collect(
        client,
        template_id="tpl_1",
        external_posting_id="job-9",
        completed_after=after,
        limit=25,
        region="eu",
    )
    ((_method, sent_url),) = mock.requests
    assert dict(sent_url.query) == dict(URL(url).query)


async def test_naive_completed_after_is_refused(mock: aioresponses, client: NtrvstaClient) -> None:
    with pytest.raises(InvalidArgumentError, match="timezone-aware"):
        await client.results.list_page(completed_after=datetime(2026, 1, 1))
    assert not mock.requests


@pytest.mark.parametrize(
    ("items_key", "cursor_key"),
    [("data", "next_cursor"), ("results", "nextPageToken"), ("items", "cursor")],
)
async def test_alternative_page_keys(
    mock: aioresponses, client: NtrvstaClient, items_key: str, cursor_key: str
) -> None:
    mock.get(RESULTS, payload={items_key: [item(1)], cursor_key: "next"})
    mock.get(f"{RESULTS}?cursor=next", payload={items_key: [item(2)]})
    assert await collect(client) == ["r1", "r2"]


async def test_bare_array_is_a_single_page(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(RESULTS, payload=[item(1), item(2)])
    page = await client.results.list_page()
    assert [s.result_id for s in page.items] == ["r1", "r2"]
    assert page.next_cursor is None


async def test_repeated_cursor_stops_instead_of_looping(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.get(RESULTS, payload={"items": [item(1)], "nextCursor": "same"})
    mock.get(f"{RESULTS}?cursor=same", payload={"items": [item(2)], "nextCursor": "same"})
    mock.get(f"{RESULTS}?cursor=same", payload={"items": [item(3)], "nextCursor": "same"})
    assert await collect(client) == ["r1", "r2"]
    assert len(mock.requests[("GET", URL(f"{RESULTS}?cursor=same"))]) == 1


async def test_empty_pages_with_a_cursor_do_not_end_the_listing(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.get(RESULTS, payload={"items": [], "nextCursor": "c1"})
    mock.get(f"{RESULTS}?cursor=c1", payload={"items": [], "nextCursor": "c2"})
    mock.get(f"{RESULTS}?cursor=c2", payload={"items": [item(1)], "nextCursor": None})
    assert await collect(client) == ["r1"]
    assert len(mock.requests) == 3


async def test_wait_for_reads_past_an_empty_page(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(RESULTS, payload={"items": [], "nextCursor": "c1"})
    mock.get(f"{RESULTS}?cursor=c1", payload={"items": [item(7)]})
    found = await client.results.wait_for("r7", timeout=5)
    assert found.result_url == "https://app.ntrvsta.test/r/7"


async def test_a_repeated_cursor_after_empty_pages_ends_the_listing(
    mock: aioresponses, client: NtrvstaClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(RESULTS, payload={"items": [], "nextCursor": "same"})
    mock.get(f"{RESULTS}?cursor=same", payload={"items": [], "nextCursor": "same"})
    assert await collect(client) == []
    assert len(mock.requests[("GET", URL(f"{RESULTS}?cursor=same"))]) == 1
    assert "repeated a page cursor" in caplog.text


async def test_summary_fields_and_unknown_fields(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(RESULTS, payload={"items": [item(1, language="de")], "pageInfo": {"n": 1}})
    page = await client.results.list_page()
    (summary,) = page.items
    assert summary.result_id == "r1"
    assert summary.result_url == "https://app.ntrvsta.test/r/1"
    assert summary.overall_score == 71.0
    assert summary.completed_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert summary.extra == {"language": "de"}
    assert summary.to_dict()["language"] == "de"


async def test_summary_without_result_id_is_keyed_by_url(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.get(RESULTS, payload={"items": [{"resultUrl": "https://x.test/r/9", "overallScore": 5}]})
    (summary,) = (await client.results.list_page()).items
    assert summary.result_id is None
    assert summary.key == "https://x.test/r/9"


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"entries": []}, "$.items"),
        ({"items": [], "nextCursor": {"a": 1}}, "$.nextCursor"),
        ("just text", "$"),
    ],
)
async def test_unreadable_pages_name_the_json_path(
    mock: aioresponses, client: NtrvstaClient, payload: Any, path: str
) -> None:
    mock.get(RESULTS, payload=payload)
    with pytest.raises(ResponseValidationError) as info:
        await client.results.list_page()
    assert info.value.path == path
    assert path in str(info.value)


class PagingServer:
    """Loopback results pages of two items; pages after the first wait for ``release``."""

    def __init__(self, pages: int) -> None:
        self.pages = pages
        self.requested: list[int] = []
        self.release = asyncio.Event()
        self.cancelled = 0
        self.fail_at: int | None = None

    async def handle(self, request: web.Request) -> web.Response:
        page = int(request.query.get("cursor", "0"))
        self.requested.append(page)
        if page:
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        if page == self.fail_at:
            return web.json_response({"message": "bad cursor"}, status=400)
        following = page + 1 if page + 1 < self.pages else None
        return web.json_response(
            {
                "items": [item(2 * page), item(2 * page + 1)],
                "nextCursor": str(following) if following is not None else None,
            }
        )


@pytest.fixture
async def paging() -> AsyncIterator[tuple[PagingServer, NtrvstaClient]]:
    state = PagingServer(pages=3)
    app = web.Application()
    app.router.add_get("/v1/interview-results", state.handle)
    async with (
        serve(app, handler_cancellation=True) as base,
        NtrvstaClient(api_key=API_KEY, base_url=base) as client,
    ):
        yield state, client


async def wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the server signals nothing
            await asyncio.sleep(0.005)


async def test_next_page_is_requested_while_the_current_one_is_consumed(
    paging: tuple[PagingServer, NtrvstaClient],
) -> None:
    state, client = paging
    listing = client.results.list()
    first = await anext(listing)
    assert first.result_id == "r0"
    await wait_until(lambda: state.requested == [0, 1])
    state.release.set()
    rest = [summary.result_id async for summary in listing]
    assert rest == ["r1", "r2", "r3", "r4", "r5"]
    assert state.requested == [0, 1, 2]


async def test_leaving_the_loop_early_cancels_the_read_ahead(
    paging: tuple[PagingServer, NtrvstaClient],
) -> None:
    state, client = paging
    listing = client.results.list()
    assert (await anext(listing)).result_id == "r0"
    await wait_until(lambda: state.requested == [0, 1])
    started = time.monotonic()
    await listing.aclose()
    assert time.monotonic() - started < 1
    await wait_until(lambda: state.cancelled == 1)
    assert state.requested == [0, 1]


async def test_a_failing_next_page_is_raised_after_the_current_page(
    paging: tuple[PagingServer, NtrvstaClient],
) -> None:
    state, client = paging
    state.fail_at = 2
    state.release.set()
    seen: list[str | None] = []

    async def consume() -> None:
        async for summary in client.results.list():
            seen.append(summary.result_id)

    with pytest.raises(BadRequestError):
        await consume()
    assert seen == ["r0", "r1", "r2", "r3"]

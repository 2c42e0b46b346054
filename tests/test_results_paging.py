"""Paging ``GET /v1/interview-results``: filters, every page read, OP-8 tolerance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from ntrvsta_async import InvalidArgumentError, NtrvstaClient, ResponseValidationError

from .conftest import BASE

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


async def test_empty_page_with_cursor_ends_listing(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.get(RESULTS, payload={"items": [], "nextCursor": "more"})
    assert await collect(client) == []
    assert len(mock.requests) == 1


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
        ({"items": [{"resultId": 5}]}, "$.items[0].resultId"),
        ({"items": [item(1), item(2, overallScore="high")]}, "$.items[1].overallScore"),
        ({"items": [item(1, completedAt="yesterday")]}, "$.items[0].completedAt"),
        ({"items": [{"overallScore": 3}]}, "$.items[0]"),
        ({"entries": []}, "$.items"),
        ({"items": [], "nextCursor": {"a": 1}}, "$.nextCursor"),
        ("just text", "$"),
    ],
)
async def test_malformed_pages_name_the_json_path(
    mock: aioresponses, client: NtrvstaClient, payload: Any, path: str
) -> None:
    mock.get(RESULTS, payload=payload)
    with pytest.raises(ResponseValidationError) as info:
        await client.results.list_page()
    assert info.value.path == path
    assert path in str(info.value)

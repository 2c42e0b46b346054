"""One bad result never costs the others; the server's clock and unknown wire shapes are read.

Malformed items are skipped with their JSON path, an unreadable ``completedAt`` is kept as
text, the ``Date`` header becomes ``Page.server_time``, and a server that pages under an
unread token key or ignores ``completedAfter`` is named once per client.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async import (
    Invitation,
    NtrvstaClient,
    ResponseValidationError,
    ResultCompletedEvent,
    ResultSummary,
)
from ntrvsta_async.resources.results import parse_page
from tests.conftest import API_KEY, BASE

RESULTS = f"{BASE}/v1/interview-results"
BOUND = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BOUND_QUERY = "completedAfter=2026-05-01T12:00:00Z"


def item(n: int, completed_at: Any = "2026-05-01T13:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "resultId": f"r{n}",
        "resultUrl": f"https://app.ntrvsta.test/r/{n}",
        "overallScore": 70 + n,
        "completedAt": completed_at,
        **extra,
    }


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# --- identity -------------------------------------------------------------------------------


def test_keys_hold_every_id_of_a_result_result_id_first() -> None:
    both = {"resultId": "r1", "resultUrl": "https://x/r/1"}
    assert ResultSummary.from_dict(both).keys == ("r1", "https://x/r/1")
    assert ResultSummary.from_dict({"resultUrl": "https://x/r/1"}).keys == ("https://x/r/1",)
    assert ResultSummary.from_dict({"resultId": "r1", "resultUrl": None}).keys == ("r1",)
    event = ResultCompletedEvent.from_dict(both)
    assert event.keys == ResultSummary.from_dict(both).keys
    assert ResultCompletedEvent.from_dict({"resultId": "r1"}).keys == ("r1",)
    assert event.key == "r1"


# --- completedAt as OP-18 has it --------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("yesterday", "yesterday"),
        ("2026-13-01T00:00:00Z", "2026-13-01T00:00:00Z"),
        (1714557600, "1714557600"),
        (True, "true"),
        ({"at": 1}, '{"at":1}'),
    ],
)
async def test_an_unreadable_completed_at_is_kept_as_text(
    mock: aioresponses, client: NtrvstaClient, sent: Any, kept: str
) -> None:
    mock.get(RESULTS, payload={"items": [item(1, completed_at=sent), item(2)]})
    page = await client.results.list_page()
    assert [summary.key for summary in page.items] == ["r1", "r2"]
    assert page.skipped == ()
    first = page.items[0]
    assert first.completed_at == kept
    assert first.completed_datetime is None
    assert page.items[1].completed_datetime == datetime(2026, 5, 1, 13, tzinfo=UTC)


def test_other_models_keep_strict_timestamps() -> None:
    with pytest.raises(ResponseValidationError) as info:
        Invitation.from_dict({"invitationId": "i1", "createdAt": "yesterday"})
    assert info.value.path == "$.createdAt"


# --- malformed items --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "path"),
    [
        (item(3, overallScore="high"), "$.items[1].overallScore"),
        ({"resultId": 5}, "$.items[1].resultId"),
        ({"overallScore": 3}, "$.items[1]"),
        ("r3", "$.items[1]"),
        (None, "$.items[1]"),
        ([item(3)], "$.items[1]"),
        (item(3, candidate={"firstName": "Ada"}), "$.items[1].candidate.email"),
    ],
)
async def test_a_malformed_item_is_skipped_with_its_path(
    mock: aioresponses,
    client: NtrvstaClient,
    caplog: pytest.LogCaptureFixture,
    bad: Any,
    path: str,
) -> None:
    page = {"items": [item(1), bad, item(2)], "nextCursor": "c2"}
    mock.get(RESULTS, payload=page)
    mock.get(RESULTS, payload=page)
    mock.get(f"{RESULTS}?cursor=c2", payload={"items": [item(4)]})
    first = await client.results.list_page()
    assert [summary.key for summary in first.items] == ["r1", "r2"]
    assert first.next_cursor == "c2"
    (skipped,) = first.skipped
    assert path in skipped

    caplog.set_level(logging.WARNING, logger="ntrvsta_async")
    keys = [summary.key async for summary in client.results.list()]
    assert keys == ["r1", "r2", "r4"]
    (warning,) = [message for message in warnings_of(caplog) if "skipped" in message]
    assert path in warning


async def test_a_skipped_item_is_described_without_its_values(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    echoed = {"resultId": API_KEY, "overallScore": API_KEY, "candidate": API_KEY}
    mock.get(RESULTS, payload={"items": [echoed]})
    (skipped,) = (await client.results.list_page()).skipped
    assert API_KEY[6:] not in skipped
    assert "$.items[0]" in skipped


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["resultId", "resultUrl", "overallScore", "completedAt", "templateId", "candidate", "status"]
)
hostile_items = json_values | st.dictionaries(field_names, json_values, max_size=5)
good_items = st.builds(
    lambda n, score: {"resultId": f"good-{n}", "overallScore": score},
    st.integers(0, 10**6),
    st.integers(0, 100) | st.floats(0, 100),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(st.tuples(st.booleans(), good_items, hostile_items), max_size=8),
    cursor=st.none() | st.text(min_size=1, max_size=5),
)
def test_hostile_items_never_break_a_page(
    items: list[tuple[bool, dict[str, Any], Any]], cursor: str | None
) -> None:
    """Any JSON value as an item: every well-formed one survives, every other is skipped with
    its path, and the page (cursor included) is still read."""
    raw = [good if use_good else hostile for use_good, good, hostile in items]
    page = parse_page({"items": raw, "nextCursor": cursor})
    assert page.next_cursor == cursor
    assert len(page.items) + len(page.skipped) == len(raw)
    kept = {summary.result_id for summary in page.items}
    for use_good, good, _ in items:
        if use_good:
            assert good["resultId"] in kept
    skipped_at = [int(m) for d in page.skipped for m in re.findall(r"\$\.items\[(\d+)\]", d)[:1]]
    assert len(skipped_at) == len(page.skipped)
    for index in skipped_at:
        use_good, good, hostile = items[index]
        assert not use_good
        with pytest.raises(ResponseValidationError):
            ResultSummary.from_dict(hostile)


async def test_an_unreadable_envelope_still_raises(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.get(RESULTS, payload={"entries": [item(1)]})
    with pytest.raises(ResponseValidationError) as info:
        await client.results.list_page()
    assert info.value.path == "$.items"


# --- the server's clock -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Date": "Fri, 01 May 2026 12:30:00 GMT"}, datetime(2026, 5, 1, 12, 30, tzinfo=UTC)),
        ({}, None),
        ({"Date": "not a date"}, None),
    ],
)
async def test_the_date_header_is_the_page_server_time(
    mock: aioresponses,
    client: NtrvstaClient,
    headers: dict[str, str],
    expected: datetime | None,
) -> None:
    mock.get(RESULTS, payload={"items": [item(1)]}, headers=headers)
    page = await client.results.list_page()
    assert page.server_time == expected
    assert [summary.key for summary in page.items] == ["r1"]


# --- unknown wire shapes, named once per client ---------------------------------------------


@pytest.mark.parametrize("token_key", ["next", "continuation", "pageToken"])
async def test_a_token_under_an_unread_key_is_named_once_per_client(
    mock: aioresponses,
    client: NtrvstaClient,
    caplog: pytest.LogCaptureFixture,
    token_key: str,
) -> None:
    for _ in range(3):
        mock.get(RESULTS, payload={"items": [item(1)], token_key: "opaque-token-2"})
    caplog.set_level(logging.WARNING, logger="ntrvsta_async")
    assert [s.key async for s in client.results.list()] == ["r1"]
    assert [s.key async for s in client.results.list()] == ["r1"]
    page = await client.results.list_page()
    assert page.next_cursor is None
    (warning,) = warnings_of(caplog)
    assert repr(token_key) in warning
    assert f"ntrvsta doctor --base-url {BASE}" in warning
    assert "opaque-token-2" not in warning


@pytest.mark.parametrize(
    "page",
    [
        {"items": [item(1)], "nextCursor": None, "next": "/page/2"},
        {"items": [item(1)], "completedAfter": "2026-05-01T12:00:00Z"},
    ],
    ids=["contract-key-null", "echoed-filter"],
)
async def test_no_unknown_token_is_claimed_without_cause(
    mock: aioresponses,
    client: NtrvstaClient,
    caplog: pytest.LogCaptureFixture,
    page: dict[str, Any],
) -> None:
    mock.get(RESULTS, payload=page)
    caplog.set_level(logging.WARNING, logger="ntrvsta_async")
    assert [s.key async for s in client.results.list()] == ["r1"]
    assert warnings_of(caplog) == []


async def test_each_client_warns_for_itself(
    mock: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="ntrvsta_async")
    for _ in range(2):
        mock.get(RESULTS, payload={"items": [], "continuationToken": "t"})
        async with NtrvstaClient(api_key=API_KEY, base_url=BASE) as client:
            await client.results.list_page()
    assert len(warnings_of(caplog)) == 2


async def test_results_older_than_the_bound_are_dropped_and_named_once(
    mock: aioresponses, client: NtrvstaClient, caplog: pytest.LogCaptureFixture
) -> None:
    old = item(1, completed_at="2026-04-01T00:00:00Z")
    page = {"items": [old, item(2), item(3, completed_at="unknown")], "nextCursor": "c2"}
    mock.get(f"{RESULTS}?{BOUND_QUERY}", payload=page)
    mock.get(f"{RESULTS}?{BOUND_QUERY}", payload=page)
    last = {"items": [item(4, completed_at="2026-01-01T00:00:00+00:00"), item(5)]}
    mock.get(f"{RESULTS}?{BOUND_QUERY}&cursor=c2", payload=last)
    caplog.set_level(logging.WARNING, logger="ntrvsta_async")

    first = await client.results.list_page(completed_after=BOUND)
    assert [s.key for s in first.items] == ["r2", "r3"]
    listed = [s.key async for s in client.results.list(completed_after="2026-05-01T12:00:00Z")]
    assert listed == ["r2", "r3", "r5"]
    (warning,) = warnings_of(caplog)
    assert "completedAfter" in warning
    assert f"ntrvsta doctor --base-url {BASE}" in warning


async def test_results_at_the_bound_are_kept_without_a_warning(
    mock: aioresponses, client: NtrvstaClient, caplog: pytest.LogCaptureFixture
) -> None:
    mock.get(f"{RESULTS}?{BOUND_QUERY}", payload={"items": [item(1, "2026-05-01T12:00:00Z")]})
    caplog.set_level(logging.WARNING, logger="ntrvsta_async")
    page = await client.results.list_page(completed_after=BOUND)
    assert [s.key for s in page.items] == ["r1"]
    assert warnings_of(caplog) == []

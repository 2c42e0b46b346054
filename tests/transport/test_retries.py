"""Retry rules (docs/contract.md#op-11): what is retried, how often, and how long it waits."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import aiohttp
import pytest
from aioresponses import aioresponses

from ntrvsta_async import (
    APIConnectionError,
    BadRequestError,
    ConfigurationError,
    NtrvstaClient,
    RateLimitError,
    RetryPolicy,
    ServerError,
)
from ntrvsta_async.transport import parse_retry_after
from tests.conftest import API_KEY, BASE, RecordingSleep

TEMPLATES = f"{BASE}/v1/templates"
INVITATIONS = f"{BASE}/v1/interview-invitations"
RESULTS = f"{BASE}/v1/interview-results"


def calls(mock: aioresponses) -> int:
    return sum(len(v) for v in mock.requests.values())


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_retryable_status_then_success(
    mock: aioresponses, client: NtrvstaClient, sleeps: RecordingSleep, status: int
) -> None:
    mock.get(RESULTS, status=status, payload={"message": "busy"})
    mock.get(RESULTS, payload={"items": [{"resultId": "r1"}]})
    page = await client.results.list_page()
    assert [s.key for s in page.items] == ["r1"]
    assert calls(mock) == 2
    assert len(sleeps.waits) == 1


async def test_each_retry_is_one_warning_on_its_own_logger(
    mock: aioresponses,
    client: NtrvstaClient,
    sleeps: RecordingSleep,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock.get(RESULTS, status=503, payload={"message": "busy"})
    mock.get(RESULTS, payload={"items": [{"resultId": "r1"}]})
    with caplog.at_level(logging.DEBUG, logger="ntrvsta_async"):
        await client.results.list_page()
    retries = [r for r in caplog.records if r.name == "ntrvsta_async.retry"]
    assert [(r.levelno, r.getMessage()) for r in retries] == [
        (logging.WARNING, f"retrying GET /v1/interview-results in {sleeps.waits[0]:.2f} s after "
         "HTTP 503 (attempt 2 of 3)"),
    ]  # fmt: skip
    assert API_KEY not in caplog.text

    caplog.clear()
    mock.get(RESULTS, status=503, payload={"message": "busy"})
    mock.get(RESULTS, payload={"items": [{"resultId": "r2"}]})
    logging.getLogger("ntrvsta_async.retry").setLevel(logging.ERROR)
    try:
        with caplog.at_level(logging.WARNING):
            page = await client.results.list_page()
    finally:
        logging.getLogger("ntrvsta_async.retry").setLevel(logging.NOTSET)
    assert [s.key for s in page.items] == ["r2"]
    assert not [r for r in caplog.records if r.name == "ntrvsta_async.retry"]


async def test_gives_up_after_max_retries_with_attempt_count(
    mock: aioresponses, client: NtrvstaClient, sleeps: RecordingSleep
) -> None:
    mock.get(RESULTS, status=503, payload={"message": "down"}, repeat=True)
    with pytest.raises(ServerError) as info:
        await client.results.list_page()
    assert info.value.attempts == 3
    assert calls(mock) == 3
    assert "after 3 attempts" in str(info.value)
    assert sleeps.waits == [0.25, 0.5]  # full jitter with random() == 0.5: 0.5 * 0.5, 1.0 * 0.5


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_never_retried(
    mock: aioresponses, client: NtrvstaClient, status: int
) -> None:
    mock.post(INVITATIONS, status=status, payload={"message": "no"}, repeat=True)
    with pytest.raises(Exception) as info:  # noqa: PT011 - the class is checked below
        await client.invitations.create(template_id="t", candidate={"email": "a@b.c"})
    assert getattr(info.value, "status", None) == status
    assert getattr(info.value, "attempts", None) == 1
    assert calls(mock) == 1


async def test_max_retries_option(mock: aioresponses, sleeps: RecordingSleep) -> None:
    mock.get(RESULTS, status=500, repeat=True)
    policy = RetryPolicy(sleep=sleeps, max_retries=5)  # the same count twice is no conflict
    async with NtrvstaClient(
        api_key=API_KEY, base_url=BASE, retry_policy=policy, max_retries=5
    ) as client:
        with pytest.raises(ServerError) as info:
            await client.results.list_page()
        assert info.value.attempts == 6
        none = client.with_options(max_retries=0)
        with pytest.raises(ServerError) as info:
            await none.results.list_page()
        assert info.value.attempts == 1
    assert calls(mock) == 7


async def test_retry_after_seconds_is_honoured(
    mock: aioresponses, client: NtrvstaClient, sleeps: RecordingSleep
) -> None:
    mock.get(RESULTS, status=429, headers={"Retry-After": "7"})
    mock.get(RESULTS, payload={"items": []})
    await client.results.list_page()
    assert sleeps.waits == [7.0]


async def test_retry_after_http_date_is_honoured(
    mock: aioresponses, client: NtrvstaClient, sleeps: RecordingSleep
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    mock.get(RESULTS, status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    mock.get(RESULTS, payload={"items": []})
    await client.results.list_page()
    (wait,) = sleeps.waits
    assert 27.0 <= wait <= 30.0


async def test_retry_after_beyond_cap_raises_at_once(
    mock: aioresponses, client: NtrvstaClient, sleeps: RecordingSleep
) -> None:
    mock.get(RESULTS, status=429, headers={"Retry-After": "3600"}, repeat=True)
    with pytest.raises(RateLimitError) as info:
        await client.results.list_page()
    assert info.value.retry_after == 3600.0
    assert info.value.attempts == 1
    assert sleeps.waits == []


async def test_template_without_posting_id_not_retried_after_send(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(TEMPLATES, status=503, repeat=True)
    with pytest.raises(ServerError) as info:
        await client.templates.create(title="x")
    assert info.value.attempts == 1
    mock.clear()
    mock.post(TEMPLATES, exception=aiohttp.ServerDisconnectedError(), repeat=True)
    with pytest.raises(APIConnectionError) as conn:
        await client.templates.create(title="x")
    assert conn.value.request_sent is True
    assert conn.value.attempts == 1


async def test_template_with_posting_id_is_retried(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(TEMPLATES, status=504)
    mock.post(TEMPLATES, exception=aiohttp.ServerDisconnectedError())
    mock.post(TEMPLATES, status=200, payload={"templateId": "t1"})
    template = await client.templates.create(title="x", external_posting_id="job-1")
    assert template.template_id == "t1"
    assert template.reused is True
    assert calls(mock) == 3


async def test_invitation_creation_is_retried(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.post(INVITATIONS, status=502)
    mock.post(INVITATIONS, status=201, payload={"invitationId": "i1"})
    invitation = await client.invitations.create(template_id="t", candidate={"email": "a@b.c"})
    assert invitation.invitation_id == "i1"
    assert calls(mock) == 2


async def test_escape_hatch_post_is_not_retried_but_get_is(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(f"{BASE}/v1/other", status=500, repeat=True)
    mock.get(f"{BASE}/v1/other", status=500)
    mock.get(f"{BASE}/v1/other", payload={"ok": True})
    with pytest.raises(ServerError):
        await client.request("POST", "/v1/other", json={"a": 1})
    assert await client.request("GET", "/v1/other") == {"ok": True}
    assert calls(mock) == 3


async def test_raw_mode_is_retried_like_any_call(
    mock: aioresponses, client: NtrvstaClient, sleeps: RecordingSleep
) -> None:
    mock.get(f"{BASE}/v1/other", status=503)
    mock.get(f"{BASE}/v1/other", payload={"ok": True}, headers={"X-Trace": "t2"})
    response = await client.request("GET", "/v1/other", raw=True)
    assert (response.status, response.data) == (200, {"ok": True})
    assert response.headers["X-Trace"] == "t2"
    assert calls(mock) == 2
    assert len(sleeps.waits) == 1


async def test_bad_request_is_not_retried(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(f"{RESULTS}?cursor=zzz", status=400, payload={"message": "bad cursor"}, repeat=True)
    with pytest.raises(BadRequestError):
        await client.results.list_page(cursor="zzz")
    assert calls(mock) == 1


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(initial_backoff=0.5, max_backoff=4.0, random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert RetryPolicy(random=lambda: 0.0).backoff(3) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12", 12.0), ("0", 0.0), ("-5", 0.0), ("1.5", 1.5), ("soon", None), ("nan", None)],
)
def test_parse_retry_after_seconds(value: str, expected: float | None) -> None:
    assert parse_retry_after({"Retry-After": value}) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    header = {"retry-after": "Thu, 01 Jan 2026 00:01:00 GMT"}
    assert parse_retry_after(header, now=now) == 60.0
    assert parse_retry_after({}, now=now) is None


def test_policy_rejects_negative_values() -> None:
    with pytest.raises(ConfigurationError, match="max_retries"):
        RetryPolicy(max_retries=-1)

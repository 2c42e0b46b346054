"""One error contract: only SDK errors escape, misuse has one rule, and errors say where."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from ntrvsta_async import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    Contract,
    InvalidArgumentError,
    NotFoundError,
    NtrvstaClient,
    NtrvstaError,
    ResultSummary,
    RetryPolicy,
    ServerError,
)
from ntrvsta_async.doctor import run_doctor
from ntrvsta_async.webhooks import WebhookVerifier, sign
from tests.conftest import RecordingSleep, serve

API_KEY = "ntr_test_contract_0123456789abcdef"
RESULTS = "/v1/interview-results"


@attrs.define
class Api:
    """A loopback API: every request is recorded and answered with ``status`` and ``body``."""

    base_url: str = ""
    status: int = 200
    body: Any = attrs.Factory(lambda: {"items": []})
    headers: dict[str, str] = attrs.Factory(dict)
    seen: list[web.Request] = attrs.Factory(list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request)
        return web.json_response(self.body, status=self.status, headers=self.headers)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    state = Api()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    async with serve(app) as url:
        state.base_url = url
        yield state


def _client(api: Api, *, max_retries: int = 2, **options: Any) -> NtrvstaClient:
    options.setdefault("base_url", api.base_url)
    policy = RetryPolicy(max_retries=max_retries, sleep=RecordingSleep(), random=lambda: 0.5)
    return NtrvstaClient(api_key=API_KEY, retry_policy=policy, **options)


# -- 3: a caller-owned session that raises for status ------------------------------------------


async def test_a_caller_session_raising_for_status_maps_a_404_and_sends_it_once(api: Api) -> None:
    api.status, api.body = 404, {"message": "no such route"}
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        _client(api, session=session) as client,
    ):
        with pytest.raises(NotFoundError) as info:
            await client.results.list_page()
    assert info.value.message == "no such route"
    assert len(api.seen) == 1


async def test_a_caller_session_raising_for_status_still_retries_a_503(api: Api) -> None:
    api.status = 503
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        _client(api, session=session, max_retries=2) as client,
    ):
        with pytest.raises(ServerError) as info:
            await client.results.list_page()
    assert info.value.attempts == len(api.seen) == 3


# -- 5 and 6: bad query values, methods and non-finite numbers never reach the wire -------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.request("GET", RESULTS, params={"a": object()}), id="object"),
        pytest.param(lambda c: c.request("GET", RESULTS, params={1: "x"}), id="int-name"),
        pytest.param(lambda c: c.request("GET", RESULTS, params=["a"]), id="not-a-mapping"),
        pytest.param(lambda c: c.request("GE T", RESULTS), id="method-with-space"),
        pytest.param(lambda c: c.request("GET\r\nX: y", RESULTS), id="method-with-newline"),
        pytest.param(lambda c: c.request("", RESULTS), id="empty-method"),
        pytest.param(lambda c: c.request("GET", "v1/x"), id="relative-path"),
        pytest.param(lambda c: c.request("POST", RESULTS, json={"s": math.nan}), id="nan-json"),
        pytest.param(
            lambda c: c.templates.create(title="t", extra_body={"score": float("nan")}),
            id="nan-extra-body",
        ),
        pytest.param(
            lambda c: c.invitations.create(
                template_id="t", candidate={"email": "a@b.c"}, extra_body={"w": [-math.inf]}
            ),
            id="infinity-extra-body",
        ),
    ],
)
async def test_bad_arguments_are_invalid_argument_errors_and_nothing_is_sent(
    api: Api, call: Callable[[NtrvstaClient], Any]
) -> None:
    async with _client(api) as client:
        with pytest.raises(InvalidArgumentError):
            await call(client)
    assert api.seen == []


async def test_a_none_query_value_is_left_out(api: Api) -> None:
    async with _client(api) as client:
        await client.request("get", RESULTS, params={"a": None, "b": 2, "c": True})
    (request,) = api.seen
    assert request.method == "GET"
    assert dict(request.query) == {"b": "2", "c": "true"}


# -- 7: one rule for misuse ----------------------------------------------------------------------


def bad(value: object) -> Any:
    """``value``, typed so that a deliberately wrong argument passes the type checker."""
    return value


MISUSE: list[Any] = [
    pytest.param(lambda: RetryPolicy(max_retries=-1), ConfigurationError, id="policy-retries"),
    pytest.param(
        lambda: RetryPolicy(initial_backoff=bad("1")), ConfigurationError, id="policy-type"
    ),
    pytest.param(
        lambda: RetryPolicy(retry_statuses=bad(5)), ConfigurationError, id="policy-statuses"
    ),
    pytest.param(lambda: RetryPolicy(sleep=bad(None)), ConfigurationError, id="policy-sleep"),
    pytest.param(lambda: Contract(results_path="v1/x"), ConfigurationError, id="contract-path"),
    pytest.param(lambda: Contract(page_items_keys=bad(5)), ConfigurationError, id="contract-keys"),
    pytest.param(lambda: Contract(param_limit=""), ConfigurationError, id="contract-param"),
    pytest.param(lambda: WebhookVerifier(bad(5)), ConfigurationError, id="verifier-secrets"),
    pytest.param(lambda: WebhookVerifier("s").verify(bad("{}"), {}), InvalidArgumentError),
    pytest.param(lambda: WebhookVerifier("s").verify(b"{}", bad(5)), InvalidArgumentError),
    pytest.param(lambda: sign(bad("{}"), "s"), InvalidArgumentError),
    pytest.param(lambda: sign(b"{}", "s", timestamp=bad("1")), InvalidArgumentError),
]


@pytest.mark.parametrize(("call", "error"), MISUSE)
def test_a_wrong_setting_is_a_configuration_error_and_a_wrong_argument_invalid(
    call: Callable[[], Any], error: type[NtrvstaError]
) -> None:
    with pytest.raises(error):
        call()


async def test_a_wrong_concurrency_for_a_call_is_an_invalid_argument(api: Api) -> None:
    async with _client(api) as client:
        with pytest.raises(InvalidArgumentError, match="concurrency"):
            client.invitations.create_many([], concurrency=0)


# -- 9 and 10: errors say where ------------------------------------------------------------------


async def test_status_errors_name_method_path_attempts_and_request_id(api: Api) -> None:
    api.status, api.body = 503, {"message": "down", "requestId": "req-body-1"}
    async with _client(api, base_url=f"{api.base_url}/dev", max_retries=1) as client:
        with pytest.raises(ServerError) as info:
            await client.results.list_page()
    error = info.value
    assert isinstance(error, APIError)
    assert (error.method, error.path, error.attempts) == ("GET", f"/dev{RESULTS}", 2)
    assert error.request_id == "req-body-1"
    assert str(error) == (
        f"GET /dev{RESULTS}: HTTP 503: down [request id req-body-1] (after 2 attempts)"
    )


async def test_a_request_id_header_wins_over_the_body(api: Api) -> None:
    api.status, api.body = 409, {"message": "taken", "requestId": "from-body"}
    api.headers = {"X-Request-Id": "from-header"}
    async with _client(api) as client:
        with pytest.raises(APIStatusError) as info:
            await client.templates.create(title="t")
    assert info.value.request_id == "from-header"


async def test_connection_errors_name_method_and_path() -> None:
    async with serve(web.Application()) as url:
        pass  # the port is free again: nothing listens
    async with NtrvstaClient(api_key=API_KEY, base_url=url, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.templates.create(title="t")
    error = info.value
    assert isinstance(error, APIError)
    assert (error.method, error.path, error.attempts) == ("POST", "/v1/templates", 1)
    assert str(error).startswith("POST /v1/templates: could not connect")


@pytest.mark.parametrize("base", ["https://x.test/v1", "https://x.test/dev/v1/", "http://[::1]/V1"])
def test_a_base_url_ending_in_v1_is_refused_saying_to_drop_it(base: str) -> None:
    with pytest.raises(ConfigurationError, match="drop it"):
        NtrvstaClient(api_key=API_KEY, base_url=base)


async def test_the_doctor_names_the_full_url_it_tried(api: Api) -> None:
    api.status = 404
    report = await run_doctor(API_KEY, f"{api.base_url}/stage")
    assert f"{api.base_url}/stage{RESULTS}" in report.finding("base-url").observed


# -- 11: every RFC 3339 form ---------------------------------------------------------------------


@st.composite
def rfc3339(draw: st.DrawFn) -> tuple[str, datetime]:
    """An RFC 3339 timestamp in any of its forms, and the instant it stands for."""
    offset = timedelta(minutes=draw(st.integers(-23 * 60 - 59, 23 * 60 + 59)))
    when = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    when = when.replace(tzinfo=timezone(offset))
    digits = draw(st.integers(0, 9))
    fraction = f"{when.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    expected = when.replace(microsecond=int(fraction[:6].ljust(6, "0")) if digits else 0)
    if offset or draw(st.booleans()):
        total = int(offset.total_seconds()) // 60
        zone = f"{'-' if total < 0 else '+'}{abs(total) // 60:02d}:{abs(total) % 60:02d}"
    else:
        zone = draw(st.sampled_from("Zz"))
    text = (
        f"{when.date().isoformat()}{draw(st.sampled_from('Tt'))}"
        f"{when.time().isoformat(timespec='seconds')}"
        f"{'.' + fraction if digits else ''}{zone}"
    )
    return text, expected


@given(rfc3339())
def test_every_rfc3339_form_parses(case: tuple[str, datetime]) -> None:
    text, expected = case
    parsed = ResultSummary.from_dict({"resultId": "r", "completedAt": text}).completed_datetime
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text", ["2016-12-31T23:59:60Z", "2016-12-31t23:59:60z", "2016-12-31T23:59:60.25+00:00"]
)
def test_a_leap_second_is_clamped_to_the_59th(text: str) -> None:
    parsed = ResultSummary.from_dict({"resultId": "r", "completedAt": text}).completed_datetime
    assert parsed is not None
    assert parsed.replace(microsecond=0) == datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)


# -- 12 and 13: lifecycle --------------------------------------------------------------------------


async def test_closing_a_derived_client_leaves_the_shared_pool_open(api: Api) -> None:
    async with _client(api) as client:
        async with client.with_options(timeout=5) as derived:
            await derived.results.list_page()
        await derived.close()
        assert not client.closed
        await client.results.list_page()
    assert client.closed
    assert len(api.seen) == 2


def test_a_plain_with_says_to_use_async_with() -> None:
    client = NtrvstaClient(api_key=API_KEY)
    with pytest.raises(InvalidArgumentError, match="use 'async with"):  # noqa: SIM117
        with client:
            pass


async def test_the_error_hierarchy() -> None:
    assert issubclass(APIConnectionError, APIError)
    assert issubclass(APIStatusError, APIError)
    assert issubclass(APIError, NtrvstaError)
    assert issubclass(InvalidArgumentError, TypeError)
    assert issubclass(InvalidArgumentError, ValueError)
    with contextlib.suppress(NtrvstaError):
        raise APIError("plain", method="GET", path="/v1/x")
    assert str(APIError("plain")) == "plain"

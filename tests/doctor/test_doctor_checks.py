"""The doctor's checks against hand-made servers: shapes the sandbox never produces."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ntrvsta_async import ConfigurationError, Contract
from ntrvsta_async.assumptions import DEFAULT_CONTRACT
from ntrvsta_async.doctor import (
    Status,
    contract_from_mapping,
    contract_overrides,
    load_contract,
    run_doctor,
)
from ntrvsta_async.doctor.probe import AuthForm, Exchange, Probe
from ntrvsta_async.doctor.traffic import check_latency, check_rate_limits
from ntrvsta_async.sandbox import SandboxServer
from tests.conftest import serve as serve_app

KEY = "ntr_live_checks_0123456789_SECRET"
ITEMS = [
    {"resultId": f"r{n}", "resultUrl": f"https://x/{n}", "overallScore": 50 + n} for n in range(3)
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(results: Handler, *, auth_echo: bool = False) -> AsyncIterator[str]:
    """A loopback server: 401 without the key (JSON echoing it when ``auth_echo``), else
    ``results`` answers ``GET /v1/interview-results``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        presented = request.headers.get("X-Ntrvsta-Api-Key")
        if presented != KEY:
            message = f"invalid key {presented}" if auth_echo else "Unauthorized"
            return web.json_response({"message": message}, status=401)
        return await results(request)

    app = web.Application()
    app.router.add_get("/v1/interview-results", handler)
    async with serve_app(app) as base_url:
        yield base_url


def _page(body: Any, **headers: str) -> Handler:
    async def results(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, headers=headers)

    return results


async def test_an_unknown_array_key_is_found_and_pinned() -> None:
    async with serve(_page({"rows": ITEMS, "more": False})) as url:
        report = await run_doctor(KEY, url)
    items = report.finding("page-items-key")
    assert items.status is Status.DIFFERS
    assert items.observed == "'rows' (3 results)"
    assert items.override == {"page_items_keys": ("rows",)}
    assert "fallback" not in (items.fix or "")
    assert report.suggested_contract().page_items_keys == ("rows",)


async def test_a_bare_array_needs_no_setting() -> None:
    async with serve(_page(ITEMS)) as url:
        report = await run_doctor(KEY, url)
    items = report.finding("page-items-key")
    assert items.status is Status.DIFFERS
    assert "bare JSON array of 3 results" in items.observed
    assert items.override == {}
    assert report.finding("second-page").status is Status.UNKNOWN


async def test_link_header_paging_is_named() -> None:
    async def results(request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("limit", "50"))
        link = '<https://x/v1/interview-results?page=2>; rel="next"'
        return web.json_response({"items": ITEMS[:size]}, headers={"Link": link})

    async with serve(results) as url:
        report = await run_doctor(KEY, url)
    cursor = report.finding("page-cursor-key")
    assert cursor.status is Status.DIFFERS
    assert "Link: rel=next" in cursor.observed
    assert report.finding("page-size-param").status is Status.OK


async def test_a_nested_token_cannot_be_an_override() -> None:
    async def results(request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("limit", "50"))
        return web.json_response({"items": ITEMS[:size], "paging": {"nextToken": "abc"}})

    async with serve(results) as url:
        report = await run_doctor(KEY, url)
    cursor = report.finding("page-cursor-key")
    assert cursor.status is Status.DIFFERS
    assert "nested at 'paging.nextToken'" in cursor.observed
    assert cursor.override == {}


async def test_missing_summary_fields_are_listed() -> None:
    items = [{"resultUrl": "https://x/1", "overallScore": 70, "score2": 1}]
    async with serve(_page({"items": items, "nextCursor": None})) as url:
        report = await run_doctor(KEY, url)
    summary = report.finding("summary-fields")
    assert summary.status is Status.DIFFERS
    assert summary.observed.startswith("missing: resultId, completedAt")
    assert "kept in ResultSummary.extra: score2" in summary.observed
    assert "falls back to resultUrl" in (summary.fix or "")


async def test_rate_limit_headers_are_reported() -> None:
    headers = {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99"}
    async with serve(_page({"items": [], "nextCursor": None}, **headers)) as url:
        report = await run_doctor(KEY, url)
    limits = report.finding("rate-limit-headers")
    assert limits.status is Status.DIFFERS
    assert "X-RateLimit-Limit: 100" in limits.observed
    assert "NtrvstaClient(rate_limit=N)" in (limits.fix or "")
    assert "RateLimit-Policy" in (limits.fix or "")


def test_retry_after_alone_is_what_the_sdk_expects() -> None:
    throttled = Exchange("GET", "/", {}, 429, headers=(("Retry-After", "2"),))
    finding = check_rate_limits([throttled, Exchange("GET", "/", {}, 200)])
    assert finding.status is Status.OK
    assert finding.observed == "Retry-After: 2; 1 response(s) were 429"


async def test_a_key_echoed_by_the_server_never_reaches_the_report() -> None:
    async def results(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": f"bad request for {KEY}"}, status=400)

    async with serve(results, auth_echo=True) as url:
        report = await run_doctor(KEY, url)
    endpoint = report.finding("results-endpoint")
    assert endpoint.status is Status.DIFFERS
    assert "bad request for" in endpoint.observed
    assert KEY not in report.to_json()


async def test_a_plain_text_401_is_an_error_shape_difference() -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=401, text="denied")

    app = web.Application()
    app.router.add_get("/v1/interview-results", handler)
    async with serve_app(app) as base_url:
        report = await run_doctor(KEY, base_url)
    shape = report.finding("error-shape")
    assert shape.status is Status.DIFFERS
    assert "text/plain, not a JSON object" in shape.observed
    assert report.finding("auth").status is Status.DIFFERS


async def test_slow_answers_suggest_a_longer_timeout() -> None:
    async with SandboxServer() as server, Probe(server.base_url, server.api_key) as probe:
        probe.auth = None
        finding = await check_latency(probe, DEFAULT_CONTRACT, 2, client_timeout=0.000_001)
    assert finding.status is Status.UNKNOWN

    async with SandboxServer() as server:
        probe = Probe(server.base_url, server.api_key, auth=AuthForm("X-Ntrvsta-Api-Key"))
        async with probe:
            finding = await check_latency(probe, DEFAULT_CONTRACT, 3, client_timeout=0.000_001)
    assert finding.status is Status.DIFFERS
    assert finding.client_options == {"timeout": 1}
    assert "over 3 GETs" in finding.observed


async def test_the_probe_records_each_reply_once_as_the_sdk_sent_it() -> None:
    seen: list[dict[str, str]] = []

    async def results(request: web.Request) -> web.StreamResponse:
        seen.append(dict(request.headers))
        if request.headers.get("Authorization") == f"Bearer {KEY}":
            return web.json_response({"items": []})
        if request.headers.get("X-Ntrvsta-Api-Key") != KEY:
            return web.json_response({"message": "Unauthorized"}, status=401)
        return web.json_response({"message": "busy"}, status=503, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_get("/v1/interview-results", results)
    async with (
        serve_app(app) as url,
        Probe(url, KEY, auth=AuthForm("X-Ntrvsta-Api-Key")) as probe,
    ):
        anonymous = await probe.send("GET", "/v1/interview-results", auth=None)
        busy = await probe.send("GET", "/v1/interview-results", params={"limit": "1"})
        bearer = await probe.send(
            "GET", "/v1/interview-results", auth=AuthForm("Authorization", bearer=True)
        )
    assert probe.exchanges == [anonymous, busy, bearer]
    assert len(seen) == 3, "a 503 with Retry-After: 0 is recorded, never retried"
    assert (anonymous.status, anonymous.body) == (401, {"message": "Unauthorized"})
    assert (busy.status, busy.header("retry-after"), busy.params) == (503, "0", {"limit": "1"})
    assert (bearer.ok, bearer.is_json) == (True, True)
    assert bearer.elapsed > 0
    keys = [(h.get("X-Ntrvsta-Api-Key"), h.get("Authorization")) for h in seen]
    assert keys == [(None, None), (KEY, None), (None, f"Bearer {KEY}")]
    assert all(headers["User-Agent"].startswith("ntrvsta-async/") for headers in seen)


async def test_the_probe_records_a_failure_to_connect_without_the_key() -> None:
    async with serve_app(web.Application()) as url:
        pass  # the port is free again: nothing listens there
    async with Probe(url, KEY, auth=AuthForm("X-Ntrvsta-Api-Key")) as probe:
        failed = await probe.send("GET", "/v1/interview-results")
    assert failed.status is None
    assert failed.describe().startswith("could not connect")
    assert KEY not in repr(probe.exchanges)


def test_contract_overrides_round_trip_through_json(tmp_path: Path) -> None:
    contract = Contract(page_items_keys=("results",), status_created=200, param_limit="size")
    overrides = contract_overrides(contract)
    data = json.loads(json.dumps(overrides))
    assert data == {"page_items_keys": ["results"], "param_limit": "size", "status_created": 200}
    assert contract_from_mapping(data) == contract
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_contract(path) == contract
    assert contract_overrides(DEFAULT_CONTRACT) == {}


def test_statuses_that_are_not_read_round_trip_as_null(tmp_path: Path) -> None:
    contract = Contract(status_created=None, status_reused=None)
    path = tmp_path / "contract.json"
    path.write_text(json.dumps(contract_overrides(contract)), encoding="utf-8")
    assert json.loads(path.read_text()) == {"status_created": None, "status_reused": None}
    assert load_contract(path) == contract


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"page_items": ["x"]}, "unknown contract field"),
        ({"status_created": True}, "status_created must be an integer or null"),
        ({"status_reused": "200"}, "status_reused must be an integer or null"),
        ({"status_reused": 404}, "status_reused must be a 2xx status code or None"),
        ({"page_items_keys": [1]}, "page_items_keys must be a list of strings"),
        ({"results_path": "v1/results"}, "invalid contract"),
        ({"api_key_header": 5}, "api_key_header must be a string"),
    ],
)
def test_bad_contract_data_is_a_configuration_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        contract_from_mapping(data)


def test_an_unreadable_contract_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read contract file"):
        load_contract(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="is not JSON"):
        load_contract(bad)


def _filtering(names: dict[str, str], *, unknown_posting_404: bool = False) -> Handler:
    """Results completed on 1 May 2020 (template tpl_1, posting job-1), filtered by the query
    names given (``{"since": "time", "template_id": "template"}``); other names are ignored."""
    records: list[dict[str, Any]] = [
        {**item, "completedAt": "2020-05-01T10:00:00Z", "templateId": "tpl_1"} for item in ITEMS
    ]

    async def results(request: web.Request) -> web.StreamResponse:
        kept = list(records)
        for name, value in request.query.items():
            what = names.get(name)
            if what == "time":
                kept = [r for r in kept if str(r["completedAt"]) >= value]
            elif what == "template":
                kept = [r for r in kept if r["templateId"] == value]
            elif what == "posting" and unknown_posting_404 and value != "job-1":
                return web.json_response({"message": "no such posting"}, status=404)
        return web.json_response({"items": kept, "nextCursor": None})

    return results


FILTER_CHECKS = ("filter-completed-after", "filter-template-id", "filter-external-posting-id")


async def test_filters_a_server_honours_are_ok() -> None:
    names = {"completedAfter": "time", "templateId": "template", "externalPostingId": "posting"}
    async with serve(_filtering(names, unknown_posting_404=True)) as url:
        report = await run_doctor(KEY, url)
    for check in FILTER_CHECKS:
        assert report.finding(check).status is Status.OK, report.finding(check)
    assert "returned no results" in report.finding("filter-template-id").observed
    assert "HTTP 404" in report.finding("filter-external-posting-id").observed


async def test_filters_read_under_other_names_become_overrides() -> None:
    names = {"since": "time", "template_id": "template"}
    async with serve(_filtering(names)) as url:
        report = await run_doctor(KEY, url)
    after = report.finding("filter-completed-after")
    assert after.status is Status.DIFFERS
    assert after.override == {"param_completed_after": "since"}
    assert "completedAfter: 3 result(s) although none can match" in after.observed
    assert report.finding("filter-template-id").override == {"param_template_id": "template_id"}
    posting = report.finding("filter-external-posting-id")
    assert posting.status is Status.DIFFERS
    assert posting.override == {}
    assert "filter on result.external_posting_id" in (posting.fix or "")
    contract = report.suggested_contract()
    assert (contract.param_completed_after, contract.param_template_id) == ("since", "template_id")


async def test_a_server_that_ignores_the_time_bound_is_named_with_the_client_side_filter() -> None:
    async with serve(_filtering({})) as url:
        report = await run_doctor(KEY, url)
    after = report.finding("filter-completed-after")
    assert after.status is Status.DIFFERS
    assert after.override == {}
    assert "drop older results themselves" in (after.fix or "")


async def test_filters_are_not_judged_without_results() -> None:
    async with serve(_page({"items": [], "nextCursor": None})) as url:
        report = await run_doctor(KEY, url)
    for check in FILTER_CHECKS:
        assert report.finding(check).status is Status.UNKNOWN
        assert "no results to filter" in report.finding(check).observed

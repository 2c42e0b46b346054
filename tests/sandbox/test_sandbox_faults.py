"""Fault plans: validation, determinism per seed, and each fault as the client sees it."""

from __future__ import annotations

import time

import aiohttp
import pytest

from ntrvsta_async import APIConnectionError, RateLimitError, ServerError
from ntrvsta_async.client import NtrvstaClient
from ntrvsta_async.sandbox import (
    ROUTES,
    FaultInjector,
    FaultPlan,
    RouteFaults,
    SandboxServer,
    WebhookFaults,
)
from ntrvsta_async.transport import RetryPolicy

NO_WAIT = RetryPolicy(max_retries=0, initial_backoff=0.0)
MIXED = RouteFaults(
    rate_429=0.1, rate_500=0.1, rate_502=0.1, rate_503=0.1, reset_rate=0.1, latency_jitter=0.01
)


def _client(server: SandboxServer, policy: RetryPolicy = NO_WAIT) -> NtrvstaClient:
    return NtrvstaClient(api_key=server.api_key, base_url=server.base_url, retry_policy=policy)


# The plan itself


@pytest.mark.parametrize(
    "make",
    [
        lambda: RouteFaults(rate_500=1.5),
        lambda: RouteFaults(rate_429=-0.1),
        lambda: RouteFaults(rate_500=0.6, rate_503=0.6),
        lambda: RouteFaults(latency=-1),
        lambda: RouteFaults(retry_after=-1),
        lambda: WebhookFaults(drop_rate=2),
        lambda: FaultPlan(routes={"nope": RouteFaults()}),
    ],
)
def test_invalid_plans_are_refused(make: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        make()  # type: ignore[operator]


def test_route_override_and_default() -> None:
    special = RouteFaults(rate_503=1.0)
    plan = FaultPlan(default=RouteFaults(rate_429=0.5), routes={"results": special})
    assert plan.for_route("results") is special
    assert plan.for_route("templates") == RouteFaults(rate_429=0.5)
    assert set(ROUTES) == {"templates", "invitations", "results"}


def _sequence(plan: FaultPlan, count: int = 300) -> list[tuple[str, str, float]]:
    injector = FaultInjector(plan)
    out = []
    for n in range(count):
        route = ROUTES[n % 3]
        fault = injector.next_request(route)
        out.append((route, fault.kind, fault.delay))
    out.extend(("webhook", repr(injector.next_webhook()), 0.0) for _ in range(50))
    return out


def test_same_seed_same_sequence_different_seed_different() -> None:
    webhooks = WebhookFaults(drop_rate=0.2, duplicate_rate=0.2, delay_rate=0.2, reorder_rate=0.2)
    plan = FaultPlan(seed=42, default=MIXED, webhooks=webhooks)
    first = _sequence(plan)
    assert first == _sequence(FaultPlan(seed=42, default=MIXED, webhooks=webhooks))
    assert first != _sequence(FaultPlan(seed=43, default=MIXED, webhooks=webhooks))
    kinds = {kind for route, kind, _ in first if route != "webhook"}
    assert kinds == {"ok", "429", "500", "502", "503", "reset"}
    assert len({kind for route, kind, _ in first if route == "webhook"}) > 3


def test_each_route_has_its_own_stream() -> None:
    plan = FaultPlan(seed=7, default=MIXED)
    alone = FaultInjector(plan)
    only_results = [alone.next_request("results").kind for _ in range(50)]
    mixed = FaultInjector(plan)
    interleaved = []
    for _ in range(50):
        mixed.next_request("templates")
        interleaved.append(mixed.next_request("results").kind)
        mixed.next_webhook()
    assert interleaved == only_results


def test_rates_are_roughly_honoured() -> None:
    injector = FaultInjector(FaultPlan(seed=1, default=RouteFaults(rate_503=0.25)))
    kinds = [injector.next_request("templates").kind for _ in range(4000)]
    assert 0.22 < kinds.count("503") / len(kinds) < 0.28


# Through the server


async def _raw_outcomes(plan: FaultPlan, count: int) -> tuple[list[str], tuple[object, ...]]:
    outcomes: list[str] = []
    async with SandboxServer(faults=plan) as server:
        headers = {"X-Ntrvsta-Api-Key": server.api_key}
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for n in range(count):
                try:
                    async with http.post(
                        f"{server.base_url}/v1/templates",
                        json={"title": f"T{n}"},
                        headers=headers,
                    ) as response:
                        outcomes.append(str(response.status))
                except aiohttp.ClientConnectionError:
                    outcomes.append("reset")
        return outcomes, server.injected_faults


async def test_server_fault_sequence_is_reproducible() -> None:
    plan = FaultPlan(seed=99, default=MIXED)
    first, first_log = await _raw_outcomes(plan, 60)
    again, again_log = await _raw_outcomes(plan, 60)
    other, _ = await _raw_outcomes(FaultPlan(seed=100, default=MIXED), 60)
    assert first == again
    assert first_log == again_log
    assert first != other
    assert {"201", "429", "500", "502", "503", "reset"} <= set(first)
    # The server applies exactly the injector's sequence for the route, request by request.
    injector = FaultInjector(plan)
    expected = [injector.next_request("templates").kind for _ in range(60)]
    assert [("201" if kind == "ok" else kind) for kind in expected] == first


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (429, "rate_limited"),
        (500, "internal_error"),
        (502, "bad_gateway"),
        (503, "service_unavailable"),
    ],
)
async def test_injected_status_has_a_json_body(status: int, code: str) -> None:
    route = RouteFaults(**{f"rate_{status}": 1.0})  # type: ignore[arg-type]
    async with (
        SandboxServer(faults=FaultPlan(default=route)) as server,
        aiohttp.ClientSession() as http,
        http.get(
            f"{server.base_url}/v1/interview-results",
            headers={"X-Ntrvsta-Api-Key": server.api_key},
        ) as response,
    ):
        assert response.status == status
        assert (await response.json())["code"] == code
        assert ("Retry-After" in response.headers) == (status == 429)


async def test_429_carries_retry_after_to_the_client() -> None:
    plan = FaultPlan(default=RouteFaults(rate_429=1.0, retry_after=7))
    async with SandboxServer(faults=plan) as server, _client(server) as client:
        with pytest.raises(RateLimitError) as info:
            await client.templates.create(title="T", external_posting_id="p")
    assert info.value.retry_after == 7.0
    assert info.value.headers.get("Retry-After") == "7"


async def test_client_retries_through_transient_faults() -> None:
    plan = FaultPlan(seed=3, default=RouteFaults(rate_502=0.2, rate_503=0.2, reset_rate=0.1))
    policy = RetryPolicy(max_retries=12, initial_backoff=0.0)
    async with SandboxServer(faults=plan) as server, _client(server, policy) as client:
        created = [
            await client.templates.create(title="T", external_posting_id=f"p{n}") for n in range(25)
        ]
        counts = server.request_counts
        injected = [f for f in server.injected_faults if f.kind != "ok"]
    assert len({t.template_id for t in created}) == 25
    assert len(injected) > 0
    assert counts["templates"] >= 25 + len(injected)
    assert len(server.templates) == 25


async def test_persistent_errors_surface_with_attempt_count() -> None:
    plan = FaultPlan(default=RouteFaults(rate_500=1.0))
    policy = RetryPolicy(max_retries=2, initial_backoff=0.0)
    async with SandboxServer(faults=plan) as server, _client(server, policy) as client:
        with pytest.raises(ServerError) as info:
            await client.templates.create(title="T", external_posting_id="p")
        assert server.request_counts["templates"] == 3
    assert (info.value.status, info.value.attempts) == (500, 3)


async def test_connection_reset_is_a_connection_error() -> None:
    plan = FaultPlan(default=RouteFaults(reset_rate=1.0))
    async with SandboxServer(faults=plan) as server, _client(server) as client:
        with pytest.raises(APIConnectionError):
            await client.results.list_page()
        assert server.injected_faults[0].kind == "reset"


async def test_latency_is_added() -> None:
    plan = FaultPlan(routes={"results": RouteFaults(latency=0.25)})
    async with SandboxServer(faults=plan) as server, _client(server) as client:
        started = time.monotonic()
        await client.results.list_page()
        slow = time.monotonic() - started
        started = time.monotonic()
        await client.templates.create(title="fast")
        fast = time.monotonic() - started
    assert slow >= 0.25
    assert fast < 0.2


async def test_route_specific_faults_leave_other_routes_alone() -> None:
    plan = FaultPlan(routes={"results": RouteFaults(rate_503=1.0)})
    async with SandboxServer(faults=plan) as server, _client(server) as client:
        template = await client.templates.create(title="ok")
        with pytest.raises(ServerError):
            await client.results.list_page()
    assert template.reused is False

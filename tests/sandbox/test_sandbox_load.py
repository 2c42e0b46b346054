"""1,000 concurrent requests against one sandbox, all answered correctly and quickly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

from ntrvsta_async import Candidate
from ntrvsta_async.client import NtrvstaClient
from ntrvsta_async.sandbox import FaultPlan, RouteFaults, SandboxServer

CONCURRENCY = 1000
HOLD = 0.3


async def test_1000_concurrent_raw_requests_are_all_served() -> None:
    # Each request is held HOLD seconds, so finishing quickly proves they were served together.
    plan = FaultPlan(default=RouteFaults(latency=HOLD))
    async with SandboxServer(faults=plan) as server:
        headers = {"X-Ntrvsta-Api-Key": server.api_key}
        async with (
            aiohttp.ClientSession(headers=headers) as setup,
            setup.post(f"{server.base_url}/v1/templates", json={"title": "Load"}) as response,
        ):
            template_id = (await response.json())["templateId"]
        go = asyncio.Event()
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=60)

        async def one(http: aiohttp.ClientSession, n: int) -> tuple[int, dict[str, Any]]:
            await go.wait()
            kind = n % 3
            if kind == 0:
                request = http.post(
                    f"{server.base_url}/v1/templates",
                    json={"title": "Load", "externalPostingId": f"post-{n % 50}"},
                )
            elif kind == 1:
                request = http.post(
                    f"{server.base_url}/v1/interview-invitations",
                    json={"templateId": template_id, "candidate": {"email": f"u{n % 200}@x.io"}},
                )
            else:
                request = http.get(f"{server.base_url}/v1/interview-results", params={"limit": 5})
            async with request as response:
                return response.status, await response.json()

        async with aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=timeout
        ) as http:
            tasks = [asyncio.create_task(one(http, n)) for n in range(CONCURRENCY)]
            await asyncio.sleep(0)
            started = time.monotonic()
            go.set()
            async with asyncio.timeout(30):
                outcomes = await asyncio.gather(*tasks)
            elapsed = time.monotonic() - started

        statuses = [status for status, _ in outcomes]
        assert set(statuses) <= {200, 201}, sorted(set(statuses))
        assert len(outcomes) == CONCURRENCY
        assert sum(server.request_counts.values()) == CONCURRENCY + 1
        # Create-or-reuse held under concurrency: one object per key, no duplicates.
        postings = {body["externalPostingId"]: body["templateId"] for _, body in outcomes[0::3]}
        assert len(postings) == 50
        assert len(server.templates) == 1 + 50
        emails = {body["candidate"]["email"]: body["invitationId"] for _, body in outcomes[1::3]}
        assert len(emails) == 200
        assert len(server.invitations) == 200
        assert statuses[0::3].count(201) == 50
        assert statuses[1::3].count(201) == 200
        assert elapsed < CONCURRENCY * HOLD / 20


async def test_1000_concurrent_sdk_calls_succeed() -> None:
    async with (
        SandboxServer() as server,
        NtrvstaClient(
            api_key=server.api_key, base_url=server.base_url, max_connections=CONCURRENCY
        ) as client,
    ):
        template = await client.templates.create(title="Load", external_posting_id="load")

        async def invite(n: int) -> str:
            invitation = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email=f"sdk{n}@x.io")
            )
            assert invitation.reused is False
            return invitation.invitation_id

        async with asyncio.timeout(30):
            ids = await asyncio.gather(*(invite(n) for n in range(CONCURRENCY)))
        assert len(set(ids)) == CONCURRENCY
        assert len(server.invitations) == CONCURRENCY

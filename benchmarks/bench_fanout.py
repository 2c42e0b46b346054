"""Fan-out: ``create_many`` invitations/s against a hand-written aiohttp loop, same concurrency.

Both sides post the same JSON bodies with the same headers, pool and timeout to the same
loopback server (a child process answering with a canned invitation), read each answer and
decode it; the SDK also builds its models, checks arguments and runs its retry machinery.
The same comparison against ``SandboxServer`` is shown for reference: the sandbox does far
more per request (validation, create-or-reuse state) and is then the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from typing import Final

import aiohttp

from benchmarks._common import (
    API_KEY,
    Verdict,
    compare,
    floor_verdict,
    in_fresh_processes,
    loopback_server,
    median_run,
    ratio_line,
    raw_session,
    report,
)
from ntrvsta_async import Candidate, InvitationRequest, NtrvstaClient

__all__ = ["main", "measure"]

CONCURRENCY: Final = 16
PER_ROUND: Final = 2000
ROUNDS: Final = 21
TARGET: Final = 0.80
SANDBOX_PER_ROUND: Final = 2000


def _requests(template_id: str, count: int, start: int) -> Iterator[InvitationRequest]:
    for n in range(start, start + count):
        yield InvitationRequest(template_id, Candidate(email=f"candidate{n}@example.com"))


async def _sdk_round(
    client: NtrvstaClient, template_id: str, count: int, start: int
) -> tuple[int, float]:
    ok = 0
    began = time.perf_counter()
    async for outcome in client.invitations.create_many(
        _requests(template_id, count, start), concurrency=CONCURRENCY
    ):
        ok += outcome.ok
    elapsed = time.perf_counter() - began
    if ok != count:
        raise RuntimeError(f"create_many: {count - ok} of {count} failed")
    return ok, elapsed


async def _raw_round(
    session: aiohttp.ClientSession, url: str, template_id: str, count: int, start: int
) -> tuple[int, float]:
    headers = {
        "Accept": "application/json",
        "X-Ntrvsta-Api-Key": API_KEY,
        "Content-Type": "application/json; charset=utf-8",
    }
    inputs = iter(range(start, start + count))
    ok = 0

    async def worker() -> None:
        nonlocal ok
        for n in inputs:
            body = {"templateId": template_id, "candidate": {"email": f"candidate{n}@example.com"}}
            payload = json.dumps(body, separators=(",", ":")).encode()
            async with session.post(url, data=payload, headers=headers) as response:
                raw = await response.read()
                if response.status >= 300:
                    raise RuntimeError(f"HTTP {response.status}")
            ok += "invitationId" in json.loads(raw)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return ok, time.perf_counter() - began


async def measure(
    base_url: str, *, per_round: int = PER_ROUND, rounds: int = ROUNDS
) -> dict[str, float]:
    """Interleaved rounds of both sides: best and median invitations/s, CPU us per invitation."""
    counter = iter(range(0, 10**9, per_round))
    url = f"{base_url}/v1/interview-invitations"
    async with (
        raw_session() as session,
        NtrvstaClient(api_key=API_KEY, base_url=base_url) as client,
    ):
        template = await client.templates.create(title="Bench", external_posting_id="bench")
        template_id = template.template_id
        return await compare(
            lambda: _sdk_round(client, template_id, per_round, next(counter)),
            lambda: _raw_round(session, url, template_id, per_round, next(counter)),
            rounds=rounds,
        )


def _measure_once(base_url: str) -> dict[str, float]:
    return asyncio.run(measure(base_url))


def verdict(runs: list[dict[str, float]], sandbox: dict[str, float] | None = None) -> Verdict:
    """Format the figures and judge the median paired ratio against the regression floor."""
    figures, ratios = median_run(runs)
    ratio_text, ratio = ratio_line(ratios, TARGET)
    lines = [
        f"create_many  : {figures['sdk_best']:8.0f} invitations/s best"
        f" ({figures['sdk_median']:.0f} median); {figures['sdk_cpu_us']:.1f} us CPU each",
        f"raw aiohttp  : {figures['raw_best']:8.0f} invitations/s best"
        f" ({figures['raw_median']:.0f} median); {figures['raw_cpu_us']:.1f} us CPU each",
        ratio_text,
        f"per request  : concurrency {CONCURRENCY} both;"
        f" SDK CPU {figures['sdk_cpu_us'] - figures['raw_cpu_us']:+.1f} us per invitation",
    ]
    if sandbox is not None:
        sandbox_ratio = sandbox["sdk_best"] / sandbox["raw_best"]
        lines.append(
            f"on SandboxServer instead: create_many {sandbox['sdk_best']:.0f}/s,"
            f" raw {sandbox['raw_best']:.0f}/s (ratio {sandbox_ratio:.3f})"
        )
    return floor_verdict("fan-out (create_many)", lines, ratio, TARGET)


def main() -> int:
    """Run the fan-out benchmark (and, for comparison, the same against the sandbox)."""
    with loopback_server("api") as base_url:
        runs = in_fresh_processes(_measure_once, base_url)
    with loopback_server("sandbox") as base_url:
        sandbox = asyncio.run(measure(base_url, per_round=SANDBOX_PER_ROUND, rounds=3))
    return report(verdict(runs, sandbox))


if __name__ == "__main__":
    sys.exit(main())

"""Fan-out at the server's quota: ``create_many`` against a loop that sleeps each Retry-After.

The loopback server (its own process, ``_server.py quota``) admits requests through a token
bucket (burst 50) and answers ``429`` with ``Retry-After: 1`` beyond it. Each client starts
fresh, knowing nothing of the quota. Efficiency is the ideal time (invitations / quota)
over the measured time; the 429 share is the server's count of refused requests over all
it answered. The hand-written loop (each request sleeping its own Retry-After, the usual
recipe) runs for a fixed time and is judged on what it got done in it. Also measured: a
quota that changes mid-run, a server with latency and no quota (where the concurrency asked
for is the limit), and the cost of the controller when no quota is ever met.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

import aiohttp
import attrs

from benchmarks._common import API_KEY, Verdict, interleaved, loopback_server, report
from ntrvsta_async import Candidate, InvitationRequest, NtrvstaClient

__all__ = ["Steady", "main", "measure_change", "measure_latency", "measure_steady"]

QUOTAS: Final = (50, 200, 1000)
CONCURRENCIES: Final = (16, 64)
SECONDS: Final = 12.0
"""Ideal duration of a steady run (invitations = quota x SECONDS, at least ``AT_LEAST``)."""
AT_LEAST: Final = 2000
"""Invitations of a steady run at the least: the bulk job this benchmark stands for."""
SETTLED: Final = 2.0
"""Seconds after which the first wave (sent before any 429 was seen) has been answered."""
LOOP_SECONDS: Final = 6.0
"""How long the hand-written loop runs at each quota."""
CHANGE: Final = ((200.0, 8.0), (50.0, 8.0), (400.0, 14.0))
"""The changing quota: (requests per second, seconds) phases."""
LATENCIES: Final = (0.02, 0.05, 0.1)
LATENCY_CONCURRENCIES: Final = (16, 64, 256)
LATENCY_ROUNDS: Final = 30
LATENCY_JUDGED_RATE: Final = 1000.0
"""Requests per second above which a latency cell is bound by the client's CPU here."""
TARGET_EFFICIENCY: Final = 0.90
TARGET_REFUSED: Final = 0.05
TARGET_SETTLE: Final = 3.0
TARGET_RISE: Final = 10.0
TARGET_UNLIMITED: Final = 0.95
UNLIMITED_PER_ROUND: Final = 2000
UNLIMITED_ROUNDS: Final = 21


@attrs.frozen
class Steady:
    """One run against a steady quota."""

    quota: float
    concurrency: int
    done: int
    failed: int
    seconds: float
    admitted: int
    refused: int
    late_refused: int = 0
    """429s after the first ``SETTLED`` seconds (the first wave and its retries are over)."""
    late_total: int = 0

    @property
    def efficiency(self) -> float:
        """Ideal time over measured time."""
        return self.done / self.quota / self.seconds

    @property
    def refused_share(self) -> float:
        """The share of answers that were 429."""
        total = self.admitted + self.refused
        return self.refused / total if total else 0.0

    @property
    def late_share(self) -> float:
        """The share of answers that were 429 after the first ``SETTLED`` seconds."""
        return self.late_refused / self.late_total if self.late_total else 0.0


def _requests(count: int | None) -> Iterator[InvitationRequest]:
    n = 0
    while count is None or n < count:
        yield InvitationRequest("tpl_bench", Candidate(email=f"candidate{n}@example.com"))
        n += 1


async def _control(
    session: aiohttp.ClientSession,
    base_url: str,
    rate: float,
    latency: float = 0.0,
    *,
    keep: bool = False,
) -> None:
    query = {"rate": str(rate), "latency": str(latency), "keep": "1" if keep else "0"}
    async with session.post(f"{base_url}/control", params=query) as response:
        response.raise_for_status()


async def _stats(session: aiohttp.ClientSession, base_url: str) -> tuple[list[float], list[float]]:
    async with session.get(f"{base_url}/stats") as response:
        data = await response.json()
    return data["admitted"], data["refused"]


async def _sdk_run(
    base_url: str, count: int | None, concurrency: int, seconds: float | None = None
) -> tuple[int, int, float]:
    """Invitations done and failed by a fresh client's ``create_many``, and the time taken."""
    done = failed = 0
    async with NtrvstaClient(api_key=API_KEY, base_url=base_url) as client:
        began = time.perf_counter()
        run = client.invitations.create_many(_requests(count), concurrency=concurrency)
        async for outcome in run:
            done += outcome.ok
            failed += not outcome.ok
            if seconds is not None and time.perf_counter() - began >= seconds:
                break
        elapsed = time.perf_counter() - began
    return done, failed, elapsed


async def _loop_run(
    session: aiohttp.ClientSession,
    base_url: str,
    concurrency: int,
    seconds: float | None,
    count: int = 10**9,
) -> tuple[int, float]:
    """A hand-written fan-out of ``count`` for at most ``seconds``: each 429 sleeps its
    Retry-After and retries."""
    url = f"{base_url}/v1/interview-invitations"
    headers = {"X-Ntrvsta-Api-Key": API_KEY, "Content-Type": "application/json"}
    numbers = iter(range(count))
    done = 0

    async def worker() -> None:
        nonlocal done
        for n in numbers:
            body = json.dumps({"templateId": "tpl_bench", "candidate": {"email": f"c{n}@x.io"}})
            while True:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 429:
                        break
                    wait = float(response.headers.get("Retry-After", "1"))
                await asyncio.sleep(wait)
            done += 1

    began = time.perf_counter()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    await asyncio.wait(tasks, timeout=seconds)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return done, time.perf_counter() - began


async def _session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))


async def measure_steady(
    base_url: str,
    quota: float,
    concurrency: int,
    *,
    seconds: float = SECONDS,
    at_least: int = AT_LEAST,
) -> Steady:
    """A fresh client's ``create_many`` of ``quota * seconds`` invitations (``at_least`` at
    the least) at ``quota``."""
    async with await _session() as session:
        await _control(session, base_url, quota)
        count = max(at_least, round(quota * seconds))
        done, failed, elapsed = await _sdk_run(base_url, count, concurrency)
        admitted, refused = await _stats(session, base_url)
    return _steady(quota, concurrency, done, failed, elapsed, admitted, refused)


def _steady(
    quota: float,
    concurrency: int,
    done: int,
    failed: int,
    elapsed: float,
    admitted: Sequence[float],
    refused: Sequence[float],
) -> Steady:
    late_refused = sum(1 for t in refused if t >= SETTLED)
    late = late_refused + sum(1 for t in admitted if t >= SETTLED)
    return Steady(
        quota, concurrency, done, failed, elapsed, len(admitted), len(refused), late_refused, late
    )


async def measure_loop(
    base_url: str, quota: float, concurrency: int, *, seconds: float = LOOP_SECONDS
) -> Steady:
    """The hand-written loop for ``seconds`` at ``quota``."""
    async with await _session() as session:
        await _control(session, base_url, quota)
        done, elapsed = await _loop_run(session, base_url, concurrency, seconds)
        admitted, refused = await _stats(session, base_url)
    return _steady(quota, concurrency, done, 0, elapsed, admitted, refused)


def _settle(refused: Sequence[float], start: float, end: float) -> float:
    """Seconds from ``start`` to the last 429 before the first second without one."""
    last = start
    for stamp in sorted(t for t in refused if start <= t < end):
        if stamp - last >= 1.0:
            break
        last = stamp
    return last - start


def _rise(admitted: Sequence[float], start: float, end: float, rate: float) -> float | None:
    """Seconds from ``start`` until a second in which at least 90% of ``rate`` was admitted."""
    stamps = sorted(t for t in admitted if start <= t < end)
    j = 0
    for i, stamp in enumerate(stamps):
        while stamps[j] < stamp - 1.0:
            j += 1
        if stamp - start >= 1.0 and i - j + 1 >= 0.9 * rate:
            return stamp - start
    return None


async def measure_change(
    base_url: str, concurrency: int, *, phases: Sequence[tuple[float, float]] = CHANGE, sdk: bool
) -> dict[str, float]:
    """A quota changing through ``phases``: efficiency, settling after the drop, rise time."""
    async with await _session() as session:
        await _control(session, base_url, phases[0][0])

        total = sum(seconds for _, seconds in phases)
        changer = asyncio.create_task(_changes(session, base_url, phases))
        if sdk:
            done, _, elapsed = await _sdk_run(base_url, None, concurrency, total)
        else:
            done, elapsed = await _loop_run(session, base_url, concurrency, total)
        await changer
        admitted, refused = await _stats(session, base_url)
    ideal = sum(rate * seconds for rate, seconds in phases)
    bounds = _bounds(phases)
    drop_start, drop_end = bounds[1]
    rise_start, rise_end = bounds[2]
    rise = _rise(admitted, rise_start, rise_end, phases[2][0])
    return {
        "efficiency": done / ideal * total / elapsed,
        "refused_share": len(refused) / max(1, len(admitted) + len(refused)),
        "settle": _settle(refused, drop_start, drop_end),
        "rise": rise if rise is not None else float("inf"),
    }


def _bounds(phases: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    out, start = [], 0.0
    for _, seconds in phases:
        out.append((start, start + seconds))
        start += seconds
    return out


async def _changes(
    session: aiohttp.ClientSession, base_url: str, phases: Sequence[tuple[float, float]]
) -> None:
    began = time.monotonic()
    for (rate, _), (start, _) in list(zip(phases, _bounds(phases), strict=True))[1:]:
        await asyncio.sleep(max(0.0, began + start - time.monotonic()))
        await _control(session, base_url, rate, keep=True)


async def measure_latency(
    base_url: str, latency: float, concurrency: int, *, rounds: int = LATENCY_ROUNDS
) -> tuple[float, float]:
    """Efficiency (ideal time over measured) of ``create_many`` and of a hand-written loop at
    the same concurrency, against a server answering after ``latency`` seconds."""
    count = concurrency * rounds
    async with await _session() as session:
        await _control(session, base_url, 0.0, latency)
        done, _, elapsed = await _sdk_run(base_url, count, concurrency)
        raw_done, raw_elapsed = await _loop_run(session, base_url, concurrency, None, count)
    ideal = latency / concurrency
    return done * ideal / elapsed, raw_done * ideal / raw_elapsed


async def measure_unlimited(
    base_url: str, *, per_round: int = UNLIMITED_PER_ROUND, rounds: int = UNLIMITED_ROUNDS
) -> float:
    """Paired ratio of the default client's fan-out rate to one with pacing off (no quota)."""
    async with (
        await _session() as session,
        NtrvstaClient(api_key=API_KEY, base_url=base_url) as adaptive,
        NtrvstaClient(api_key=API_KEY, base_url=base_url, rate_limit=None) as off,
    ):
        await _control(session, base_url, 0.0)

        def side(client: NtrvstaClient) -> Any:
            async def run() -> tuple[int, float]:
                began = time.perf_counter()
                result = await client.invitations.create_many(_requests(per_round))
                return len(result.succeeded), time.perf_counter() - began

            return run

        rates = await interleaved({"adaptive": side(adaptive), "off": side(off)}, rounds=rounds)
    return statistics.median(
        a / b for a, b in zip(rates["adaptive"].samples, rates["off"].samples, strict=True)
    )


def verdict(
    steady: Sequence[Steady],
    loops: Sequence[Steady],
    change: dict[str, float],
    change_loop: dict[str, float],
    latency: dict[tuple[float, int], tuple[float, float]],
    unlimited: float,
) -> Verdict:
    """Format every figure and judge them against the targets."""
    lines = [
        "quota  conc  create_many: efficiency  429s (after 2 s)  failed"
        "   hand-written loop: efficiency  429s"
    ]
    met = True
    for run in steady:
        loop = next(
            (x for x in loops if (x.quota, x.concurrency) == (run.quota, run.concurrency)), None
        )
        ok = run.efficiency >= TARGET_EFFICIENCY and run.refused_share <= TARGET_REFUSED
        met &= ok and run.failed == 0
        loop_text = f"{loop.efficiency:.2f}  {loop.refused_share:5.1%}" if loop is not None else "-"
        lines.append(
            f"{run.quota:5.0f}  {run.concurrency:4d}  {run.efficiency:22.2f}"
            f"  {run.refused_share:5.1%} ({run.late_share:4.1%})  {run.failed:6d}"
            f"   {loop_text:>30}{'' if ok else '   MISSED'}"
        )
    change_ok = change["settle"] <= TARGET_SETTLE and change["rise"] <= TARGET_RISE
    met &= change_ok
    phases = " -> ".join(f"{rate:.0f}" for rate, _ in CHANGE)
    lines.append(
        f"quota {phases} req/s: create_many efficiency {change['efficiency']:.2f},"
        f" {change['refused_share']:.1%} 429s, 429s stop {change['settle']:.1f} s after the"
        f" drop (target <= {TARGET_SETTLE:.0f}), rise reached in {change['rise']:.1f} s"
        f" (target <= {TARGET_RISE:.0f})"
    )
    lines.append(
        f"{'':{len(phases) + 12}}hand-written loop efficiency {change_loop['efficiency']:.2f},"
        f" {change_loop['refused_share']:.1%} 429s, stop {change_loop['settle']:.1f} s,"
        f" rise {change_loop['rise']:.1f} s"
    )
    lines.append(
        "latency, no quota: create_many / hand-written loop efficiency (ideal = rounds of"
        " latency); * = over 1,000 req/s, bound by the client CPU here, not judged"
    )
    lines.append("          " + "  ".join(f"conc {c:3d}   " for c in LATENCY_CONCURRENCIES))
    for lat in LATENCIES:
        cells = []
        for c in LATENCY_CONCURRENCIES:
            sdk, raw = latency[(lat, c)]
            judged = c / lat <= LATENCY_JUDGED_RATE
            met &= sdk >= TARGET_EFFICIENCY or not judged
            cells.append(f"{sdk:4.2f} / {raw:4.2f}{' ' if judged else '*'}")
        lines.append(f"{lat * 1000:4.0f} ms    " + "  ".join(cells))
    met &= unlimited >= TARGET_UNLIMITED
    lines.append(
        f"no quota: adaptive client / rate_limit=None = {unlimited:.3f}"
        f" (target >= {TARGET_UNLIMITED})"
    )
    return Verdict(
        name="fan-out at a quota (create_many)",
        lines=tuple(lines),
        met=met,
        summary=(
            f"efficiency >= {TARGET_EFFICIENCY} with <= {TARGET_REFUSED:.0%} 429s at every"
            f" quota, settle <= {TARGET_SETTLE:.0f} s, rise <= {TARGET_RISE:.0f} s,"
            f" latency-bound >= {TARGET_EFFICIENCY}, no-quota ratio >= {TARGET_UNLIMITED}"
        ),
    )


async def measure(base_url: str) -> Verdict:
    """Every figure of this benchmark, against one quota server."""
    steady = [
        await measure_steady(base_url, quota, concurrency)
        for quota in QUOTAS
        for concurrency in CONCURRENCIES
    ]
    loops = [
        await measure_loop(base_url, quota, concurrency)
        for quota in QUOTAS
        for concurrency in CONCURRENCIES
    ]
    change = await measure_change(base_url, 64, sdk=True)
    change_loop = await measure_change(base_url, 64, sdk=False)
    latency = {
        (lat, c): await measure_latency(base_url, lat, c)
        for lat in LATENCIES
        for c in LATENCY_CONCURRENCIES
    }
    unlimited = await measure_unlimited(base_url)
    return verdict(steady, loops, change, change_loop, latency, unlimited)


def main() -> int:
    """Run the quota benchmark."""
    with loopback_server("quota") as base_url:
        return report(asyncio.run(measure(base_url)))


if __name__ == "__main__":
    sys.exit(main())

"""Memory: peak RSS of the poller over N results and of ``create_many`` over N generated inputs.

Each run is a fresh child process (so peaks never carry over), against the ``api`` loopback
server in another process, for N = 10,000 and N = 100,000. Two figures per run:

- peak RSS (``ru_maxrss``) of the whole process, and its growth during the work;
- peak of Python allocations during the work (``tracemalloc``, in a separate run).

Flat means the 100,000 run's peak RSS stays within 8 MiB of the 10,000 run's and its
tracemalloc peak within 1.25x + 256 KiB: growth is O(page + concurrency), not O(N).

The poller runs with an inbox that grants every claim and stores only checkpoints, so the
figure is the SDK's own working set (client, poller, pages, models). ``MemoryInbox`` keeps
every handled key by design; its cost per key is measured separately and reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any, Final

from benchmarks._common import API_KEY, ROOT, Verdict, loopback_server, report
from ntrvsta_async import Candidate, InvitationRequest, NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import Claim, ClaimState, Inbox, MemoryInbox, ResultKeys, ResultPoller

__all__ = ["CheckpointOnlyInbox", "main"]

SIZES: Final = (10_000, 100_000)
RSS_SLACK_MIB: Final = 8.0
TRACE_FACTOR: Final = 1.25
TRACE_SLACK: Final = 256 * 1024
CONCURRENCY: Final = 16


class CheckpointOnlyInbox(Inbox):
    """An ``Inbox`` that grants every claim and remembers only checkpoints: constant memory."""

    def __init__(self) -> None:
        self._checkpoints: dict[str, str] = {}

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """Always ``CLAIMED``."""
        return Claim(ClaimState.CLAIMED, "token")

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """Always held."""
        return True

    async def complete(self, keys: ResultKeys, token: str) -> None:
        """Forget the key."""

    async def release(self, keys: ResultKeys, token: str) -> None:
        """Forget the key."""

    async def is_done(self, keys: ResultKeys) -> bool:
        """Never done: nothing is remembered."""
        return False

    async def get_checkpoint(self, name: str) -> str | None:
        """The stored checkpoint."""
        return self._checkpoints.get(name)

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """Store the checkpoint."""
        self._checkpoints[name] = value
        return True

    async def close(self) -> None:
        """Nothing to release."""


def _requests(count: int) -> Iterator[InvitationRequest]:
    for n in range(count):
        yield InvitationRequest("tpl_bench", Candidate(email=f"candidate{n}@example.com"))


async def _poller(client: NtrvstaClient, size: int, inbox: Inbox) -> int:
    handled = 0

    async def handle(result: ResultSummary) -> None:
        nonlocal handled
        handled += 1

    poller = ResultPoller(client, handle, inbox=inbox, page_size=100, concurrency=8)
    report_ = await poller.run_once()
    if report_.error or report_.handled != size:
        raise RuntimeError(f"poller: {report_}")
    return handled


async def _create_many(client: NtrvstaClient, size: int) -> int:
    ok = 0
    outcomes: AsyncIterator[Any] = aiter(
        client.invitations.create_many(_requests(size), concurrency=CONCURRENCY)
    )
    async for outcome in outcomes:
        ok += outcome.ok
    if ok != size:
        raise RuntimeError(f"create_many: {size - ok} failed")
    return ok


async def _child(scenario: str, size: int, base_url: str, trace: bool) -> dict[str, float]:
    async with NtrvstaClient(api_key=API_KEY, base_url=f"{base_url}/n{size}") as client:
        inbox: Inbox = MemoryInbox() if scenario == "poller-memoryinbox" else CheckpointOnlyInbox()
        before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if trace:
            tracemalloc.start()
        began = time.perf_counter()
        if scenario == "create_many":
            done = await _create_many(client, size)
        else:
            done = await _poller(client, size, inbox)
        seconds = time.perf_counter() - began
        peak_trace = tracemalloc.get_traced_memory()[1] if trace else 0
        after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await inbox.close()
    return {
        "done": done,
        "seconds": seconds,
        "rss_before_mib": before_kib / 1024,
        "rss_peak_mib": after_kib / 1024,
        "trace_peak_bytes": peak_trace,
    }


def _run_child(scenario: str, size: int, base_url: str, *, trace: bool) -> dict[str, float]:
    command = [sys.executable, "-m", "benchmarks.bench_memory", "--child", scenario, str(size)]
    command += [base_url, *(["--trace"] if trace else [])]
    output = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        command, cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def measure(base_url: str) -> dict[str, dict[int, dict[str, float]]]:
    """Every scenario at every size: RSS figures from one child, tracemalloc from another."""
    results: dict[str, dict[int, dict[str, float]]] = {}
    for scenario in ("poller", "create_many"):
        for size in SIZES:
            figures = _run_child(scenario, size, base_url, trace=False)
            figures["trace_peak_bytes"] = _run_child(scenario, size, base_url, trace=True)[
                "trace_peak_bytes"
            ]
            results.setdefault(scenario, {})[size] = figures
    for size in SIZES:
        results.setdefault("poller-memoryinbox", {})[size] = _run_child(
            "poller-memoryinbox", size, base_url, trace=True
        )
    return results


def verdict(results: dict[str, dict[int, dict[str, float]]]) -> Verdict:
    """Format the figures and judge flatness of both scenarios."""
    small, large = SIZES
    lines: list[str] = []
    met = True
    for scenario in ("poller", "create_many"):
        a, b = results[scenario][small], results[scenario][large]
        rss_growth = b["rss_peak_mib"] - a["rss_peak_mib"]
        trace_ratio = b["trace_peak_bytes"] / max(a["trace_peak_bytes"], 1)
        flat = rss_growth <= RSS_SLACK_MIB and b["trace_peak_bytes"] <= (
            TRACE_FACTOR * a["trace_peak_bytes"] + TRACE_SLACK
        )
        met = met and flat
        for size, figures in ((small, a), (large, b)):
            lines.append(
                f"{scenario:11s} {size:>7,}: peak RSS {figures['rss_peak_mib']:6.1f} MiB"
                f" (+{figures['rss_peak_mib'] - figures['rss_before_mib']:4.1f} MiB during the"
                f" work), tracemalloc peak {figures['trace_peak_bytes'] / 1024:7.0f} KiB,"
                f" {figures['done'] / figures['seconds']:6.0f}/s"
            )
        lines.append(
            f"{scenario:11s} growth 10x N: RSS {rss_growth:+.1f} MiB (limit +{RSS_SLACK_MIB:g}),"
            f" tracemalloc x{trace_ratio:.2f} (limit x{TRACE_FACTOR} + 256 KiB)"
            f" -> {'flat' if flat else 'NOT FLAT'}"
        )
    a, b = results["poller-memoryinbox"][small], results["poller-memoryinbox"][large]
    per_key = (b["trace_peak_bytes"] - a["trace_peak_bytes"]) / (large - small)
    lines.append(
        f"MemoryInbox (grows by design): tracemalloc peak {a['trace_peak_bytes'] / 2**20:.1f} MiB"
        f" at {small:,}, {b['trace_peak_bytes'] / 2**20:.1f} MiB at {large:,}:"
        f" about {per_key:.0f} bytes per handled key"
    )
    return Verdict(
        name="memory (poller, create_many)",
        lines=tuple(lines),
        met=met,
        summary="flat from 10,000 to 100,000" if met else "memory grows with N",
    )


def main() -> int:
    """Run the memory benchmark (or, with ``--child``, one measured run); 0 when flat."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=3, metavar=("SCENARIO", "SIZE", "BASE_URL"))
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.child:
        scenario, size, base_url = args.child
        print(json.dumps(asyncio.run(_child(scenario, int(size), base_url, args.trace))))
        return 0
    with loopback_server("api") as base_url:
        results = measure(base_url)
    return report(verdict(results))


if __name__ == "__main__":
    sys.exit(main())

"""Where the SDK's time goes: the SDK side of one benchmark, sampled by pyinstrument.

``python -m benchmarks.profile fanout|polling|verify`` (``make profile WHAT=fanout``) runs
what the benchmark measures on the SDK side, against the same loopback server, after a
warm-up, and prints the functions that spent the most time themselves, then the call tree.
``--html FILE`` also writes pyinstrument's interactive page. Every task on the loop is
sampled, so the fan-out's workers count as much as the consumer. Needs pyinstrument
(``pip install 'ntrvsta-async[dev]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from benchmarks import bench_fanout, bench_polling, bench_webhooks
from benchmarks._common import API_KEY, SECRET, loopback_server
from ntrvsta_async import NtrvstaClient
from ntrvsta_async.webhooks import WebhookVerifier, sign

if TYPE_CHECKING:
    from pyinstrument import Profiler

__all__ = ["TARGETS", "main", "profile"]

TARGETS: Final = ("fanout", "polling", "verify")
SIZES: Final = {"fanout": 20_000, "polling": 400_000, "verify": 200_000}
TOP: Final = 25


async def _fanout(
    base_url: str, size: int, sampled: Callable[[Awaitable[object]], Awaitable[None]]
) -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url=base_url) as client:
        template = await client.templates.create(title="Profile", external_posting_id="profile")
        tid = template.template_id
        await bench_fanout._sdk_round(client, tid, max(size // 10, 1), 0)
        await sampled(bench_fanout._sdk_round(client, tid, size, size))


async def _polling(
    base_url: str, size: int, sampled: Callable[[Awaitable[object]], Awaitable[None]]
) -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url=base_url) as client:
        await bench_polling._sdk_round(client, max(size // 10, bench_polling.PAGE_SIZE))
        await sampled(bench_polling._sdk_round(client, size))


async def _verify(
    _: str, size: int, sampled: Callable[[Awaitable[object]], Awaitable[None]]
) -> None:
    verifier = WebhookVerifier(SECRET)
    body = bench_webhooks.event_body(1)
    signature = sign(body, SECRET, timestamp=int(time.time()))

    async def verify_all(count: int) -> None:
        for _ in range(count):
            verifier.verify(body, signature)

    await verify_all(max(size // 10, 1))
    await sampled(verify_all(size))


_RUNS: Final = {"fanout": _fanout, "polling": _polling, "verify": _verify}


def profile(target: str, size: int | None = None, *, interval: float = 0.0005) -> Profiler:
    """Run ``target``'s SDK side under a started-and-stopped profiler and return it."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=interval, async_mode="disabled")

    async def sampled(work: Awaitable[object]) -> None:
        profiler.start()
        try:
            await work
        finally:
            profiler.stop()

    run = _RUNS[target]
    count = SIZES[target] if size is None else size
    if target == "verify":
        asyncio.run(run("", count, sampled))
    else:
        with loopback_server("api") as base_url:
            asyncio.run(run(base_url, count, sampled))
    return profiler


def self_times(profiler: Profiler) -> list[str]:
    """One line per function, most self time first: seconds, share, function and place."""
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return []
    spent: dict[tuple[str, str], float] = {}
    stack = [root]
    while stack:
        frame = stack.pop()
        stack.extend(child for child in frame.children if not child.is_synthetic)
        where = (frame.function or "?", f"{frame.file_path_short}:{frame.line_no}")
        spent[where] = spent.get(where, 0.0) + frame.total_self_time
    total = root.time or 1.0
    ranked = sorted(spent.items(), key=lambda item: item[1], reverse=True)
    return [
        f"{seconds:8.3f} s {seconds / total:6.1%}  {function}  {where}"
        for (function, where), seconds in ranked
    ]


def main(argv: list[str] | None = None) -> int:
    """Profile one benchmark's SDK side and print where its time goes."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    parser.add_argument("target", choices=TARGETS)
    parser.add_argument("--size", type=int, help="operations sampled (after a tenth as warm-up)")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's page to this file")
    args = parser.parse_args(argv)
    try:
        profiler = profile(args.target, args.size)
    except ImportError:
        print("profiling needs pyinstrument: pip install 'ntrvsta-async[dev]'", file=sys.stderr)
        return 2
    print(f"{args.target}: where the time goes (self time, top {TOP})")
    for line in self_times(profiler)[:TOP]:
        print(line)
    print(profiler.output_text(show_all=False))
    if args.html is not None:
        args.html.write_text(profiler.output_html(), encoding="utf-8")
        print(f"interactive page written to {args.html}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

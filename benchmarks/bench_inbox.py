"""Inbox backends: results handled per second end to end through ``ResultPoller``.

One ``run_once()`` pass over ``TOTAL`` new results from the loopback API server (in its own
process), with a no-op handler, ``concurrency=16`` and pages of 100, for each backend in
the same run: ``MemoryInbox``, ``SQLiteInbox`` (a file in WAL mode), ``RedisInbox`` and
``PostgresInbox`` in transactional mode (each handler runs inside the transaction that
writes its done mark). Redis and PostgreSQL are started on loopback in temporary
directories, PostgreSQL with its default durability (fsync and synchronous commit on);
a backend whose server binary is missing is reported as skipped. Each round starts from an
empty inbox; the figure is the best of ``ROUNDS`` rounds, the median beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Final

from benchmarks._common import API_KEY, Rates, Verdict, loopback_server, report
from ntrvsta_async import NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import (
    Inbox,
    MemoryInbox,
    PostgresInbox,
    RedisInbox,
    ResultPoller,
    SQLiteInbox,
)

__all__ = ["main", "measure"]

TOTAL: Final = 5000
ROUNDS: Final = 3
CONCURRENCY: Final = 16
TARGET: Final = 1000.0
"""Results per second the PostgreSQL inbox must reach."""

InboxFactory = Callable[[int], Inbox]
"""A fresh, empty inbox for round ``n``."""


async def _noop(result: ResultSummary) -> None:
    """The handler: nothing of its own, so the figure is the SDK's and the store's cost."""


async def _round(base_url: str, inbox: Inbox, total: int) -> float:
    async with NtrvstaClient(api_key=API_KEY, base_url=f"{base_url}/n{total}") as client:
        poller = ResultPoller(
            client, _noop, inbox=inbox, concurrency=CONCURRENCY, page_size=100, name="bench"
        )
        began = time.perf_counter()
        report_ = await poller.run_once()
        seconds = time.perf_counter() - began
    if report_.handled != total or report_.error:
        raise RuntimeError(f"a round handled {report_.handled} of {total}: {report_.error}")
    return total / seconds


async def measure(
    base_url: str, backends: dict[str, InboxFactory], *, total: int = TOTAL, rounds: int = ROUNDS
) -> dict[str, Rates]:
    """Rates per backend, the backends' rounds interleaved so that load hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in backends}
    for n in range(rounds):
        for name, factory in backends.items():
            async with factory(n) as inbox:
                samples[name].append(await _round(base_url, inbox, total))
    return {name: Rates(tuple(values)) for name, values in samples.items()}


@contextlib.contextmanager
def _redis(workdir: Path) -> Iterator[str | None]:
    from tests.support.redis_support import RedisProcess

    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    server = RedisProcess(binary, workdir, persistent=False)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def _postgres() -> AsyncIterator[str | None]:
    from tests.support.postgres_support import find_bindir, start_cluster

    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    cluster = start_cluster(bindir, durable=True)
    try:
        yield await cluster.new_database()
    finally:
        cluster.stop()


def backends(
    workdir: Path, redis_url: str | None, postgres_dsn: str | None
) -> dict[str, InboxFactory]:
    """The backends to compare; one that has no server here is left out."""
    found: dict[str, InboxFactory] = {
        "memory": lambda n: MemoryInbox(),
        "sqlite": lambda n: SQLiteInbox(workdir / f"inbox{n}.sqlite3"),
    }
    if redis_url is not None:
        found["redis"] = lambda n: RedisInbox(redis_url, prefix=f"bench{n}:")
    if postgres_dsn is not None:
        found["postgresql"] = lambda n: PostgresInbox(
            postgres_dsn, table_prefix=f"bench{n}_", max_connections=CONCURRENCY + 2
        )
    return found


def verdict(rates: dict[str, Rates], *, total: int = TOTAL) -> Verdict:
    """Format the figures and judge PostgreSQL against the target."""
    lines = [
        f"{name:10s} : {rate.best:8.0f} results/s best ({rate.median:.0f} median)"
        for name, rate in rates.items()
    ]
    lines += [
        f"{name:10s} : skipped (no server binary)"
        for name in ("redis", "postgresql")
        if name not in rates
    ]
    lines.append(f"{total} results per round, concurrency {CONCURRENCY}, no-op handler")
    postgres = rates.get("postgresql")
    if postgres is None:
        return Verdict("inbox backends (poller end to end)", tuple(lines), False, "no PostgreSQL")
    return Verdict(
        name="inbox backends (poller end to end)",
        lines=tuple(lines),
        met=postgres.best >= TARGET,
        summary=f"PostgreSQL {postgres.best:.0f} results/s vs target >= {TARGET:.0f}",
    )


async def _main() -> int:
    with (
        tempfile.TemporaryDirectory(prefix="ntrvsta-bench-") as tmp,
        loopback_server("api") as base_url,
        _redis(Path(tmp)) as redis_url,
    ):
        async with _postgres() as postgres_dsn:
            rates = await measure(base_url, backends(Path(tmp), redis_url, postgres_dsn))
    return report(verdict(rates))


def main() -> int:
    """Run the comparison and print the verdict; 0 when PostgreSQL met the target."""
    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())

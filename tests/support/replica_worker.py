"""One replica for the multi-process Redis and PostgreSQL tests: a poller on a shared inbox
that polls only while it holds the shared lease, until SIGTERM.

Usage: python -m tests.replica_worker BASE_URL STORE_URL LOG_PATH [options] (key in
NTRVSTA_API_KEY); STORE_URL is redis://... (RedisInbox, RedisLease) or postgresql://...
(PostgresInbox, PostgresLease). It appends to LOG_PATH, one line per event, times in Unix seconds:

    ready PID
    end KEY EPOCH TIME                          a handler finished
    pass LEADER PAGES HANDLED START END ERROR   a poller pass (LEADER 1 or 0; ERROR or -)
    stopped PID
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from datetime import timedelta
from typing import TextIO

from ntrvsta_async import NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import (
    Inbox,
    PostgresInbox,
    PostgresLease,
    ReconcileReport,
    RedisInbox,
    RedisLease,
    RenewingLease,
    ResultPoller,
)


def store(url: str, ttl: float) -> tuple[Inbox, RenewingLease]:
    """The inbox and lease that ``url`` names."""
    if url.startswith("postgresql://"):
        return PostgresInbox(url), PostgresLease(url, "poller", ttl=ttl)
    return RedisInbox(url), RedisLease(url, "poller", ttl=ttl)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.replica_worker")
    parser.add_argument("base_url")
    parser.add_argument("redis_url")
    parser.add_argument("log")
    parser.add_argument("--ttl", type=float, default=1.0, help="lease ttl, seconds")
    parser.add_argument("--interval", type=float, default=0.2, help="poll interval, seconds")
    parser.add_argument("--claim-ttl", type=float, default=2.0)
    parser.add_argument("--work", type=float, default=0.002, help="seconds per handler")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--page-size", type=int, default=100)
    return parser.parse_args(argv)


async def main(args: argparse.Namespace, log: TextIO) -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    shared_inbox, shared_lease = store(args.redis_url, args.ttl)
    async with (
        NtrvstaClient(base_url=args.base_url) as client,
        shared_inbox as inbox,
        shared_lease as lease,
    ):

        async def handler(result: ResultSummary) -> None:
            await asyncio.sleep(args.work)
            log.write(f"end {result.key} {lease.epoch or '-'} {time.time():.6f}\n")

        def on_report(report: ReconcileReport) -> None:
            end = time.time()
            start = end - report.duration.total_seconds()
            error = (report.error or "-").replace("\n", " ")
            log.write(
                f"pass {int(report.leader)} {report.pages} {report.handled}"
                f" {start:.6f} {end:.6f} {error}\n"
            )

        poller = ResultPoller(
            client,
            handler,
            inbox=inbox,
            lease=lease,
            interval=args.interval,
            concurrency=args.concurrency,
            page_size=args.page_size,
            claim_ttl=args.claim_ttl,
            lookback=timedelta(seconds=1),
            on_report=on_report,
        )
        async with poller:
            log.write(f"ready {os.getpid()}\n")
            await stop.wait()
    log.write(f"stopped {os.getpid()}\n")
    return 0


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    with open(arguments.log, "a", buffering=1) as log_file:
        sys.exit(asyncio.run(main(arguments, log_file)))

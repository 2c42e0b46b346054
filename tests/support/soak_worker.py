"""A poller process for the chaos soak: background passes on a shared SQLite inbox until SIGTERM.

Usage: python -m tests.soak_worker BASE_URL INBOX_PATH LOG_PATH (key in NTRVSTA_API_KEY).
Each handled result adds ``start <key>`` to LOG_PATH and, once its handler is done,
``end <key>``, written through to disk before the poller marks the result done. SIGTERM
stops the poller (in-flight handlers drain), closes the client and the inbox, and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from typing import TextIO

from ntrvsta_async import NtrvstaClient, ResultSummary, RetryPolicy
from ntrvsta_async.reconcile import ReconcileReport, ResultPoller, SQLiteInbox

CLAIM_TTL = 2.0
"""Seconds before a killed predecessor's claims are taken over."""
CONCURRENCY = 8
"""Handlers in flight at once: the most a kill can catch between end and done mark."""


def append(log: TextIO, line: str, *, durable: bool = False) -> None:
    """Add one line to the log; ``durable`` waits until it is on disk."""
    log.write(line + "\n")
    log.flush()
    if durable:
        os.fsync(log.fileno())


async def main(base_url: str, inbox_path: str, log: TextIO) -> int:
    """Poll until SIGTERM; 0 on a clean stop."""
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)

    async def handler(result: ResultSummary) -> None:
        append(log, f"start {result.key}")
        await asyncio.sleep(0.01)
        append(log, f"end {result.key}", durable=True)

    def on_report(report: ReconcileReport) -> None:
        print(
            f"pages={report.pages} seen={report.seen} handled={report.handled}"
            f" duplicates={report.skipped_duplicates} in_progress={report.in_progress}"
            f" failed={report.failed} error={report.error}",
            flush=True,
        )

    policy = RetryPolicy(max_retries=10, initial_backoff=0.01, max_backoff=0.2)
    async with (
        NtrvstaClient(base_url=base_url, retry_policy=policy) as client,
        SQLiteInbox(inbox_path) as inbox,
    ):
        poller = ResultPoller(
            client,
            handler,
            inbox=inbox,
            interval=0.2,
            jitter=0.0,
            concurrency=CONCURRENCY,
            page_size=50,
            claim_ttl=CLAIM_TTL,
            lookback=timedelta(seconds=5),
            on_report=on_report,
            name="soak",
        )
        async with poller:
            await stopping.wait()
    return 0


if __name__ == "__main__":
    with open(sys.argv[3], "a", buffering=1) as log_file:
        sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], log_file)))

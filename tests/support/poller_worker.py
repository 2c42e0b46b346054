"""A poller process for the crash tests: passes into a log file, on a SQLite inbox.

Usage: python -m tests.poller_worker BASE_URL INBOX_PATH LOG_PATH (key in NTRVSTA_API_KEY).
It repeats passes, as a deployed poller would on its interval, until nothing is left
in progress (claims of a killed predecessor expire after ``CLAIM_TTL`` seconds).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TextIO

from ntrvsta_async import NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import ResultPoller, SQLiteInbox

CLAIM_TTL = 1.0


async def main(base_url: str, inbox_path: str, log: TextIO) -> int:
    async def handler(result: ResultSummary) -> None:
        log.write(f"start {result.key}\n")
        await asyncio.sleep(0.002)
        log.write(f"end {result.key}\n")
        log.flush()
        os.fsync(log.fileno())

    async with NtrvstaClient(base_url=base_url) as client, SQLiteInbox(inbox_path) as inbox:
        poller = ResultPoller(
            client, handler, inbox=inbox, concurrency=4, page_size=20, claim_ttl=CLAIM_TTL
        )
        for _ in range(10):
            report = await poller.run_once()
            print(f"handled={report.handled} in_progress={report.in_progress}", flush=True)
            if not report.ok:
                return 1
            if report.in_progress == 0:
                return 0
            await asyncio.sleep(CLAIM_TTL)
    return 1


if __name__ == "__main__":
    with open(sys.argv[3], "a", buffering=1) as log_file:
        sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], log_file)))

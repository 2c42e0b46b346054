"""A service process for the PostgreSQL crash tests: a webhook receiver and a poller on one
transactional ``PostgresInbox``, whose handler inserts a row per result into ``handled``.

Usage: python -m tests.postgres_worker BASE_URL DSN PORT LOG [--kill MODE --kill-at N]
(key in NTRVSTA_API_KEY, webhook secret in NTRVSTA_WEBHOOK_SECRET). It logs ``ready PID``,
and with ``--kill`` kills itself with SIGKILL around the N-th handler call, logging
``kill MODE KEY`` first:

- ``before-commit``: right after that handler's insert, inside its open transaction;
- ``at-commit``: while the server runs that transaction's COMMIT (its row makes a deferred
  trigger sleep 0.5 s at commit time; the kill comes 0.2 s after the handler returns);
- ``after-commit``: as soon as that result is done, while the poller's page is still being
  handled, so before the poller records its progress.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from datetime import timedelta
from typing import TextIO

from aiohttp import web

from ntrvsta_async import NtrvstaClient, ResultCompletedEvent, ResultSummary, RetryPolicy
from ntrvsta_async.reconcile import PostgresInbox, ResultPoller, current_connection
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks

MODES = ("before-commit", "at-commit", "after-commit")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.postgres_worker")
    parser.add_argument("base_url")
    parser.add_argument("dsn")
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--kill", choices=MODES)
    parser.add_argument("--kill-at", type=int, default=1)
    return parser.parse_args(argv)


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(args: argparse.Namespace, log: TextIO) -> int:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    calls = 0
    watchers: set[asyncio.Task[None]] = set()
    policy = RetryPolicy(max_retries=10, initial_backoff=0.01, max_backoff=0.2)

    async with (
        NtrvstaClient(base_url=args.base_url, retry_policy=policy) as client,
        PostgresInbox(args.dsn) as inbox,
    ):

        async def after_commit(key: str) -> None:
            while not await inbox.is_done(key):  # noqa: ASYNC110 - another task commits it
                await asyncio.sleep(0.002)
            die()

        async def record(key: str, path: str) -> None:
            nonlocal calls
            calls += 1
            kill = args.kill if calls == args.kill_at else None
            await current_connection().execute(
                "INSERT INTO handled (result_id, path, pid, slow) VALUES ($1, $2, $3, $4)",
                key,
                path,
                os.getpid(),
                kill == "at-commit",
            )
            if kill is None:
                return
            log.write(f"kill {kill} {key}\n")
            log.flush()
            if kill == "before-commit":
                die()
            elif kill == "at-commit":
                threading.Timer(0.2, die).start()
            else:
                watcher = asyncio.create_task(after_commit(key))
                watchers.add(watcher)

        async def on_event(event: ResultCompletedEvent) -> None:
            await record(event.key, "webhook")

        async def on_result(result: ResultSummary) -> None:
            await record(result.key, "poller")

        app = web.Application()
        setup_webhooks(
            app, WebhookVerifier(os.environ["NTRVSTA_WEBHOOK_SECRET"]), on_event, inbox=inbox
        )
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        poller = ResultPoller(
            client,
            on_result,
            inbox=inbox,
            interval=0.2,
            concurrency=4,
            page_size=50,
            lookback=timedelta(seconds=2),
        )
        try:
            async with poller:
                log.write(f"ready {os.getpid()}\n")
                log.flush()
                await stop.wait()
        finally:
            await runner.cleanup()
    log.write(f"stopped {os.getpid()}\n")
    return 0


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    with open(arguments.log, "a", buffering=1) as log_file:
        sys.exit(asyncio.run(main(arguments, log_file)))

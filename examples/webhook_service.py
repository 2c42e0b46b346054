"""An aiohttp service that receives ``result.completed`` webhooks and reconciles in the same app.

The webhook route and the ``ResultPoller`` share one SQLite inbox, so every result is handled
once, whichever path sees it first: the webhook when it arrives, the poller when it was lost.
Each handled result becomes one line of a JSONL file. SIGINT or SIGTERM shut the service
down gracefully: the route stops taking deliveries, running handlers and the poller finish,
then the client and the inbox close.

    export NTRVSTA_API_KEY=... NTRVSTA_WEBHOOK_SECRET=...
    python examples/webhook_service.py --port 8080 --out results.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import attrs
from aiohttp import web

from ntrvsta_async import ConfigurationError, NtrvstaClient, ResultCompletedEvent, ResultSummary
from ntrvsta_async.reconcile import ResultPoller, SQLiteInbox
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks


@attrs.frozen
class Config:
    """What the service needs; ``api_key`` and ``base_url`` default to the client's env vars."""

    verifier: WebhookVerifier
    inbox: Path
    out: Path
    api_key: str | None = None
    base_url: str | None = None
    interval: float = 60.0


class ResultLog:
    """Appends one JSON line per handled result; the lock keeps lines whole."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = asyncio.Lock()

    async def write(self, record: dict[str, object]) -> None:
        """Append ``record`` as one line."""
        line = json.dumps(record, separators=(",", ":")) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._append, line)

    def _append(self, line: str) -> None:
        with self._path.open("a", encoding="utf-8") as file:
            file.write(line)


def build_app(config: Config) -> web.Application:
    """The application: ``POST /webhooks`` plus the poller, both tied to the app's lifetime."""
    app = web.Application()
    inbox = SQLiteInbox(config.inbox)
    log = ResultLog(config.out)

    async def on_event(event: ResultCompletedEvent) -> None:
        scoring = event.ai_analysis.scoring if event.ai_analysis else None
        await log.write(
            {
                "key": event.key,
                "source": "webhook",
                "score": scoring.overall_score if scoring else None,
            }
        )

    async def on_result(result: ResultSummary) -> None:
        await log.write({"key": result.key, "source": "poller", "score": result.overall_score})

    setup_webhooks(app, config.verifier, on_event, inbox=inbox)

    async def client_and_poller(app: web.Application) -> AsyncIterator[None]:
        async with NtrvstaClient(api_key=config.api_key, base_url=config.base_url) as client:
            poller = ResultPoller(client, on_result, inbox=inbox, interval=config.interval)
            async with poller:
                yield
        await inbox.close()

    app.cleanup_ctx.append(client_and_poller)
    return app


def parse_args(argv: Sequence[str] | None = None) -> tuple[Config, str, int]:
    """The configuration, host and port from the command line and the environment."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--secret",
        action="append",
        help="webhook signing secret (repeat while rotating); default NTRVSTA_WEBHOOK_SECRET"
        " (several separated by commas and/or spaces)",
    )
    parser.add_argument("--inbox", type=Path, default=Path("ntrvsta-inbox.sqlite3"))
    parser.add_argument("--out", type=Path, default=Path("results.jsonl"))
    parser.add_argument("--interval", type=float, default=60.0, help="seconds between polls")
    parser.add_argument("--base-url", help="default NTRVSTA_BASE_URL, else production")
    parser.add_argument("--api-key", help="default NTRVSTA_API_KEY")
    args = parser.parse_args(argv)
    try:
        verifier = WebhookVerifier(args.secret) if args.secret else WebhookVerifier.from_env()
    except ConfigurationError as exc:
        parser.error(f"give --secret or set NTRVSTA_WEBHOOK_SECRET ({exc})")
    config = Config(
        verifier=verifier,
        inbox=args.inbox,
        out=args.out,
        api_key=args.api_key,
        base_url=args.base_url,
        interval=args.interval,
    )
    return config, args.host, args.port


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM, then shut down gracefully."""
    config, host, port = parse_args(argv)
    web.run_app(build_app(config), host=host, port=port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

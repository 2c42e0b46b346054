"""A FastAPI service that receives ``result.completed`` webhooks and reconciles in the same app.

``POST /webhooks`` is a ``WebhookReceiver`` routed with ``add_route`` (the exact path: a
``mount`` would redirect ``/webhooks`` to ``/webhooks/``, which senders do not follow). It
and the ``ResultPoller`` share one SQLite inbox, so every result is handled once, whichever
path sees it first. Each handled result becomes one line of a JSONL file. The lifespan
starts the poller; on shutdown the receiver drains its running handlers, the poller stops,
then the client and the inbox close.

    pip install fastapi uvicorn
    export NTRVSTA_API_KEY=... NTRVSTA_WEBHOOK_SECRET=...
    python examples/fastapi_service.py --port 8080 --out results.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import attrs
import uvicorn
from fastapi import FastAPI

from ntrvsta_async import ConfigurationError, NtrvstaClient, ResultCompletedEvent, ResultSummary
from ntrvsta_async.reconcile import ResultPoller, SQLiteInbox
from ntrvsta_async.webhooks import WebhookReceiver, WebhookVerifier


@attrs.frozen
class Config:
    """What the service needs; ``api_key`` and ``base_url`` default to the client's env vars."""

    verifier: WebhookVerifier
    inbox: Path
    out: Path
    api_key: str | None = None
    base_url: str | None = None
    interval: float = 60.0


def build_app(config: Config) -> FastAPI:
    """The application: ``POST /webhooks``, ``GET /health`` and the poller in the lifespan."""
    inbox = SQLiteInbox(config.inbox)
    lock = asyncio.Lock()

    async def record(key: str, source: str, score: float | None) -> None:
        line = json.dumps({"key": key, "source": source, "score": score}) + "\n"
        async with lock:  # one whole line at a time
            await asyncio.to_thread(append, config.out, line)

    async def on_event(event: ResultCompletedEvent) -> None:
        scoring = event.ai_analysis.scoring if event.ai_analysis else None
        await record(event.key, "webhook", scoring.overall_score if scoring else None)

    async def on_result(result: ResultSummary) -> None:
        await record(result.key, "poller", result.overall_score)

    receiver = WebhookReceiver(config.verifier, on_event, inbox=inbox)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with NtrvstaClient(api_key=config.api_key, base_url=config.base_url) as client:
            poller = ResultPoller(client, on_result, inbox=inbox, interval=config.interval)
            poller.start()
            try:
                yield
            finally:
                await receiver.aclose()
                await poller.stop()
        await inbox.close()

    app = FastAPI(lifespan=lifespan)
    # Starlette's hints for add_route name request functions; it routes an ASGI app the same.
    app.add_route("/webhooks", receiver.asgi_app(), methods=["POST"])  # type: ignore[arg-type]

    @app.get("/health")
    async def health() -> dict[str, int]:
        return {"running_handlers": receiver.running}

    return app


def append(path: Path, line: str) -> None:
    """Append ``line`` to the file at ``path``."""
    with path.open("a", encoding="utf-8") as file:
        file.write(line)


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
    uvicorn.run(build_app(config), host=host, port=port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

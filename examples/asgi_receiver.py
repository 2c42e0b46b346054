"""Receiving webhooks outside aiohttp: a plain ASGI app around ``WebhookVerifier``.

It runs under any ASGI server (uvicorn, hypercorn, granian) and shows the three steps any
framework needs: read the raw body (before any JSON parsing), call
``verifier.verify(body, headers)``, then answer and handle the event once. In Starlette or
FastAPI the same steps read:

    @app.post("/webhooks")
    async def webhooks(request: Request) -> Response:
        try:
            event = verifier.verify(await request.body(), request.headers)
        except WebhookVerificationError as exc:
            return JSONResponse({"error": exc.reason}, status_code=401)
        return JSONResponse({"status": "accepted"}, background=BackgroundTask(handle, event))

    export NTRVSTA_WEBHOOK_SECRET=...
    pip install uvicorn && python examples/asgi_receiver.py --port 8000 --out events.jsonl
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from ntrvsta_async import ResultCompletedEvent, WebhookVerificationError
from ntrvsta_async.reconcile import ClaimState, Inbox, MemoryInbox
from ntrvsta_async.webhooks import UnknownEvent, WebhookVerifier

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
EventHandler = Callable[[ResultCompletedEvent], Awaitable[object]]

logger = logging.getLogger("asgi_receiver")

_STATUS = {"payload_too_large": 413, "malformed_payload": 400}


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def make_app(
    verifier: WebhookVerifier,
    on_event: EventHandler,
    *,
    inbox: Inbox | None = None,
    path: str = "/webhooks",
) -> ASGIApp:
    """An ASGI app for ``POST path``: 401 bad signature, 413 too large, 400 malformed, else 200.

    ``on_event`` runs once per result (the inbox drops redeliveries), after the answer.
    """
    store = inbox if inbox is not None else MemoryInbox()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["path"] != path or scope["method"] != "POST":
            await _respond(send, 404, {"error": "not_found"})
            return
        body = await _read_body(receive, verifier.max_body_size)
        if body is None:
            await _respond(send, 413, {"error": "payload_too_large"})
            return
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        try:
            event = verifier.verify(body, headers)
        except WebhookVerificationError as exc:
            await _respond(send, _STATUS.get(exc.reason, 401), {"error": exc.reason})
            return
        if isinstance(event, UnknownEvent):
            await _respond(send, 200, {"status": "ignored"})
            return
        claim = await store.claim(event.key)
        if claim.state is not ClaimState.CLAIMED or claim.token is None:
            await _respond(send, 200, {"status": "duplicate"})
            return
        await _respond(send, 200, {"status": "accepted"})
        try:
            await on_event(event)
        except Exception:
            logger.exception("on_event failed for %s; a redelivery will retry it", event.key)
            await store.release(event.key, claim.token)
        else:
            await store.complete(event.key, claim.token)

    return app


def jsonl_writer(path: Path) -> EventHandler:
    """An ``on_event`` that appends each event's key and score to a JSONL file."""

    async def write(event: ResultCompletedEvent) -> None:
        scoring = event.ai_analysis.scoring if event.ai_analysis else None
        record = {"key": event.key, "score": scoring.overall_score if scoring else None}
        with path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")

    return write


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the app with uvicorn (``pip install uvicorn``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--out", type=Path, default=Path("events.jsonl"))
    parser.add_argument("--secret", action="append", help="default NTRVSTA_WEBHOOK_SECRET")
    args = parser.parse_args(argv)
    secrets = args.secret or [
        s for s in os.environ.get("NTRVSTA_WEBHOOK_SECRET", "").split(",") if s
    ]
    if not secrets:
        parser.error("give --secret or set NTRVSTA_WEBHOOK_SECRET")
    try:
        import uvicorn  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("this example runs under any ASGI server; install one: pip install uvicorn")
        return 2
    app = make_app(WebhookVerifier(secrets), jsonl_writer(args.out))
    uvicorn.run(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

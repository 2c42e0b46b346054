"""Running ASGI apps in tests: under a real uvicorn on loopback, or by hand, message by message."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs
import uvicorn

from ntrvsta_async.webhooks.asgi import Message, Scope


@attrs.define
class Served:
    """A uvicorn server running an app: its base URL, and a way to shut it down gracefully."""

    url: str
    server: uvicorn.Server
    task: asyncio.Task[None]

    async def shutdown(self) -> None:
        """Ask uvicorn to exit as on SIGTERM (the app's lifespan shutdown runs) and wait."""
        self.server.should_exit = True
        async with asyncio.timeout(30):
            await self.task


@contextlib.asynccontextmanager
async def serve_uvicorn(app: Any) -> AsyncIterator[Served]:
    """Serve ``app`` with uvicorn on a free loopback port until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("uvicorn exited during startup")
            await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    served = Served(f"http://127.0.0.1:{port}", server, task)
    try:
        yield served
    finally:
        if not task.done():
            await served.shutdown()


@attrs.define
class Exchange:
    """What an ASGI app sent for one request, and how much of the body it asked for."""

    status: int | None = None
    headers: dict[bytes, bytes] = attrs.field(factory=dict)
    body: bytes = b""
    receives: int = 0


async def drive(
    app: Any,
    *,
    method: str = "POST",
    path: str = "/webhooks",
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] = (b"",),
    pause: float = 0.0,
    disconnect: bool = False,
) -> Exchange:
    """Call ``app`` with one HTTP request whose body arrives as ``chunks``, ``pause`` seconds
    apart (then, with ``disconnect``, the sender hangs up), and record what it sent back."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.lower(), value) for name, value in headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    exchange = Exchange()
    pending = list(chunks)

    async def receive() -> Message:
        exchange.receives += 1
        if pending:
            if pause:
                await asyncio.sleep(pause)
            chunk = pending.pop(0)
            more = bool(pending) or disconnect
            return {"type": "http.request", "body": chunk, "more_body": more}
        if disconnect:
            return {"type": "http.disconnect"}
        await asyncio.Event().wait()  # a finished request never sends more
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            assert exchange.status is None, "one response start"
            exchange.status = message["status"]
            exchange.headers = dict(message.get("headers", []))
        elif message["type"] == "http.response.body":
            assert exchange.status is not None, "the start comes first"
            exchange.body += message.get("body", b"")

    await app(scope, receive, send)
    return exchange


@contextlib.asynccontextmanager
async def running_lifespan(app: Any) -> AsyncIterator[list[str]]:
    """Run ``app``'s lifespan: startup on entry, shutdown on exit; yields the types of the
    messages the app sent, as they come."""
    events: asyncio.Queue[Message] = asyncio.Queue()
    answers: list[str] = []

    async def send(message: Message) -> None:
        answers.append(message["type"])

    task = asyncio.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, events.get, send)
    )
    events.put_nowait({"type": "lifespan.startup"})
    async with asyncio.timeout(5):
        while not answers:  # noqa: ASYNC110 - the app signals only through send
            await asyncio.sleep(0)
    try:
        yield answers
    finally:
        events.put_nowait({"type": "lifespan.shutdown"})
        async with asyncio.timeout(30):
            await task

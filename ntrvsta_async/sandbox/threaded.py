"""Running a ``SandboxServer`` on its own thread, for synchronous code and tools.

Synchronous test suites (``requests``-based tests, OpenAPI fuzzers, other languages' test
runners driven from Python) cannot share an event loop with the sandbox; this gives them
one on a background thread behind a plain ``with`` block.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from ntrvsta_async.sandbox.server import CompletedResult, SandboxServer

__all__ = ["ThreadedSandbox"]

T = TypeVar("T")


class ThreadedSandbox:
    """``with ThreadedSandbox(**server_options) as sandbox:`` serves until the block ends.

    The options are those of ``SandboxServer``; ``sandbox.server`` is the server itself
    (read its observation properties freely; call its coroutines through ``call``).
    """

    def __init__(self, **server_options: Any) -> None:
        self._options = server_options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: SandboxServer | None = None

    @property
    def server(self) -> SandboxServer:
        """The running server."""
        if self._server is None:
            raise RuntimeError("the threaded sandbox is not started")
        return self._server

    @property
    def base_url(self) -> str:
        """The server's base URL."""
        return self.server.base_url

    @property
    def api_key(self) -> str:
        """The server's default API key."""
        return self.server.api_key

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30.0) -> T:
        """Run a coroutine on the sandbox's loop and return its result."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("the threaded sandbox is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def complete(self, invitation_id: str, **options: Any) -> CompletedResult:
        """``SandboxServer.complete`` from synchronous code."""
        return self.call(self.server.complete(invitation_id, **options))

    def start(self) -> None:
        """Start the loop thread and the server on it."""
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="ntrvsta-sandbox", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread

        async def create() -> SandboxServer:
            server = SandboxServer(**self._options)
            await server.start()
            return server

        try:
            self._server = self.call(create())
        except BaseException:
            self._shutdown_loop()
            raise

    def stop(self) -> None:
        """Stop the server, then the loop and its thread."""
        if self._loop is None:
            return
        try:
            if self._server is not None:
                self.call(self._server.stop())
        finally:
            self._server = None
            self._shutdown_loop()

    def _shutdown_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def __enter__(self) -> ThreadedSandbox:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

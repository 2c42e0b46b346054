"""A real ``redis-server`` on a free loopback port, for the Redis inbox and lease tests.

Import the fixtures into a test module (``from tests.support.redis_support import redis_server``).
Without the binary the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.sandbox import SandboxServer

__all__ = [
    "RedisProcess",
    "create_invitations",
    "eventually",
    "raw_redis",
    "redis_process",
    "redis_server",
]

_START_TIMEOUT = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_binary() -> str:
    """The ``redis-server`` path; skips the test without it (fails it under CI)."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed, and CI must run the Redis tests")
        pytest.skip("redis-server not installed; .ci/run installs it")
    return binary


class RedisProcess:
    """One ``redis-server`` that can be stopped and started again on the same port.

    ``persistent=True`` turns on the append-only file (fsync on every write) in ``data_dir``
    so that a restart keeps every acknowledged write, as a production setup would.
    """

    def __init__(self, binary: str, data_dir: Path, *, persistent: bool = False) -> None:
        self.binary = binary
        self.data_dir = data_dir
        self.persistent = persistent
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Where clients connect."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def _command(self) -> list[str]:
        durability = (
            ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.data_dir / "redis.log"),
            *durability,
        ]

    def start(self) -> None:
        """Start the server (on the same port as before) and wait until it answers PING."""
        assert not self.running
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._process = process
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            if _pong(self.port):
                return
            time.sleep(0.02)
        self.stop()
        log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"redis-server did not come up on port {self.port}:\n{log}")

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop the server and start it again on the same port."""
        self.stop()
        self.start()


def _started(tmp_path: Path, *, persistent: bool) -> RedisProcess:
    binary = redis_binary()
    data_dir = tmp_path / "redis"
    data_dir.mkdir(exist_ok=True)
    for _ in range(3):
        server = RedisProcess(binary, data_dir, persistent=persistent)
        try:
            server.start()
        except RuntimeError:
            continue  # the free port was taken in between; try another one
        return server
    raise RuntimeError("could not start redis-server")


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A persistent (AOF) Redis the test may stop and restart."""
    server = _started(tmp_path, persistent=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[str]:
    """The URL of a fresh, empty, in-memory Redis for this test."""
    server = _started(tmp_path, persistent=False)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
async def raw_redis(redis_server: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain redis-py client on ``redis_server``, to look at the keys the SDK wrote."""
    client = redis.asyncio.Redis.from_url(redis_server, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


async def create_invitations(
    sandbox: SandboxServer, count: int, *, concurrency: int = 32
) -> list[str]:
    """Create ``count`` invitations in ``sandbox`` over its API, ``concurrency`` at a time;
    complete them with ``sandbox.complete`` to make results."""
    limit = asyncio.Semaphore(concurrency)
    async with NtrvstaClient(
        api_key=sandbox.api_key, base_url=sandbox.base_url, max_connections=concurrency
    ) as client:
        template = await client.templates.create(title="Replicas")

        async def invite(n: int) -> str:
            async with limit:
                invitation = await client.invitations.create(
                    template_id=template.template_id,
                    candidate=Candidate(email=f"replica{n}@example.com"),
                )
                return invitation.invitation_id

        return list(await asyncio.gather(*(invite(n) for n in range(count))))


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    within: float,
    what: str = "the condition",
    step: float = 0.02,
) -> float:
    """Wait until ``condition()`` is true and return the seconds it took; fail the test when
    ``within`` seconds pass first."""
    started = time.monotonic()
    while True:
        outcome = condition()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            pytest.fail(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(step)

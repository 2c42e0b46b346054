"""Shared test fixtures, and a compatibility shim for aioresponses on aiohttp >= 3.14."""

from __future__ import annotations

import types
from typing import Any

from aiohttp import ClientResponse
from aioresponses import core as aioresponses_core
from yarl import URL


class _CompatClientResponse(ClientResponse):
    """aioresponses 0.7.9 builds responses without ``stream_writer``, which aiohttp 3.14
    requires (aioresponses upstream issue #289); supply an inert one."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


aioresponses_core.ClientResponse = _CompatClientResponse  # type: ignore[attr-defined]


# Imports below the shim so that aioresponses is patched before any test imports it.
import contextlib  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
from collections.abc import AsyncIterator, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from aiohttp import web  # noqa: E402
from aioresponses import aioresponses  # noqa: E402

from ntrvsta_async import NtrvstaClient, RetryPolicy  # noqa: E402

BASE = "https://api.ntrvsta.test/dev"
API_KEY = "ntr_live_abcdef0123456789SECRET"


def complete_lines(path: Path) -> list[str]:
    """The lines of a file another process appends to, leaving out one still being written."""
    if not path.exists():
        return []
    text = path.read_text()
    return text[: text.rfind("\n") + 1].splitlines()


def run_ok(*args: str | Path, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a command to its end; its output (stdout, then stderr), failing the test with that
    output unless the command exits 0."""
    done = subprocess.run(  # noqa: S603 - the tests' own commands
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@contextlib.asynccontextmanager
async def serve(
    app: web.Application,
    *,
    host: str = "127.0.0.1",
    ssl_context: ssl.SSLContext | None = None,
    backlog: int = 128,
    **runner_options: Any,
) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of ``host`` (loopback unless told); yields its base URL,
    ``https`` with an ``ssl_context``. ``runner_options`` go to ``web.AppRunner``."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0, ssl_context=ssl_context, backlog=backlog)
        await site.start()
        scheme = "http" if ssl_context is None else "https"
        yield f"{scheme}://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class RecordingSleep:
    """A fake ``sleep`` for retry policies: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as m:
        yield m


@pytest.fixture
async def client(sleeps: RecordingSleep) -> AsyncIterator[NtrvstaClient]:
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.5)
    async with NtrvstaClient(api_key=API_KEY, base_url=BASE, retry_policy=policy) as c:
        yield c

"""The progress display on a terminal: the pace of the client doing the work, when paced."""

from __future__ import annotations

import pytest

from ntrvsta_async import NtrvstaClient
from ntrvsta_async.cli.progress import progress_reporter
from ntrvsta_async.errors import RateLimitError
from ntrvsta_async.sandbox import FaultPlan, RouteFaults, SandboxServer


async def test_the_terminal_bar_shows_the_pace_once_the_server_throttles(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = FaultPlan(routes={"templates": RouteFaults(rate_429=1.0, retry_after=1)})
    async with (
        SandboxServer(faults=plan) as server,
        NtrvstaClient(api_key=server.api_key, base_url=server.base_url, max_retries=0) as client,
    ):
        with progress_reporter("inviting", 10, tty=True, paced=client) as progress:
            progress.update(3, 10)
        assert "paced at" not in capsys.readouterr().err

        with pytest.raises(RateLimitError):
            await client.templates.create(title="T", external_posting_id="job-bar")
        with progress_reporter("inviting", 10, tty=True, paced=client) as progress:
            progress.update(3, 10)
        bar = capsys.readouterr().err

    assert "inviting" in bar
    assert "3/10" in bar
    assert "req/s (server throttling)" in bar

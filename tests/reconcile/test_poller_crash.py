"""A poller killed with SIGKILL mid-run and restarted on the same SQLite inbox loses nothing
and re-handles nothing that finished."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.reconcile import SQLiteInbox
from ntrvsta_async.sandbox import SandboxServer
from tests.conftest import complete_lines

ROOT = Path(__file__).resolve().parents[2]
RESULTS = 300


async def run_worker(
    base_url: str, api_key: str, inbox: Path, log: Path
) -> asyncio.subprocess.Process:
    env = {**os.environ, "NTRVSTA_API_KEY": api_key}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.poller_worker",
        base_url,
        str(inbox),
        str(log),
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )


def ended(log: Path) -> list[str]:
    return [line.split()[1] for line in complete_lines(log) if line.startswith("end ")]


async def test_sigkill_mid_run_then_restart(tmp_path: Path) -> None:
    inbox_path = tmp_path / "inbox.sqlite3"
    log = tmp_path / "handled.log"
    async with SandboxServer() as sandbox:
        async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
            template = await client.templates.create(title="Crash test")
            for n in range(RESULTS):
                invitation = await client.invitations.create(
                    template_id=template.template_id,
                    candidate=Candidate(email=f"c{n}@example.com"),
                )
                await sandbox.complete(invitation.invitation_id)
        keys = {r.result_id for r in sandbox.results}
        assert len(keys) == RESULTS

        worker = await run_worker(sandbox.base_url, sandbox.api_key, inbox_path, log)
        for _ in range(2000):
            if len(ended(log)) >= RESULTS // 3 or worker.returncode is not None:
                break
            await asyncio.sleep(0.005)
        assert worker.returncode is None, "the worker finished before it could be killed"
        worker.send_signal(signal.SIGKILL)
        await worker.wait()
        assert worker.returncode == -signal.SIGKILL

        async with SQLiteInbox(inbox_path) as inbox:
            done_at_kill = {key for key in keys if await inbox.is_done(key)}
        assert 0 < len(done_at_kill) < RESULTS
        with log.open("a") as f:
            f.write("restart\n")

        worker = await run_worker(sandbox.base_url, sandbox.api_key, inbox_path, log)
        stdout, _ = await worker.communicate()
        assert worker.returncode == 0, stdout

    lines = log.read_text().splitlines()
    after_restart = lines[lines.index("restart") + 1 :]
    restarted = {line.split()[1] for line in after_restart if line.startswith("start ")}
    assert not restarted & done_at_kill, "a result that was done before the kill ran again"
    assert set(ended(log)) == keys, "every result is handled"
    twice = [key for key, n in Counter(ended(log)).items() if n > 1]
    assert len(twice) <= 4, "only handlers in flight at the kill (concurrency 4) may repeat"

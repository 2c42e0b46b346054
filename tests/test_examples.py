"""Every program in ``examples/`` runs against a sandbox and does what its docstring says."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from examples import bulk_invite_csv, fastapi_service, reconcile_once, webhook_service
from ntrvsta_async import NtrvstaClient
from ntrvsta_async.reconcile import SQLiteInbox
from ntrvsta_async.sandbox import CompletedResult, FaultPlan, SandboxServer, WebhookFaults
from ntrvsta_async.webhooks import WebhookVerifier
from tests.conftest import complete_lines, serve
from tests.support.asgi_support import serve_uvicorn

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_examples"


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in complete_lines(path)]


async def _until(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Wait (``seconds`` at most) for a file another task appends to; polling is the only way."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the writer signals nothing
            await asyncio.sleep(0.02)


async def _invitations(sandbox: SandboxServer, *emails: str) -> list[str]:
    async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
        template = await client.templates.create(title="Backend", external_posting_id="job-1")
        return [
            (
                await client.invitations.create(
                    template_id=template.template_id, candidate={"email": email}
                )
            ).invitation_id
            for email in emails
        ]


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as server:
        yield server


async def _one_by_webhook_one_by_poller(
    sandbox: SandboxServer, service_url: str, out: Path
) -> tuple[CompletedResult, CompletedResult]:
    """Complete one result while the service at ``service_url`` gets webhooks and one while
    it gets none; return both once the service has written both to ``out``."""
    sandbox.configure_webhook(f"{service_url}/webhooks", SECRET)
    delivered_id, missed_id = await _invitations(sandbox, "ada@example.com", "bob@example.com")
    delivered = await sandbox.complete(delivered_id)
    await _until(lambda: len(_records(out)) == 1)
    sandbox.configure_webhook(None)
    missed = await sandbox.complete(missed_id)
    await _until(lambda: len(_records(out)) == 2)
    return delivered, missed


async def _assert_each_handled_once_by_its_path(
    out: Path, inbox_path: Path, delivered: CompletedResult, missed: CompletedResult
) -> None:
    """The webhook handled ``delivered``, the poller ``missed``; the inbox has both done."""
    sources = {record["key"]: record["source"] for record in _records(out)}
    assert sources == {delivered.result_id: "webhook", missed.result_id: "poller"}
    async with SQLiteInbox(inbox_path) as inbox:
        assert await inbox.is_done(delivered.result_id)
        assert await inbox.is_done(missed.result_id)


async def test_webhook_service_handles_each_result_once_by_webhook_or_poller(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = webhook_service.Config(
        verifier=WebhookVerifier(SECRET),
        inbox=tmp_path / "inbox.sqlite3",
        out=tmp_path / "results.jsonl",
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        interval=1.0,
    )
    async with serve(webhook_service.build_app(config)) as url:
        delivered, missed = await _one_by_webhook_one_by_poller(sandbox, url, config.out)

    await _assert_each_handled_once_by_its_path(config.out, config.inbox, delivered, missed)


async def test_bulk_invite_csv_invites_every_row_once(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    rows = ["email,first_name,last_name"]
    rows += [f"candidate{n}@example.com,Cand,{n}" for n in range(20)]
    rows.append("not-an-address,Bad,Row")
    csv_file = tmp_path / "candidates.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    args = bulk_invite_csv.parse_args(
        [
            str(csv_file),
            "--posting-id",
            "job-7",
            "--title",
            "Data Engineer",
            "--base-url",
            sandbox.base_url,
            "--api-key",
            sandbox.api_key,
        ]
    )

    out = io.StringIO()
    first = await bulk_invite_csv.run(args, out=out)
    again = await bulk_invite_csv.run(args, out=io.StringIO())

    assert first == bulk_invite_csv.Summary(created=20, reused=0, failed=1)
    assert "row 22:" in out.getvalue()
    assert again == bulk_invite_csv.Summary(created=0, reused=20, failed=1)
    assert len(sandbox.invitations) == 20
    assert {i.candidate.first_name for i in sandbox.invitations if i.candidate} == {"Cand"}


async def test_reconcile_once_appends_only_new_results(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    out, inbox = tmp_path / "results.jsonl", tmp_path / "inbox.sqlite3"
    connection = ["--base-url", sandbox.base_url, "--api-key", sandbox.api_key]
    args = reconcile_once.parse_args(["--out", str(out), "--inbox", str(inbox), *connection])
    ids = await _invitations(sandbox, "a@example.com", "b@example.com", "c@example.com")
    for invitation_id in ids[:2]:
        await sandbox.complete(invitation_id)

    first = await reconcile_once.run(args, out=io.StringIO())
    second = await reconcile_once.run(args, out=io.StringIO())
    await sandbox.complete(ids[2])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "examples" / "reconcile_once.py"),
        *["--out", str(out), "--inbox", str(inbox), *connection],
        stdout=asyncio.subprocess.PIPE,
    )
    stdout, _ = await process.communicate()

    assert (first.handled, second.handled) == (2, 0)
    assert process.returncode == 0
    assert "handled=1 " in stdout.decode()
    keys = [record["resultId"] for record in _records(out)]
    assert sorted(keys) == sorted(result.result_id for result in sandbox.results)


def _fastapi_config(sandbox: SandboxServer, tmp_path: Path) -> fastapi_service.Config:
    return fastapi_service.Config(
        verifier=WebhookVerifier(SECRET),
        inbox=tmp_path / "inbox.sqlite3",
        out=tmp_path / "results.jsonl",
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        interval=0.5,
    )


async def test_fastapi_service_handles_each_result_once_by_webhook_or_poller(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    config = _fastapi_config(sandbox, tmp_path)
    async with serve_uvicorn(fastapi_service.build_app(config)) as served:
        delivered, missed = await _one_by_webhook_one_by_poller(sandbox, served.url, config.out)
        async with aiohttp.ClientSession() as http, http.get(f"{served.url}/health") as health:
            assert health.status == 200
        await served.shutdown()

    await _assert_each_handled_once_by_its_path(config.out, config.inbox, delivered, missed)


async def test_fastapi_service_handles_200_results_once_despite_lost_and_repeated_webhooks(
    tmp_path: Path,
) -> None:
    faults = FaultPlan(seed=20, webhooks=WebhookFaults(drop_rate=0.3, duplicate_rate=0.3))
    async with SandboxServer(faults=faults) as sandbox:
        config = _fastapi_config(sandbox, tmp_path)
        async with serve_uvicorn(fastapi_service.build_app(config)) as served:
            sandbox.configure_webhook(f"{served.url}/webhooks", SECRET)
            emails = [f"candidate{n}@example.com" for n in range(200)]
            for invitation_id in await _invitations(sandbox, *emails):
                await sandbox.complete(invitation_id)
            async with asyncio.timeout(60):
                await sandbox.wait_deliveries_idle()
            await _until(lambda: len(_records(config.out)) >= 200, seconds=60)
            await served.shutdown()
        keys = {result.result_id for result in sandbox.results}
        stats = sandbox.deliveries.stats

    handled = Counter(record["key"] for record in _records(config.out))
    sources = Counter(record["source"] for record in _records(config.out))
    assert set(handled) == keys
    assert len(keys) == 200
    assert max(handled.values()) == 1, "no result handled twice"
    assert sources["webhook"] > 0
    assert sources["poller"] > 0
    assert stats.dropped > 0
    assert stats.duplicated > 0

"""Every program in ``examples/`` runs against a sandbox and does what its docstring says."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from examples import asgi_receiver, bulk_invite_csv, reconcile_once, webhook_service
from ntrvsta_async import NtrvstaClient, ResultCompletedEvent
from ntrvsta_async.reconcile import SQLiteInbox
from ntrvsta_async.sandbox import SandboxServer
from ntrvsta_async.webhooks import WebhookVerifier, sign

from .conftest import complete_lines

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_examples"


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in complete_lines(path)]


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (10 s at most) for a file another task appends to; polling is the only way."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - the writer signals nothing
            await asyncio.sleep(0.02)


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


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
    runner, url = await _serve(webhook_service.build_app(config))
    try:
        sandbox.configure_webhook(f"{url}/webhooks", SECRET)
        delivered_id, missed_id = await _invitations(sandbox, "ada@example.com", "bob@example.com")
        delivered = await sandbox.complete(delivered_id)
        await _until(lambda: len(_records(config.out)) == 1)
        sandbox.configure_webhook(None)
        missed = await sandbox.complete(missed_id)
        await _until(lambda: len(_records(config.out)) == 2)
    finally:
        await runner.cleanup()

    sources = {record["key"]: record["source"] for record in _records(config.out)}
    assert sources == {delivered.result_id: "webhook", missed.result_id: "poller"}
    async with SQLiteInbox(config.inbox) as inbox:
        assert await inbox.is_done(delivered.result_id)
        assert await inbox.is_done(missed.result_id)


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


def _asgi_bridge(app: asgi_receiver.ASGIApp) -> web.Application:
    """A minimal HTTP front for an ASGI app: enough to receive the sandbox's deliveries."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "path": request.path,
            "raw_path": request.raw_path.encode(),
            "query_string": request.query_string.encode(),
            "headers": [(name.lower(), value) for name, value in request.raw_headers],
        }
        delivered = asyncio.Event()
        status = 500
        headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            if delivered.is_set():
                await asyncio.Event().wait()
            delivered.set()
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: asgi_receiver.Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers.update(
                    (name.decode(), value.decode())
                    for name, value in message.get("headers", [])
                    if name.lower() != b"content-length"
                )
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return web.Response(status=status, body=b"".join(chunks), headers=headers)

    bridge = web.Application()
    bridge.router.add_route("*", "/{tail:.*}", handle)
    return bridge


async def test_asgi_receiver_verifies_and_handles_each_result_once(
    sandbox: SandboxServer,
) -> None:
    events: list[ResultCompletedEvent] = []

    async def on_event(event: ResultCompletedEvent) -> None:
        events.append(event)

    app = asgi_receiver.make_app(WebhookVerifier(SECRET), on_event)
    runner, url = await _serve(_asgi_bridge(app))
    try:
        sandbox.configure_webhook(f"{url}/webhooks", SECRET)
        ids = await _invitations(sandbox, "a@example.com", "b@example.com")
        results = [await sandbox.complete(invitation_id) for invitation_id in ids]
        async with asyncio.timeout(10):
            await sandbox.wait_deliveries_idle()
        replay = sandbox.deliveries.delivered[0]
        forged = json.dumps({"resultId": "res_forged"}).encode()
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{url}/webhooks", data=replay.body, headers=dict(replay.headers)
            ) as again:
                again_status = (again.status, await again.json())
            async with http.post(
                f"{url}/webhooks", data=forged, headers=sign(forged, "not-the-secret")
            ) as bad:
                bad_status = (bad.status, await bad.json())
    finally:
        await runner.cleanup()

    assert sorted(event.result_id for event in events) == sorted(r.result_id for r in results)
    assert again_status == (200, {"status": "duplicate"})
    assert bad_status == (401, {"error": "bad_signature"})

"""Loopback servers the benchmarks run in a child process, so client and server never share a loop.

``python -m benchmarks._server MODE --api-key KEY --secret SECRET`` prints its base URL on
the first line of stdout and serves until its stdin closes. Modes:

- ``api``: canned answers to ``POST /v1/templates`` and ``POST /v1/interview-invitations``;
  ``GET /v1/interview-results`` pages (``limit``, ``cursor`` = offset, ``total`` results in
  all, also given as a base URL path ``/n<total>`` for clients that send no extra query
  parameter), each rendered on first request and then served from a cache;
- ``sandbox``: the package's ``SandboxServer`` (for comparison with ``api``), with
  ``--results N`` completed interviews;
- ``receiver``: the SDK's webhook receiver (``setup_webhooks``) with a no-op ``on_event``;
- ``bare-receiver``: an aiohttp handler doing only an ``hmac`` check and ``json.loads``;
- ``quota``: ``POST /v1/interview-invitations`` behind a token bucket (``--burst`` tokens,
  refilled at the quota set by ``POST /control?rate=R&latency=S``; rate 0 means no quota),
  answering ``429`` with ``Retry-After: 1`` beyond it, and each answer after ``latency``
  seconds; ``GET /stats`` gives the times (since the last ``/control``) of every admitted
  and every refused request.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import threading
import time
from typing import Final

from aiohttp import web

__all__ = ["main", "result_item", "run"]

INVITATION_BODY: Final = json.dumps(
    {
        "invitationId": "inv_0123456789abcdef",
        "templateId": "tpl_bench",
        "candidate": {"email": "bench@example.com", "firstName": "Bench"},
        "inviteUrl": "https://sandbox.ntrvsta.invalid/interview/inv_0123456789abcdef",
        "inviteUrlExpiresAt": "2026-06-08T07:35:25.123Z",
        "status": "invited",
        "createdAt": "2026-05-09T07:35:25.123Z",
        "reused": False,
    },
    separators=(",", ":"),
).encode()

TEMPLATE_BODY: Final = json.dumps(
    {"templateId": "tpl_bench", "title": "Bench", "externalPostingId": "bench", "reused": True},
    separators=(",", ":"),
).encode()

_ITEM: Final = (
    '{"resultId":"res_%(n)012d",'
    '"resultUrl":"https://sandbox.ntrvsta.invalid/results/res_%(n)012d",'
    '"overallScore":%(score).1f,"completedAt":"2026-%(mon)02d-%(day)02dT%(h)02d:%(m)02d:%(s)02d.000Z",'
    '"templateId":"tpl_0123456789abcdef","externalPostingId":"job-42",'
    '"invitationId":"inv_%(n)012d",'
    '"candidate":{"email":"candidate%(n)d@example.com","firstName":"Jane","lastName":"Doe"},'
    '"status":"completed"}'
)
_PAGE_CACHE_LIMIT: Final = 4096


def result_item(n: int) -> str:
    """The JSON text of the ``n``-th result summary (completion times increase with ``n``)."""
    minutes, s = divmod(n, 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    months, day = divmod(days, 28)
    return _ITEM % {
        "n": n,
        "score": 35 + n % 64,
        "mon": 1 + months % 12,
        "day": 1 + day,
        "h": h,
        "m": m,
        "s": s,
    }


def _api_app(api_key: str) -> web.Application:
    pages: dict[tuple[int, int, int], bytes] = {}

    def authorized(request: web.Request) -> bool:
        return request.headers.get("X-Ntrvsta-Api-Key") == api_key

    async def invite(request: web.Request) -> web.Response:
        await request.read()
        if not authorized(request):
            return web.json_response({"message": "bad key", "code": "unauthorized"}, status=401)
        return web.Response(body=INVITATION_BODY, status=201, content_type="application/json")

    async def template(request: web.Request) -> web.Response:
        await request.read()
        if not authorized(request):
            return web.json_response({"message": "bad key", "code": "unauthorized"}, status=401)
        return web.Response(body=TEMPLATE_BODY, content_type="application/json")

    async def results(request: web.Request) -> web.Response:
        if not authorized(request):
            return web.json_response({"message": "bad key", "code": "unauthorized"}, status=401)
        query = request.query
        limit = int(query.get("limit", "50"))
        offset = int(query.get("cursor", "0"))
        total = int(request.match_info.get("total") or query.get("total", "100000"))
        key = (offset, limit, total)
        body = pages.get(key)
        if body is None:
            end = min(total, offset + limit)
            items = ",".join(result_item(n) for n in range(offset, end))
            cursor = f'"{end}"' if end < total else "null"
            body = f'{{"items":[{items}],"nextCursor":{cursor}}}'.encode()
            if len(pages) < _PAGE_CACHE_LIMIT:
                pages[key] = body
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/templates", template)
    app.router.add_post("/v1/interview-invitations", invite)
    app.router.add_get("/v1/interview-results", results)
    app.router.add_post("/n{total:[0-9]+}/v1/interview-invitations", invite)
    app.router.add_get("/n{total:[0-9]+}/v1/interview-results", results)
    return app


class _Quota:
    """A token bucket: ``burst`` tokens at most, refilled at ``rate`` per second."""

    def __init__(self, burst: int) -> None:
        self.burst = burst
        self.rate = 0.0
        self.latency = 0.0
        self.tokens = float(burst)
        self.stamp = self.began = time.monotonic()
        self.admitted: list[float] = []
        self.refused: list[float] = []

    def set(self, rate: float, latency: float, *, keep_stats: bool) -> None:
        now = time.monotonic()
        self.take(now, spend=False)
        self.rate, self.latency = rate, latency
        if not keep_stats:
            self.tokens = float(self.burst)
            self.began = now
            self.admitted, self.refused = [], []

    def take(self, now: float, *, spend: bool = True) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if not spend:
            return True
        if self.rate == 0:
            self.admitted.append(now - self.began)
            return True
        if self.tokens >= 1:
            self.tokens -= 1
            self.admitted.append(now - self.began)
            return True
        self.refused.append(now - self.began)
        return False


def _quota_app(api_key: str, burst: int) -> web.Application:
    quota = _Quota(burst)
    refused = json.dumps({"message": "Too Many Requests"}).encode()

    async def invite(request: web.Request) -> web.Response:
        await request.read()
        if request.headers.get("X-Ntrvsta-Api-Key") != api_key:
            return web.json_response({"message": "bad key", "code": "unauthorized"}, status=401)
        admitted = quota.take(time.monotonic())
        if quota.latency:
            await asyncio.sleep(quota.latency)
        if not admitted:
            return web.Response(
                body=refused,
                status=429,
                content_type="application/json",
                headers={"Retry-After": "1"},
            )
        return web.Response(body=INVITATION_BODY, status=201, content_type="application/json")

    async def control(request: web.Request) -> web.Response:
        query = request.query
        quota.set(
            float(query.get("rate", "0")),
            float(query.get("latency", "0")),
            keep_stats=query.get("keep") == "1",
        )
        return web.json_response({"rate": quota.rate})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"admitted": quota.admitted, "refused": quota.refused})

    app = web.Application()
    app.router.add_post("/v1/interview-invitations", invite)
    app.router.add_post("/control", control)
    app.router.add_get("/stats", stats)
    return app


def _receiver_app(secret: str) -> web.Application:
    from ntrvsta_async.models import ResultCompletedEvent
    from ntrvsta_async.reconcile import MemoryInbox
    from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks

    async def on_event(event: ResultCompletedEvent) -> None:
        return None

    app = web.Application()
    setup_webhooks(app, WebhookVerifier(secret), on_event, inbox=MemoryInbox())
    return app


def _bare_receiver_app(secret: str) -> web.Application:
    key = secret.encode()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        header = request.headers.get("X-Ntrvsta-Signature", "")
        stamp, _, digest = header.partition(",v1=")
        message = stamp.removeprefix("t=").encode() + b"." + body
        expected = hmac.new(key, message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, digest):
            return web.json_response({"error": "bad_signature"}, status=401)
        event = json.loads(body)
        return web.json_response({"status": "accepted", "resultId": event["resultId"]})

    app = web.Application()
    app.router.add_post("/webhooks", receive)
    return app


async def _sandbox(api_key: str, results: int, stop: asyncio.Event) -> None:
    from ntrvsta_async import NtrvstaClient
    from ntrvsta_async.sandbox import SandboxServer

    async with SandboxServer(api_keys=api_key) as sandbox:
        if results:
            async with NtrvstaClient(api_key=api_key, base_url=sandbox.base_url) as client:
                template = await client.templates.create(title="Bench", external_posting_id="b")
                async for outcome in client.invitations.create_many(
                    {"template_id": template.template_id, "candidate": {"email": f"c{n}@x.io"}}
                    for n in range(results)
                ):
                    assert outcome.invitation is not None
                    await sandbox.complete(outcome.invitation.invitation_id)
        print(sandbox.base_url, flush=True)
        await stop.wait()


async def run(mode: str, api_key: str, secret: str, results: int = 0, burst: int = 50) -> None:
    """Serve ``mode`` on a free loopback port until stdin reaches end of file."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    if mode == "sandbox":
        await _sandbox(api_key, results, stop)
        return
    if mode == "api":
        app = _api_app(api_key)
    elif mode == "quota":
        app = _quota_app(api_key, burst)
    elif mode == "receiver":
        app = _receiver_app(secret)
    else:
        app = _bare_receiver_app(secret)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}", flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["api", "sandbox", "receiver", "bare-receiver", "quota"])
    parser.add_argument("--api-key", default="bench-key")
    parser.add_argument("--secret", default="bench-secret")
    parser.add_argument("--results", type=int, default=0, help="sandbox: results to complete")
    parser.add_argument("--burst", type=int, default=50, help="quota: the bucket's size")
    args = parser.parse_args()
    asyncio.run(run(args.mode, args.api_key, args.secret, args.results, args.burst))


if __name__ == "__main__":
    main()

"""Webhook verification and receiving, against a bare ``hmac`` check plus ``json.loads``.

Verification runs in this process on a 4 KiB ``result.completed`` body signed
``t=<unix>,v1=<hex>``: ``WebhookVerifier.verify`` (signature, timestamp tolerance, a typed
``ResultCompletedEvent``) against ``hmac.new(...).hexdigest()``, ``hmac.compare_digest`` and
``json.loads``. Receiving measures requests/s of the SDK's ``setup_webhooks`` route (with a
``MemoryInbox`` and a no-op ``on_event``) and of a bare aiohttp handler doing the same
check, each in its own child process, driven by the same client with 16 requests in flight.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
from collections.abc import Callable
from typing import Any, Final

import aiohttp

from benchmarks._common import (
    SECRET,
    Rates,
    Verdict,
    floor_verdict,
    in_fresh_processes,
    interleaved,
    loopback_server,
    median_run,
    paired_ratio,
    ratio_line,
    report,
)
from ntrvsta_async import ResultCompletedEvent
from ntrvsta_async.webhooks import WebhookVerifier, sign

__all__ = ["event_body", "main", "measure_receivers", "measure_verification"]

BODY_SIZE: Final = 4096
VERIFY_PER_ROUND: Final = 20_000
VERIFY_ROUNDS: Final = 7
RECEIVE_PER_ROUND: Final = 2_000
RECEIVE_ROUNDS: Final = 5
CONCURRENCY: Final = 16
TARGET: Final = 0.50


def event_body(n: int, size: int = BODY_SIZE) -> bytes:
    """A ``result.completed`` payload for result ``n``, padded to ``size`` bytes of JSON."""
    payload: dict[str, Any] = {
        "event": "result.completed",
        "eventId": f"evt_{n:012d}",
        "occurredAt": "2026-05-09T07:35:25.123Z",
        "resultId": f"res_{n:012d}",
        "organizationId": "org_0123456789abcdef",
        "templateId": "tpl_0123456789abcdef",
        "externalPostingId": "job-42",
        "invitationId": f"inv_{n:012d}",
        "candidate": {"email": f"candidate{n}@example.com", "firstName": "Jane", "lastName": "Doe"},
        "interview": {
            "status": "completed",
            "language": "en",
            "startedAt": "2026-05-09T07:00:00.000Z",
            "completedAt": "2026-05-09T07:35:25.123Z",
            "durationSeconds": 2125,
            "whiteboardUsed": False,
        },
        "aiAnalysis": {
            "summary": "",
            "strengths": ["Explains trade-offs clearly", "Structured problem solving"],
            "concerns": ["Skipped edge cases in the design"],
            "integrityWarning": False,
            "scoring": {
                "overallScore": 81.5,
                "maxScore": 100.0,
                "categories": [
                    {"key": key, "label": key.title(), "score": 80.0, "maxScore": 100.0}
                    for key in ("communication", "technical", "language")
                ],
            },
        },
        "resultUrl": f"https://sandbox.ntrvsta.invalid/results/res_{n:012d}",
    }
    empty = len(json.dumps(payload, separators=(",", ":")))
    words = "Solid interview with a few gaps worth probing. "
    payload["aiAnalysis"]["summary"] = (words * (size // len(words) + 1))[: size - empty]
    body = json.dumps(payload, separators=(",", ":")).encode()
    assert len(body) == size
    return body


def _bare_verify(secret: bytes) -> Callable[[bytes, dict[str, str]], Any]:
    def verify(body: bytes, headers: dict[str, str]) -> Any:
        stamp, _, digest = headers["X-Ntrvsta-Signature"].partition(",v1=")
        message = stamp.removeprefix("t=").encode() + b"." + body
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, digest):
            raise ValueError("bad signature")
        return json.loads(body)

    return verify


async def measure_verification(
    rounds: int = VERIFY_ROUNDS, per_round: int = VERIFY_PER_ROUND
) -> dict[str, Rates]:
    """Verifications/s of ``WebhookVerifier.verify`` and of the bare check, interleaved."""
    body = event_body(1)
    headers = sign(body, SECRET, timestamp=int(time.time()))
    verifier = WebhookVerifier(SECRET)
    bare = _bare_verify(SECRET.encode())
    event = verifier.verify(body, headers)
    if not isinstance(event, ResultCompletedEvent) or event.key != bare(body, headers)["resultId"]:
        raise RuntimeError("the two verifications disagree")

    def side(verify: Callable[[bytes, dict[str, str]], Any]) -> Callable[[], Any]:
        async def run() -> tuple[int, float]:
            began = time.perf_counter()
            for _ in range(per_round):
                verify(body, headers)
            return per_round, time.perf_counter() - began

        return run

    return await interleaved({"sdk": side(verifier.verify), "bare": side(bare)}, rounds=rounds)


async def _send_all(
    session: aiohttp.ClientSession, url: str, deliveries: list[tuple[bytes, dict[str, str]]]
) -> tuple[int, float]:
    pending = iter(deliveries)
    accepted = 0

    async def worker() -> None:
        nonlocal accepted
        for body, headers in pending:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                accepted += response.status == 200

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - began
    if accepted != len(deliveries):
        raise RuntimeError(f"{url}: {len(deliveries) - accepted} deliveries refused")
    return accepted, elapsed


async def measure_receivers(
    sdk_url: str, bare_url: str, rounds: int = RECEIVE_ROUNDS, per_round: int = RECEIVE_PER_ROUND
) -> dict[str, Rates]:
    """Requests/s of both receivers, each round with fresh result ids (no duplicates)."""
    counter = iter(range(0, 10**9, per_round))

    def deliveries() -> list[tuple[bytes, dict[str, str]]]:
        start = next(counter)
        now = int(time.time())
        out = []
        for n in range(start, start + per_round):
            body = event_body(n)
            headers = {
                "Content-Type": "application/json",
                "X-Ntrvsta-Event": "result.completed",
                "X-Ntrvsta-Idempotency-Key": f"evt_{n:012d}",
                **sign(body, SECRET, timestamp=now),
            }
            out.append((body, headers))
        return out

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:

        def side(url: str) -> Callable[[], Any]:
            async def run() -> tuple[int, float]:
                return await _send_all(session, url, deliveries())

            return run

        return await interleaved(
            {"sdk": side(f"{sdk_url}/webhooks"), "bare": side(f"{bare_url}/webhooks")},
            rounds=rounds,
        )


def _verification_once() -> dict[str, float]:
    rates = asyncio.run(measure_verification())
    return {
        "sdk_best": rates["sdk"].best,
        "raw_best": rates["bare"].best,
        "ratio": paired_ratio(rates["sdk"], rates["bare"]),
    }


def verdict(verification: list[dict[str, float]], receivers: dict[str, Rates]) -> Verdict:
    """Format the figures; the floor applies to verification, receiving is reported."""
    figures, ratios = median_run(verification)
    ratio_text, ratio = ratio_line(ratios, TARGET, label="ratio".ljust(22))
    receive_ratio = paired_ratio(receivers["sdk"], receivers["bare"])
    lines = [
        f"WebhookVerifier.verify : {figures['sdk_best']:9.0f} verifications/s best"
        f" ({1e6 / figures['sdk_best']:.1f} us each), 4 KiB body, typed event built",
        f"bare hmac + json.loads : {figures['raw_best']:9.0f} verifications/s best"
        f" ({1e6 / figures['raw_best']:.1f} us each)",
        ratio_text,
        f"setup_webhooks receiver: {receivers['sdk'].best:9.0f} requests/s best"
        f" ({receivers['sdk'].median:.0f} median), {CONCURRENCY} in flight, MemoryInbox",
        f"bare aiohttp receiver  : {receivers['bare'].best:9.0f} requests/s best"
        f" ({receivers['bare'].median:.0f} median)",
        f"receiver ratio         : {receive_ratio:.3f} (reported, no target)",
    ]
    return floor_verdict(
        "webhooks (verification, receiver)", lines, ratio, TARGET, what="verification ratio"
    )


def main() -> int:
    """Run the webhook benchmarks; 0 when the verification floor is met."""
    verification = in_fresh_processes(_verification_once)
    with loopback_server("receiver") as sdk_url, loopback_server("bare-receiver") as bare_url:
        receivers = asyncio.run(measure_receivers(sdk_url, bare_url))
    return report(verdict(verification, receivers))


if __name__ == "__main__":
    sys.exit(main())

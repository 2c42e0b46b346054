"""What every response showed: rate-limit headers (OP-11) and latency (OP-17)."""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from typing import Final

from ntrvsta_async.assumptions import DEFAULT_TIMEOUT_TOTAL, Contract
from ntrvsta_async.doctor._shared import ms
from ntrvsta_async.doctor.probe import Exchange, Probe
from ntrvsta_async.doctor.report import NO_SETTING_NEEDED, Finding, Status

__all__ = ["check_latency", "check_rate_limits", "latency_assumption"]

_RATE_LIMIT_PREFIXES: Final = ("x-ratelimit-", "ratelimit-", "x-rate-limit-")


def check_rate_limits(exchanges: Sequence[Exchange]) -> Finding:
    """OP-11: rate-limit headers seen on any response (and 429s)."""
    found = functools.partial(
        Finding,
        op="OP-11",
        check="rate-limit-headers",
        assumption=(
            "no rate limits are published; the client learns the admitted rate from 429s"
            " and paces every request"
        ),
    )
    seen: dict[str, str] = {}
    for ex in exchanges:
        for name, value in ex.headers:
            lowered = name.lower()
            if lowered == "retry-after" or lowered.startswith(_RATE_LIMIT_PREFIXES):
                seen[name] = value
    throttled = sum(1 for ex in exchanges if ex.status == 429)
    answered = sum(1 for ex in exchanges if ex.status is not None)
    note = f"; {throttled} response(s) were 429" if throttled else "; no 429"
    limits = {k: v for k, v in seen.items() if k.lower() != "retry-after"}
    if not seen:
        return found(
            observed=f"no rate-limit headers in {answered} responses{note}", status=Status.OK
        )
    listed = ", ".join(f"{k}: {v}" for k, v in seen.items())
    if not limits:
        return found(observed=f"{listed}{note}", status=Status.OK)
    return found(
        observed=f"{listed}{note}",
        status=Status.DIFFERS,
        advice=(
            NO_SETTING_NEEDED + "the default client (rate_limit='adaptive') also paces itself "
            "by RateLimit-Policy, RateLimit and (X-)RateLimit-Remaining/Reset headers; "
            "NtrvstaClient(rate_limit=N) pins a ceiling of N requests per second"
        ),
    )


def latency_assumption(client_timeout: float) -> str:
    """The OP-17 assumption for a client with ``client_timeout`` seconds."""
    return f"responses arrive well within the client's {client_timeout:g} s timeout"


async def check_latency(
    probe: Probe, contract: Contract, samples: int, client_timeout: float = DEFAULT_TIMEOUT_TOTAL
) -> Finding:
    """OP-17: the median and slowest of ``samples`` results GETs against the client timeout."""
    found = functools.partial(
        Finding, op="OP-17", check="latency", assumption=latency_assumption(client_timeout)
    )
    times = []
    for _ in range(samples):
        ex = await probe.send("GET", contract.results_path)
        if ex.ok:
            times.append(ex.elapsed)
    if not times:
        return found(observed="no GET succeeded to time", status=Status.UNKNOWN)
    median, slowest = statistics.median(times), max(times)
    observed = f"median {ms(median)}, slowest {ms(slowest)} over {len(times)} GETs"
    if slowest < client_timeout / 2:
        return found(observed=observed, status=Status.OK)
    suggested = max(math.ceil(client_timeout * 2), math.ceil(slowest * 3))
    return found(observed=observed, status=Status.DIFFERS, client_options={"timeout": suggested})

"""Import time: ``import ntrvsta_async`` and the imports users actually write, in fresh processes.

Each statement is timed inside a new interpreter (``perf_counter`` around the statement, so
interpreter start-up is excluded), 10 times, interleaved; the median is reported. The
target applies to ``import ntrvsta_async`` (< 150 ms) and to extras: after the client import,
no optional dependency (click, rich, redis, aiosqlite, aiolimiter, orjson) and no sandbox or
CLI module may be loaded. The client import is dominated by aiohttp, whose own import time
is shown as the floor.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from typing import Final

from benchmarks._common import ROOT, Verdict, report

__all__ = ["STATEMENTS", "main", "measure"]

STATEMENTS: Final = {
    "import ntrvsta_async": "import ntrvsta_async",
    "client": "from ntrvsta_async import NtrvstaClient",
    "models and errors": "from ntrvsta_async import ResultSummary, NtrvstaError",
    "webhooks": "from ntrvsta_async.webhooks import WebhookVerifier",
    "aiohttp alone": "import aiohttp",
}
HEAVY: Final = (
    "click",
    "rich",
    "redis",
    "aiosqlite",
    "aiolimiter",
    "orjson",
    "ntrvsta_async.sandbox",
    "ntrvsta_async.cli",
)
RUNS: Final = 10
TARGET_MS: Final = 150.0

_PROBE: Final = """
import json, sys, time
started = time.perf_counter()
{statement}
elapsed = (time.perf_counter() - started) * 1000
heavy = [name for name in {heavy!r} if name in sys.modules]
print(json.dumps({{"ms": elapsed, "heavy": heavy}}))
"""


def _probe(statement: str) -> tuple[float, list[str]]:
    code = _PROBE.format(statement=statement, heavy=HEAVY)
    output = subprocess.run(  # noqa: S603 - our own probe, fixed statements
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    result = json.loads(output)
    return float(result["ms"]), list(result["heavy"])


def measure(runs: int = RUNS) -> tuple[dict[str, list[float]], dict[str, set[str]]]:
    """Milliseconds per statement over ``runs`` interleaved fresh processes; extras loaded."""
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    heavy: dict[str, set[str]] = {name: set() for name in STATEMENTS}
    for _ in range(runs):
        for name, statement in STATEMENTS.items():
            ms, loaded = _probe(statement)
            times[name].append(ms)
            heavy[name].update(loaded)
    return times, heavy


def verdict(times: dict[str, list[float]], heavy: dict[str, set[str]]) -> Verdict:
    """Format the figures and judge the import target and the lazy extras."""
    median = {name: statistics.median(values) for name, values in times.items()}
    lines = [
        f"{name:20s}: {median[name]:6.1f} ms median, {min(times[name]):6.1f} ms best"
        f"   ({STATEMENTS[name]})"
        for name in STATEMENTS
    ]
    own = median["client"] - median["aiohttp alone"]
    lines.append(f"SDK's own share of the client import (client - aiohttp): {own:.1f} ms")
    loaded = sorted(set().union(*heavy.values()))
    lines.append(f"optional dependencies loaded by these imports: {', '.join(loaded) or 'none'}")
    met = median["import ntrvsta_async"] < TARGET_MS and not loaded
    return Verdict(
        name="import time",
        lines=tuple(lines),
        met=met,
        summary=f"import ntrvsta_async {median['import ntrvsta_async']:.1f} ms vs target"
        f" < {TARGET_MS:g} ms; extras {'lazy' if not loaded else 'LOADED: ' + ', '.join(loaded)}",
    )


def main() -> int:
    """Run the import benchmark; 0 when the target is met."""
    times, heavy = measure()
    return report(verdict(times, heavy))


if __name__ == "__main__":
    sys.exit(main())

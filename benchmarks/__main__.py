"""Run every benchmark, each in a fresh interpreter, and print a summary.

``python -m benchmarks`` exits non-zero when any target is missed. ``--only fanout polling``
runs a subset; ``--write PATH`` also writes the machine description and every figure to a
Markdown file (``benchmarks/RESULTS.md`` is written this way).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from benchmarks._common import ROOT, machine

BENCHMARKS: Final = ("import", "fanout", "quota", "polling", "webhooks", "memory", "inbox")
NOTES: Final = """
## Reading the figures

- A ratio is judged round by round: each round runs the two sides back to back, so the
  quotient of their rates compares them under the same load, and a process's ratio is the
  median of its rounds' quotients (a burst of load that spared one side's best round moves
  a best-over-best ratio, not this median). A process's hash seed and memory layout move
  its speed by a few percent, and not equally for both sides, so one process's ratio is one
  draw: hence the median of five processes.
- Every loopback server runs in its own process, so on a 2-core machine the client gets one
  core and the server the other. Wall-clock ratios therefore move with whatever else runs on
  the machine: when the server's core is busy the server becomes the bottleneck and both
  sides slow down alike. The client's CPU time per operation (`us CPU each`) does not move
  with that and is the figure to compare for what the SDK itself costs.
- fan-out: both sides send the same bodies with the same pool and 16 requests in flight; the
  SDK adds argument checks, the candidate model, retry bookkeeping, the `Invitation` model
  and one `BulkOutcome` per input, streamed through a bounded `asyncio.Queue`. It encodes
  bodies with orjson (the `speed` extra) where the raw loop uses `json.dumps`, which pays for
  most of that.
  Rounds are short and many, so that load bursts hit few of them.
- polling: the raw pager only runs `json.loads` and asks for each page when it is done with
  the one before. `results.list` decodes with orjson, builds one `ResultSummary` (with its
  `Candidate` and an aware `datetime`) per result, and asks for the next page as soon as a
  page's cursor is known, so the server prepares it while the models are built. The sandbox
  line is for reference: it does more work per page than the loopback server.
- webhooks: verification builds the full typed `ResultCompletedEvent` (eight objects) from an
  orjson decode and copies a keyed HMAC per secret; the bare check only decodes JSON.
- quota: each run starts a fresh client that knows nothing of the quota; the requests it
  sends before the first 429 comes back (about one per worker) are refused in a first wave,
  so the 429 share is shown for the whole run and after its first 2 s; while they wait out
  their Retry-After, stand-ins keep the run's places busy. The hand-written loop
  sleeps each 429's Retry-After and runs for a fixed time; the no-quota line compares the
  default client with one built with `rate_limit=None` (the controller's cost when idle).
- memory: the poller runs with an inbox that keeps no keys, so the figure is the SDK's own
  working set; `MemoryInbox` keeps every handled key by design (its cost per key is shown).
"""


def _run(name: str) -> tuple[int, list[str]]:
    process = subprocess.Popen(  # noqa: S603 - our own modules
        [sys.executable, "-m", f"benchmarks.bench_{name}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        print(line, end="", flush=True)
        lines.append(line.rstrip("\n"))
    return process.wait(), lines


def _markdown(
    description: list[str], results: dict[str, tuple[int, list[str]]], seconds: float
) -> str:
    out = [
        "# Benchmark results",
        "",
        "Figures of one full run of `python -m benchmarks` (`make bench`). Each comparison runs",
        "both sides interleaved, several rounds, against the same loopback server in a separate",
        "process; rates are the best round (the median is shown beside it), a ratio is the median",
        "over rounds of the two sides' quotient in the same round. Fan-out, polling and",
        "verification repeat that in five fresh client processes and are judged on the median of",
        "their five ratios; the figures shown are those of the median process.",
        "",
        "## Machine",
        "",
        *(f"- {line}" for line in description),
        f"- whole run: {seconds:.0f} s; load average at the end"
        f" {' '.join(f'{load:.2f}' for load in os.getloadavg())}",
        "",
    ]
    for name, (code, lines) in results.items():
        out += [f"## {name}", "", "```text", *lines, "```", ""]
        if code not in (0, 1):
            out += [f"(exited with status {code})", ""]
    return "\n".join(out) + NOTES


def main() -> int:
    """Run the selected benchmarks; 0 when every target was met."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, default=list(BENCHMARKS))
    parser.add_argument("--write", type=Path, help="write the figures to this Markdown file")
    args = parser.parse_args()
    description = machine()
    for line in description:
        print(line)
    began = time.monotonic()
    results = {name: _run(name) for name in args.only}
    print("\nsummary")
    for name, (code, lines) in results.items():
        verdict = next((line.strip() for line in reversed(lines) if "=>" in line), "no verdict")
        print(f"  {name:9s} {verdict if code in (0, 1) else f'failed (exit {code})'}")
    if args.write is not None:
        args.write.write_text(_markdown(description, results, time.monotonic() - began))
        print(f"figures written to {args.write}")
    return 0 if all(code == 0 for code, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

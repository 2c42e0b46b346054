"""What every benchmark shares: the loopback server process, interleaved timing, verdicts."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Final, TypeVar

import aiohttp
import attrs

__all__ = [
    "API_KEY",
    "ROOT",
    "SECRET",
    "Rates",
    "Round",
    "Verdict",
    "compare",
    "floor_verdict",
    "in_fresh_processes",
    "interleaved",
    "loopback_server",
    "machine",
    "median_run",
    "paired_ratio",
    "ratio_line",
    "raw_session",
    "report",
]

T = TypeVar("T")
PROCESSES: Final = 5
"""Fresh client processes per comparison: the verdict is the median of their ratios."""

ROOT: Final = Path(__file__).resolve().parent.parent
API_KEY: Final = "bench-key-0123456789"
SECRET: Final = "bench-secret"  # noqa: S105 - the benchmarks' own signing secret


@contextlib.contextmanager
def loopback_server(mode: str, *options: str) -> Iterator[str]:
    """Start ``benchmarks._server`` in ``mode`` in a child process; yield its base URL."""
    process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [
            sys.executable,
            "-m",
            "benchmarks._server",
            mode,
            "--api-key",
            API_KEY,
            "--secret",
            SECRET,
            *options,
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("http"):
            raise RuntimeError(f"the {mode} loopback server did not start")
        yield line
    finally:
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


@attrs.frozen
class Rates:
    """Per-round rates (operations per second) of one side of a comparison."""

    samples: tuple[float, ...]

    @property
    def best(self) -> float:
        """The fastest round: the least disturbed by other work on the machine."""
        return max(self.samples)

    @property
    def median(self) -> float:
        """The median round."""
        return statistics.median(self.samples)


Round = Callable[[], Awaitable[tuple[int, float]]]
"""One timed round: returns (operations done, seconds taken)."""


async def interleaved(sides: dict[str, Round], *, rounds: int, warmup: int = 1) -> dict[str, Rates]:
    """Run each side's round in turn, ``rounds`` times (after ``warmup`` untimed turns)."""
    for _ in range(warmup):
        for run in sides.values():
            await run()
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for index in range(rounds):
        order = list(sides.items())
        if index % 2:
            order.reverse()
        for name, run in order:
            done, seconds = await run()
            samples[name].append(done / seconds)
    return {name: Rates(tuple(values)) for name, values in samples.items()}


def raw_session() -> aiohttp.ClientSession:
    """The hand-written side's session, with the pool (100 connections) and timeout (60 s,
    10 s to connect) of the SDK's default client, so that only the code between differs."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100),
        timeout=aiohttp.ClientTimeout(total=60, connect=10),
    )


async def compare(sdk: Round, raw: Round, *, rounds: int) -> dict[str, float]:
    """Interleaved rounds of the SDK and the hand-written side: each side's best and median
    rate, its fewest CPU microseconds per operation, and the paired ratio of the two."""
    cpu_us = {"sdk": float("inf"), "raw": float("inf")}

    def timed(name: str, run: Round) -> Round:
        async def timed_run() -> tuple[int, float]:
            started = time.process_time()
            done, seconds = await run()
            cpu_us[name] = min(cpu_us[name], (time.process_time() - started) / done * 1e6)
            return done, seconds

        return timed_run

    rates = await interleaved({"sdk": timed("sdk", sdk), "raw": timed("raw", raw)}, rounds=rounds)
    return {
        "sdk_best": rates["sdk"].best,
        "sdk_median": rates["sdk"].median,
        "raw_best": rates["raw"].best,
        "raw_median": rates["raw"].median,
        "sdk_cpu_us": cpu_us["sdk"],
        "raw_cpu_us": cpu_us["raw"],
        "ratio": paired_ratio(rates["sdk"], rates["raw"]),
    }


def paired_ratio(side: Rates, baseline: Rates) -> float:
    """The median over rounds of ``side``'s rate over ``baseline``'s in the same round.

    ``interleaved`` runs a round's two sides back to back, so each quotient compares them
    under the same load; its median shrugs off a burst of load that a best-of-rounds
    ratio would credit to whichever side it spared.
    """
    return statistics.median(a / b for a, b in zip(side.samples, baseline.samples, strict=True))


def in_fresh_processes(job: Callable[..., T], *args: object, times: int = PROCESSES) -> list[T]:
    """``job(*args)`` run ``times`` times, one after another, each in a new interpreter.

    A process's hash seed and memory layout move its speed by a few percent, and not by the
    same amount for both sides of a comparison; the median over processes does not hang on
    one draw.
    """
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1) as pool:
        return [pool.submit(job, *args).result() for _ in range(times)]


def median_run(runs: Sequence[dict[str, float]]) -> tuple[dict[str, float], list[float]]:
    """The run whose paired ``ratio`` is the median, and every run's ratio, sorted."""
    ratios = [run["ratio"] for run in runs]
    order = sorted(range(len(runs)), key=ratios.__getitem__)
    return runs[order[len(order) // 2]], sorted(ratios)


def ratio_line(ratios: Sequence[float], target: float, label: str = "ratio") -> tuple[str, float]:
    """The verdict line for per-process ratios, and the median ratio it is judged on."""
    median = statistics.median(ratios)
    each = ", ".join(f"{ratio:.3f}" for ratio in ratios)
    return (
        f"{label:<12} : {median:.3f} (target >= {target}); median of {len(ratios)} processes'"
        f" paired ratios ({each})",
        median,
    )


@attrs.frozen
class Verdict:
    """One benchmark's figures (already formatted lines) and whether its targets were met."""

    name: str
    lines: tuple[str, ...]
    met: bool
    summary: str


def floor_verdict(
    name: str, lines: Sequence[str], ratio: float, floor: float, what: str = "ratio"
) -> Verdict:
    """A comparison's verdict: met when ``ratio`` (named ``what``) reaches its regression
    ``floor``."""
    return Verdict(
        name=name,
        lines=tuple(lines),
        met=ratio >= floor,
        summary=f"{what} {ratio:.3f} vs floor >= {floor}",
    )


def report(verdict: Verdict) -> int:
    """Print a verdict; the exit status a script returns for it."""
    print(f"== {verdict.name}")
    for line in verdict.lines:
        print(f"   {line}")
    print(f"   => {'met' if verdict.met else 'MISSED'}: {verdict.summary}", flush=True)
    return 0 if verdict.met else 1


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> list[str]:
    """The machine and software the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return [
        f"CPU: {cpu}, {os.cpu_count()} logical cores (nproc)",
        f"memory: {memory}",
        f"OS: {platform.system()} {platform.release()}",
        f"Python: {platform.python_version()} ({platform.python_implementation()})",
        "packages: "
        + ", ".join(
            f"{name} {_version(name)}"
            for name in ("ntrvsta-async", "aiohttp", "attrs", "cattrs", "tenacity", "orjson")
        ),
        f"measured: {time.strftime('%Y-%m-%d %H:%M %Z')}, load average at start"
        f" {' '.join(f'{load:.2f}' for load in os.getloadavg())} (1, 5, 15 min)",
    ]

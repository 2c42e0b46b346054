"""The benchmarks run end to end on a small scale, so a change cannot silently break them."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import (
    bench_fanout,
    bench_inbox,
    bench_polling,
    bench_quota,
    bench_webhooks,
    profile,
)
from benchmarks._common import Rates, loopback_server, median_run, paired_ratio, ratio_line
from tests.support.postgres_support import postgres_cluster, postgres_dsn

__all__ = ["postgres_cluster", "postgres_dsn"]


def test_paired_ratio_is_the_median_of_same_round_quotients() -> None:
    sdk = Rates((90.0, 50.0, 100.0))
    raw = Rates((100.0, 100.0, 100.0))
    assert paired_ratio(sdk, raw) == pytest.approx(0.9)
    assert paired_ratio(Rates((10.0, 40.0)), Rates((20.0, 20.0))) == pytest.approx(1.25)
    with pytest.raises(ValueError, match=r"shorter|longer"):
        paired_ratio(Rates((1.0,)), Rates((1.0, 2.0)))


def test_the_verdict_is_the_median_process() -> None:
    runs = [{"ratio": ratio, "tag": float(n)} for n, ratio in enumerate((0.97, 0.90, 1.02))]
    figures, ratios = median_run(runs)
    assert figures["tag"] == 0.0
    assert ratios == [0.90, 0.97, 1.02]
    line, median = ratio_line(ratios, 0.95)
    assert median == 0.97
    assert "0.970 (target >= 0.95)" in line


async def test_fanout_measures_both_sides_and_judges_the_ratio() -> None:
    with loopback_server("api") as base_url:
        run = await bench_fanout.measure(base_url, per_round=40, rounds=2)
    assert run["sdk_best"] > 0
    assert run["raw_best"] > 0
    assert run["sdk_cpu_us"] > 0
    assert 0 < run["ratio"] < 10
    verdict = bench_fanout.verdict([run, run, run])
    assert verdict.met == (run["ratio"] >= bench_fanout.TARGET)
    assert any(line.startswith("create_many") for line in verdict.lines)


async def test_quota_benchmark_measures_every_case_and_judges_them() -> None:
    with loopback_server("quota") as base_url:
        steady = await bench_quota.measure_steady(base_url, 100, 8, seconds=1.5, at_least=0)
        loop = await bench_quota.measure_loop(base_url, 100, 8, seconds=1.0)
        phases = ((100.0, 1.0), (40.0, 1.5), (150.0, 1.5))
        change = await bench_quota.measure_change(base_url, 8, phases=phases, sdk=True)
        latency = await bench_quota.measure_latency(base_url, 0.02, 16, rounds=2)
        unlimited = await bench_quota.measure_unlimited(base_url, per_round=100, rounds=2)
    assert steady.done + steady.failed == 150
    assert steady.refused > 0, "the quota server refused the first wave"
    assert 0 < steady.efficiency < 3
    assert loop.done > 0
    assert set(change) == {"efficiency", "refused_share", "settle", "rise"}
    assert 0 < latency[0] < 2
    assert 0 < latency[1] < 2
    assert 0 < unlimited < 10
    table = {
        (lat, c): latency
        for lat in bench_quota.LATENCIES
        for c in bench_quota.LATENCY_CONCURRENCIES
    }
    verdict = bench_quota.verdict([steady], [loop], change, change, table, unlimited)
    assert any(line.startswith("  100     8") for line in verdict.lines), verdict.lines


async def test_polling_measures_both_sides_and_judges_the_ratio() -> None:
    with loopback_server("api") as base_url:
        run = await bench_polling.measure(base_url, total=250, rounds=2)
    assert run["sdk_best"] > 0
    assert run["raw_best"] > 0
    assert 0 < run["ratio"] < 10
    verdict = bench_polling.verdict([run])
    assert verdict.met == (run["ratio"] >= bench_polling.TARGET)


async def test_webhook_benchmarks_verify_and_receive() -> None:
    rates = await bench_webhooks.measure_verification(rounds=2, per_round=50)
    assert len(rates["sdk"].samples) == len(rates["bare"].samples) == 2
    with (
        loopback_server("receiver") as sdk_url,
        loopback_server("bare-receiver") as bare_url,
    ):
        receivers = await bench_webhooks.measure_receivers(
            sdk_url, bare_url, rounds=2, per_round=20
        )
    run = {
        "sdk_best": rates["sdk"].best,
        "raw_best": rates["bare"].best,
        "ratio": paired_ratio(rates["sdk"], rates["bare"]),
    }
    verdict = bench_webhooks.verdict([run], receivers)
    assert verdict.met == (run["ratio"] >= bench_webhooks.TARGET)
    assert any("receiver ratio" in line for line in verdict.lines)


@pytest.mark.parametrize(
    ("target", "size", "expected"),
    [
        ("fanout", 500, "  ntrvsta_async/transport/"),
        ("polling", 2000, "ntrvsta_async/_converter.py"),
        ("verify", 5000, "ntrvsta_async/_converter.py"),
    ],
)
def test_the_profile_names_where_the_sdk_spends_its_time(
    target: str, size: int, expected: str
) -> None:
    profiler = profile.profile(target, size, interval=0.0001)
    lines = profile.self_times(profiler)
    assert any(expected in line for line in lines), lines[:10]
    assert all(line.split()[1] == "s" and line.split()[2].endswith("%") for line in lines)


async def test_inbox_benchmark_runs_every_backend_through_the_poller(
    tmp_path: Path, postgres_dsn: str
) -> None:
    with loopback_server("api") as base_url:
        chosen = bench_inbox.backends(tmp_path, None, postgres_dsn)
        rates = await bench_inbox.measure(base_url, chosen, total=150, rounds=1)
    assert set(rates) == {"memory", "sqlite", "postgresql"}
    assert all(rate.best > 0 for rate in rates.values())
    verdict = bench_inbox.verdict(rates, total=150)
    assert verdict.met == (rates["postgresql"].best >= bench_inbox.TARGET)
    assert any("redis" in line and "skipped" in line for line in verdict.lines)

"""``ntrvsta demo``: a small run in process, and the full one through the real entry point."""

from __future__ import annotations

import re

import pytest

from ntrvsta_async.cli.demo import DemoSummary, run_demo
from tests.cli.test_cli_support import clean_env, run_cli

FINAL = re.compile(
    r"^invited (\d+) · completed (\d+) · via webhook (\d+) · recovered by poller (\d+)"
    r" · duplicates suppressed (\d+) · lost (\d+)$"
)


async def test_small_demo_loses_nothing_and_measures_both_paths() -> None:
    lines: list[str] = []
    summary = await run_demo(60, seed=3, out=lines.append)

    assert summary.ok, summary.problems
    assert (summary.invited, summary.completed, summary.lost, summary.handled_twice) == (
        60,
        60,
        0,
        0,
    )
    assert summary.via_webhook + summary.recovered_by_poller == 60
    assert summary.webhooks_dropped > 0, "the fault plan dropped webhooks"
    assert summary.recovered_by_poller >= summary.webhooks_dropped, "every drop was recovered"
    assert summary.via_webhook > 0
    assert summary.webhooks_duplicated > 0
    assert summary.duplicate_deliveries >= summary.webhooks_duplicated
    assert summary.duplicates_suppressed == (
        summary.duplicate_deliveries + summary.poller_skipped_webhook
    )
    assert sum(summary.api_faults.values()) > 0, "the API failed on purpose"
    assert FINAL.match(summary.final_line())
    assert any(line.startswith("sandbox on http://127.0.0.1:") for line in lines)


def test_lost_results_fail_the_summary() -> None:
    base = dict(
        requested=10, invited=10, completed=10, via_webhook=6, recovered_by_poller=3,
        duplicate_deliveries=1, poller_skipped_webhook=6, lost=1, handled_twice=0,
        unknown_handled=0, api_faults={}, webhook_events=10, webhooks_dropped=4,
        webhooks_duplicated=1, webhooks_accepted=7, poller_passes=2, poller_skipped_total=6,
        seconds=1.0,
    )  # fmt: skip
    lost = DemoSummary(**base)  # type: ignore[arg-type]
    assert not lost.ok
    assert lost.problems == ["1 result(s) lost"]
    assert lost.final_line().endswith("· duplicates suppressed 7 · lost 1")


@pytest.mark.slow
def test_full_demo_through_the_entry_point() -> None:
    result = run_cli("demo", env=clean_env(), timeout=120)

    assert result.returncode == 0, result.stderr
    last = result.stdout.splitlines()[-1]
    match = FINAL.match(last)
    assert match, last
    invited, completed, webhook, poller, duplicates, lost = map(int, match.groups())
    assert (invited, completed, lost) == (500, 500, 0)
    assert webhook + poller == 500
    assert min(poller, webhook, duplicates) > 0
    assert "handled twice: 0" in result.stdout
    assert "inviting: 500/500" in result.stderr
    assert "warning" not in result.stderr

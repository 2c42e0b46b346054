"""One reconciliation pass, for cron: append every result not yet handled to a JSONL file.

The SQLite inbox remembers what was handled and where the last pass stopped, so each run
appends only new results, and a run killed half-way loses nothing: the next run resumes.
The exit status is 0 when the pass completed, 1 when it ended on an error (the next run
retries).

    # crontab: every 5 minutes
    */5 * * * * NTRVSTA_API_KEY=... python examples/reconcile_once.py --out /data/results.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from ntrvsta_async import NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import ReconcileReport, ResultPoller, SQLiteInbox


async def reconcile_once(
    client: NtrvstaClient,
    *,
    inbox_path: Path,
    out_path: Path,
    template_ids: Sequence[str] = (),
) -> ReconcileReport:
    """Run one pass and append each newly handled result (its wire JSON) to ``out_path``."""
    lock = asyncio.Lock()

    async def append(result: ResultSummary) -> None:
        line = json.dumps(result.to_dict(), separators=(",", ":")) + "\n"
        async with lock:
            with out_path.open("a", encoding="utf-8") as file:
                file.write(line)

    async with SQLiteInbox(inbox_path) as inbox:
        poller = ResultPoller(client, append, inbox=inbox, partitions=list(template_ids) or None)
        return await poller.run_once()


async def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> ReconcileReport:
    """Connect, reconcile once and print the pass's figures."""
    async with NtrvstaClient(api_key=args.api_key, base_url=args.base_url) as client:
        report = await reconcile_once(
            client, inbox_path=args.inbox, out_path=args.out, template_ids=args.template
        )
    print(
        f"pages={report.pages} seen={report.seen} new={report.new} handled={report.handled}"
        f" failed={report.failed} duplicates={report.skipped_duplicates}"
        + (f" error={report.error}" if report.error else ""),
        file=out,
    )
    return report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: output file, inbox file, optional template partitions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results.jsonl"))
    parser.add_argument("--inbox", type=Path, default=Path("ntrvsta-inbox.sqlite3"))
    parser.add_argument(
        "--template", action="append", default=[], help="only this template (repeatable)"
    )
    parser.add_argument("--base-url", help="default NTRVSTA_BASE_URL, else production")
    parser.add_argument("--api-key", help="default NTRVSTA_API_KEY")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """One pass; 1 when it ended on an error or a handler failed."""
    report = asyncio.run(run(parse_args(argv)))
    return 1 if report.error or report.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

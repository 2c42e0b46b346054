"""Invite every candidate of a CSV file to one interview template.

The CSV needs an ``email`` column; ``first_name``, ``last_name`` and
``external_candidate_id`` are used when present. Rows are read lazily and outcomes streamed,
so a file of 100,000 rows runs in constant memory. Re-running the same file is safe: the
API returns the invitation a candidate already has. Failed rows are printed with their line
number; the exit status is 1 when any row failed.

    export NTRVSTA_API_KEY=...
    python examples/bulk_invite_csv.py candidates.csv --posting-id job-42 --title "Backend Engineer"
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

import attrs

from ntrvsta_async import Candidate, InvitationRequest, NtrvstaClient


@attrs.frozen
class Summary:
    """How a run went: invitations created, reused, and rows that failed."""

    created: int
    reused: int
    failed: int


def read_requests(path: Path, template_id: str) -> Iterator[InvitationRequest]:
    """One request per CSV row, read as they are needed."""
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            candidate = Candidate(
                email=(row.get("email") or "").strip(),
                first_name=row.get("first_name") or None,
                last_name=row.get("last_name") or None,
                external_candidate_id=row.get("external_candidate_id") or None,
            )
            yield InvitationRequest(template_id, candidate)


async def invite(
    client: NtrvstaClient,
    path: Path,
    template_id: str,
    *,
    concurrency: int = 16,
    out: TextIO = sys.stdout,
) -> Summary:
    """Invite every row of ``path``; print failures and progress to ``out``."""
    created = reused = failed = 0
    run = client.invitations.create_many(read_requests(path, template_id), concurrency=concurrency)
    async for outcome in run:
        if outcome.invitation is not None:
            if outcome.invitation.reused:
                reused += 1
            else:
                created += 1
        else:
            failed += 1
            print(f"row {outcome.index + 2}: {outcome.error}", file=out)
        done = created + reused + failed
        if done % 1000 == 0:
            print(f"{done} rows done", file=out, flush=True)
    return Summary(created=created, reused=reused, failed=failed)


async def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> Summary:
    """Resolve the template (given, or create-or-reuse by posting id), then invite."""
    async with NtrvstaClient(api_key=args.api_key, base_url=args.base_url) as client:
        template_id = args.template_id
        if template_id is None:
            template = await client.templates.create(
                title=args.title, external_posting_id=args.posting_id
            )
            template_id = template.template_id
        summary = await invite(client, args.csv, template_id, concurrency=args.concurrency, out=out)
    print(
        f"template {template_id}: {summary.created} invited, {summary.reused} already invited,"
        f" {summary.failed} failed",
        file=out,
    )
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line: the CSV file and where to invite its candidates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--template-id", help="invite to this template")
    parser.add_argument("--posting-id", help="or to the template of this ATS posting")
    parser.add_argument("--title", default="Interview", help="title when the template is new")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--base-url", help="default NTRVSTA_BASE_URL, else production")
    parser.add_argument("--api-key", help="default NTRVSTA_API_KEY")
    args = parser.parse_args(argv)
    if (args.template_id is None) == (args.posting_id is None):
        parser.error("give exactly one of --template-id and --posting-id")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the import; 1 when any row failed."""
    summary = asyncio.run(run(parse_args(argv)))
    return 1 if summary.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

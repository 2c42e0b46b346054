"""``ntrvsta demo``: the end-to-end demo on an embedded sandbox; no key, no network."""

from __future__ import annotations

import attrs
import click

from ntrvsta_async.cli.common import (
    CliError,
    echo_json,
    quiet_retries,
    run_async,
    stdout_is_tty,
)

__all__ = ["demo"]


@click.command("demo")
@click.option(
    "--invitations",
    default=500,
    show_default=True,
    type=click.IntRange(min=1, max=100_000),
    help="Candidates to invite.",
)
@click.option("--seed", default=2024, show_default=True, type=int, help="Seed for the faults.")
@click.option("-q", "--quiet", is_flag=True, help="Only the summary.")
@click.option("--json", "as_json", is_flag=True, help="The summary as one JSON line.")
def demo(invitations: int, seed: int, quiet: bool, as_json: bool) -> None:
    """Invite candidates on a local sandbox that fails on purpose, and lose no result.

    The sandbox answers some API calls with 429 and 5xx, drops about 30% of webhooks and
    duplicates 10%; a webhook receiver and the ResultPoller share one inbox. Exits 1 if any
    result was lost or handled twice.
    """
    from ntrvsta_async.cli.demo import run_demo

    quiet_retries()

    def say(line: str) -> None:
        click.echo(line, err=True)

    summary = run_async(
        lambda: run_demo(
            invitations,
            seed=seed,
            out=None if quiet else say,
            show_progress=not quiet,
        )
    )
    if as_json:
        echo_json(
            attrs.asdict(summary)
            | {"duplicates_suppressed": summary.duplicates_suppressed, "ok": summary.ok}
        )
    elif stdout_is_tty():
        from rich.console import Console
        from rich.table import Table

        table = Table("what", "measured", title="ntrvsta demo")
        for label, value in summary.rows():
            table.add_row(label, value)
        Console().print(table)
    else:
        for label, value in summary.rows():
            click.echo(f"{label}: {value}")
    if not as_json:
        click.echo(summary.final_line())
    if not summary.ok:
        raise CliError("; ".join(summary.problems))

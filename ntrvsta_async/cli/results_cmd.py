"""``ntrvsta results list``: completed interview results, as a table or JSON lines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import click

from ntrvsta_async.cli.common import (
    CliState,
    connection_options,
    echo_json,
    run_async,
    stdout_is_tty,
)
from ntrvsta_async.models import ResultSummary

if TYPE_CHECKING:
    from ntrvsta_async.client import NtrvstaClient

__all__ = ["parse_since", "results"]

_RELATIVE: Final = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(
    ctx: click.Context | None, param: click.Parameter | None, value: str | None
) -> datetime | None:
    """An ISO-8601 time (UTC when no offset is given) or an age such as ``30m``, ``2h``, ``7d``."""
    if value is None:
        return None
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        return datetime.now(UTC) - timedelta(**{_UNITS[unit]: amount})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is neither an ISO-8601 time (2025-01-31T12:00:00Z) nor an age (2h)",
            ctx=ctx,
            param=param,
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _row(result: ResultSummary) -> tuple[str, str, str, str, str]:
    score = "" if result.overall_score is None else f"{result.overall_score:g}"
    when = result.completed_at or ""
    if isinstance(when, datetime):
        when = when.isoformat(timespec="seconds")
    email = result.candidate.email if result.candidate is not None else ""
    return (result.key, score, when, email, result.template_id or "")


_HEADERS: Final = ("result", "score", "completed at", "candidate", "template")


async def _print_raw(client: NtrvstaClient, filters: dict[str, Any]) -> None:
    """Every page's items as the API sent them, one JSON line each."""
    cursor: str | None = None
    seen: set[str] = set()
    while True:
        page = await client.results.list_page_raw(cursor=cursor, **filters)
        for item in page.items:
            echo_json(item)
        cursor = page.next_cursor
        if cursor is None or not page.items or cursor in seen:
            return
        seen.add(cursor)


@click.group("results")
def results() -> None:
    """Completed interview results."""


@results.command("list")
@click.option(
    "--since",
    metavar="TIME",
    callback=parse_since,
    help="Only results completed after this time: ISO-8601 (UTC if no offset) or an age (2h).",
)
@click.option("--template", "template_id", metavar="ID", help="Only this template's results.")
@click.option(
    "--posting-id", "external_posting_id", metavar="ID", help="Only this posting's results."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="One JSON object per line, each item exactly as the API sent it.",
)
@connection_options(on_group=False)
@click.pass_obj
def list_results(
    state: CliState,
    since: datetime | None,
    template_id: str | None,
    external_posting_id: str | None,
    as_json: bool,
) -> None:
    """List completed interview results (every page).

    A table on a terminal, tab-separated lines otherwise, JSON lines with --json (the
    API's own JSON of each result, timestamps and scores as sent).
    """
    filters: dict[str, Any] = {
        "template_id": template_id,
        "external_posting_id": external_posting_id,
        "completed_after": since,
    }
    table = not as_json and stdout_is_tty()
    plain = not as_json and not table
    collected: list[ResultSummary] = []
    header_due = plain

    def emit(result: ResultSummary) -> None:
        nonlocal header_due
        if header_due:
            header_due = False
            click.echo("\t".join(_HEADERS))
        if table:
            collected.append(result)
        else:
            click.echo("\t".join(_row(result)))

    async def main() -> None:
        async with state.client() as client:
            if as_json:
                await _print_raw(client, filters)
                return
            async for result in client.results.list(**filters):
                emit(result)

    run_async(main)
    if header_due:
        click.echo("\t".join(_HEADERS))
    if table:
        from rich.console import Console
        from rich.table import Table

        view = Table(*_HEADERS, title=f"{len(collected)} result(s)")
        for result in collected:
            view.add_row(*_row(result))
        Console().print(view)

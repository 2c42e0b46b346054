"""``ntrvsta doctor``: check a live environment against the SDK's contract assumptions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Final

import click

from ntrvsta_async.cli.common import (
    EXIT_AUTH,
    EXIT_FAILURE,
    CliState,
    ConfigError,
    connection_options,
    echo_json,
    run_async,
    stdout_is_tty,
)
from ntrvsta_async.errors import ConfigurationError

if TYPE_CHECKING:
    from ntrvsta_async.doctor import DoctorReport

__all__ = ["doctor"]

_STYLES: Final = {"OK": "green", "DIFFERS": "bold red", "UNKNOWN": "yellow"}


def _counts(report: DoctorReport) -> str:
    counts = {"OK": 0, "DIFFERS": 0, "UNKNOWN": 0}
    for finding in report.findings:
        counts[finding.status.value] += 1
    parts = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{len(report.findings)} checks against {report.base_url}: {parts}"


def _print_plain(report: DoctorReport) -> None:
    for finding in report.findings:
        click.echo(f"{finding.op:<6} {finding.check:<20} {finding.status.value}")
        click.echo(f"  assumed:  {finding.assumption}")
        click.echo(f"  observed: {finding.observed}")
        if finding.fix and finding.status.value != "OK":
            click.echo(f"  fix:      {finding.fix}")
        click.echo("")


def _print_table(report: DoctorReport) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    table.add_column("OP", no_wrap=True)
    table.add_column("Assumption", overflow="fold")
    table.add_column("Observed", overflow="fold")
    table.add_column("Status", no_wrap=True)
    for finding in report.findings:
        observed = finding.observed
        if finding.fix and finding.status.value != "OK":
            observed += f"\nfix: {finding.fix}"
        status = finding.status.value
        table.add_row(finding.op, finding.assumption, observed, f"[{_STYLES[status]}]{status}[/]")
    Console().print(table)


def _print_fixes(report: DoctorReport, saved: Path | None) -> None:
    click.echo(_counts(report))
    if report.unknown:
        click.echo(f"{len(report.unknown)} check(s) could not run; their lines say why.")
    if report.ok:
        click.echo("Every check that could run matches the SDK's assumptions.")
        return
    options = report.suggested_client_options()
    if not options:
        click.echo("No setting changes what DIFFERS above; see each line's fix.")
        return
    click.echo("")
    click.echo("Configure the client with what was observed:")
    click.echo("")
    for line in report.snippet().splitlines():
        click.echo(f"    {line}" if line else "")
    if saved is not None:
        click.echo("")
        click.echo(f"The contract overrides were saved to {saved}.")


@click.command("doctor")
@connection_options(on_group=False)
@click.option(
    "--write-probe",
    is_flag=True,
    help="Also create-or-reuse one template and one invitation, twice, to learn their "
    "status codes (needs --posting-id and --candidate-email).",
)
@click.option("--posting-id", metavar="ID", help="externalPostingId of the probe template.")
@click.option("--candidate-email", metavar="ADDR", help="A test address of yours to invite to it.")
@click.option(
    "--samples",
    default=5,
    show_default=True,
    type=click.IntRange(1, 50),
    help="GETs timed for latency.",
)
@click.option(
    "--timeout",
    "request_timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Timeout of each probe request.",
)
@click.option(
    "--save-contract",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Write the suggested Contract overrides to FILE (JSON, for --contract).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.pass_context
def doctor(
    ctx: click.Context,
    write_probe: bool,
    posting_id: str | None,
    candidate_email: str | None,
    samples: int,
    request_timeout: float,
    save_contract: Path | None,
    as_json: bool,
) -> None:
    """Check an environment against the SDK's contract assumptions (the open points
    OP-1..OP-18, each named in ntrvsta_async/assumptions.py).

    Read-only unless --write-probe (which creates a real template and invitation: use a
    posting id and an address of your own). Prints each assumption with what was seen (OK,
    DIFFERS, UNKNOWN) and the client configuration that fixes every DIFFERS. --contract
    FILE checks against saved overrides instead of the defaults. Exits 1 when a check
    DIFFERS in a way that needs a setting (a difference whose fix says 'no setting needed'
    exits 0), 4 when the key is refused in every form.
    """
    from ntrvsta_async.doctor import WriteProbe, contract_file_data, run_doctor

    state = ctx.find_object(CliState) or CliState()
    if write_probe and not (posting_id and candidate_email):
        raise click.UsageError("--write-probe needs --posting-id and --candidate-email")
    if not write_probe and (posting_id or candidate_email):
        raise click.UsageError("--posting-id and --candidate-email need --write-probe")
    api_key = state.resolve_api_key()
    try:
        contract = state.contract()
        auth_scheme = state.resolved_auth_scheme()
        probe = (
            WriteProbe(posting_id=posting_id, candidate_email=candidate_email)
            if write_probe and posting_id and candidate_email
            else None
        )
        report = run_async(
            lambda: run_doctor(
                api_key,
                state.base_url,
                contract=contract,
                auth_scheme=auth_scheme,
                write_probe=probe,
                samples=samples,
                request_timeout=request_timeout,
                allow_insecure_http=state.allow_insecure_http,
            )
        )
    except ConfigurationError as exc:
        raise ConfigError(str(exc)) from None
    if save_contract is not None:
        data = contract_file_data(
            report.suggested_contract(), report.suggested_client_options().get("auth_scheme")
        )
        save_contract.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if as_json:
        echo_json(report.to_dict())
    else:
        if stdout_is_tty():
            _print_table(report)
        else:
            _print_plain(report)
        _print_fixes(report, save_contract)
    if _key_refused(report):
        ctx.exit(EXIT_AUTH)
    if report.actionable:
        ctx.exit(EXIT_FAILURE)


def _key_refused(report: DoctorReport) -> bool:
    auth = report.finding("auth")
    return auth.status.value == "DIFFERS" and not (auth.override or auth.client_options)

"""The ``ntrvsta`` command group; every command is defined in its own module and added here."""

from __future__ import annotations

from pathlib import Path

import click

from ntrvsta_async._version import __version__
from ntrvsta_async.cli.capture_cmd import capture
from ntrvsta_async.cli.common import (
    API_KEY_WARNING,
    EXIT_CODES_HELP,
    CliState,
    NtrvstaGroup,
    configure_logging,
    connection_options,
    warn,
)
from ntrvsta_async.cli.demo_cmd import demo
from ntrvsta_async.cli.doctor_cmd import doctor
from ntrvsta_async.cli.inbox_cmd import inbox
from ntrvsta_async.cli.invite_cmd import invite
from ntrvsta_async.cli.reconcile_cmd import reconcile
from ntrvsta_async.cli.results_cmd import results
from ntrvsta_async.cli.sandbox_cmd import sandbox
from ntrvsta_async.cli.templates_cmd import templates
from ntrvsta_async.cli.webhooks_cmd import webhooks

__all__ = ["cli"]


@click.group(
    cls=NtrvstaGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, prog_name="ntrvsta")
@connection_options(on_group=True)
@click.option(
    "--api-key",
    metavar="KEY",
    help="The API key itself (warns: it lands in shell history). Prefer NTRVSTA_API_KEY.",
)
@click.option(
    "--allow-insecure-http",
    is_flag=True,
    envvar="NTRVSTA_ALLOW_INSECURE_HTTP",
    help="Allow a plain http:// base URL off loopback, for a trusted network"
    " [env NTRVSTA_ALLOW_INSECURE_HTTP=1].",
)
@click.option("--debug", is_flag=True, help="Log everything and show tracebacks.")
@click.pass_context
def cli(
    ctx: click.Context,
    base_url: str | None,
    api_key_file: Path | None,
    contract_file: Path | None,
    auth_scheme: str | None,
    api_key: str | None,
    allow_insecure_http: bool,
    debug: bool,
) -> None:
    """NTRVSTA partner API tools: templates, invitations, results, webhooks, a sandbox.

    The API key comes from NTRVSTA_API_KEY or --api-key-file. --base-url, --api-key-file,
    --contract and --auth-scheme may also follow the command (ntrvsta results list
    --base-url URL).
    """
    configure_logging(debug)
    if api_key is not None and api_key_file is not None:
        raise click.UsageError("use either --api-key or --api-key-file, not both")
    if api_key is not None:
        warn(API_KEY_WARNING)
    ctx.obj = CliState(
        base_url=base_url or None,
        api_key=api_key,
        api_key_file=api_key_file,
        contract_file=contract_file,
        auth_scheme=auth_scheme,
        allow_insecure_http=allow_insecure_http,
        debug=debug,
    )


cli.add_command(templates)
cli.add_command(invite)
cli.add_command(results)
cli.add_command(reconcile)
cli.add_command(webhooks)
cli.add_command(sandbox)
cli.add_command(demo)
cli.add_command(doctor)
cli.add_command(inbox)
webhooks.add_command(capture)

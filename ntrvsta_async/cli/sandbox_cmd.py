"""``ntrvsta sandbox``: run the in-memory NTRVSTA sandbox until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from typing import Any

import click

from ntrvsta_async.cli.common import CliState, configure_logging

__all__ = ["sandbox"]


def _debug() -> bool:
    state = click.get_current_context().find_object(CliState)
    return state is not None and state.debug


def _fault_plan(seed: int, error_rate: float, latency: float) -> Any:
    from ntrvsta_async.sandbox import FaultPlan, RouteFaults

    if not error_rate and not latency:
        return None
    share = error_rate / 4
    route = RouteFaults(
        rate_429=share, rate_500=share, rate_502=share, rate_503=share, latency=latency
    )
    return FaultPlan(seed=seed, default=route)


def _announce(server: Any, *, generated_secret: str | None, as_json: bool) -> None:
    if as_json:
        info: dict[str, Any] = {
            "baseUrl": server.base_url,
            "apiKey": server.api_key,
            "organizationId": server.organization_id,
            "webhookUrl": server.webhook_url,
        }
        if generated_secret is not None:
            info["webhookSecret"] = generated_secret
        click.echo(json.dumps(info))
        return
    click.echo(f"NTRVSTA sandbox listening on {server.base_url} (seed {server.seed})")
    click.echo(f"API key: {server.api_key}")
    if server.webhook_url is not None:
        click.echo(f"Webhooks: {server.webhook_url}")
        if generated_secret is not None:
            click.echo(f"Webhook signing secret: {generated_secret}")
    click.echo("")
    click.echo(f"export NTRVSTA_BASE_URL={server.base_url}")
    click.echo(f"export NTRVSTA_API_KEY={server.api_key}")
    click.echo("")
    click.echo("Press Ctrl-C to stop.")


async def _serve(options: dict[str, Any], *, as_json: bool) -> None:
    from ntrvsta_async.sandbox import SandboxServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = SandboxServer(**options)
    generated = server.webhook_secret if options.get("webhook_secret") is None else None
    try:
        await server.start()
    except OSError as exc:
        await server.stop()
        where = f"{options['host']}:{options['port']}"
        raise click.ClickException(f"cannot listen on {where}: {exc.strerror or exc}") from None
    try:
        _announce(server, generated_secret=generated, as_json=as_json)
        await stop.wait()
    finally:
        await server.stop()


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="0: any free."
)
@click.option("--api-key", help="API key to accept (default: a generated one, printed).")
@click.option("--webhook-url", help="Send signed result.completed webhooks to this URL.")
@click.option("--webhook-secret", help="Signing secret for webhooks (default: generated).")
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed for ids, scores, faults."
)
@click.option(
    "--auto-complete",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Complete each new invitation after SECONDS with a seeded random score.",
)
@click.option("--path-prefix", default="", help="Stage path before /v1, such as /dev.")
@click.option(
    "--error-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of API requests answered 429/500/502/503 (seeded).",
)
@click.option(
    "--latency", default=0.0, type=click.FloatRange(min=0), help="Seconds added to each request."
)
@click.option("--json", "as_json", is_flag=True, help="Print the connection details as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def sandbox(
    host: str,
    port: int,
    api_key: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    seed: int,
    auto_complete: float | None,
    path_prefix: str,
    error_rate: float,
    latency: float,
    as_json: bool,
    verbose: bool,
) -> None:
    """Run a local NTRVSTA sandbox (in memory, no account) until Ctrl-C.

    Prints the base URL and the API key to point a client at it.
    """
    if verbose:
        configure_logging(_debug(), verbose=True)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "api_keys": api_key,
        "webhook_url": webhook_url,
        "webhook_secret": webhook_secret,
        "seed": seed,
        "auto_complete": auto_complete,
        "path_prefix": path_prefix,
        "faults": _fault_plan(seed, error_rate, latency),
        "access_log": verbose,
    }
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(options, as_json=as_json))
    if not as_json:
        click.echo("Sandbox stopped.", err=True)

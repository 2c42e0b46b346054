"""``ntrvsta sandbox``: run the in-memory NTRVSTA sandbox until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import click

from ntrvsta_async.cli.common import WEBHOOK_SECRET_ENV, CliState, configure_logging

__all__ = ["sandbox"]


def _debug() -> bool:
    state = click.get_current_context().find_object(CliState)
    return state is not None and state.debug


def _fault_plan(
    seed: int, error_rate: float, latency: float, drop: float, duplicate: float, reorder: float
) -> Any:
    from ntrvsta_async.sandbox import FaultPlan, RouteFaults, WebhookFaults

    if not any((error_rate, latency, drop, duplicate, reorder)):
        return None
    share = error_rate / 4
    route = RouteFaults(
        rate_429=share, rate_500=share, rate_502=share, rate_503=share, latency=latency
    )
    webhooks = WebhookFaults(drop_rate=drop, duplicate_rate=duplicate, reorder_rate=reorder)
    return FaultPlan(seed=seed, default=route, webhooks=webhooks)


#: Keys of a ``--dialect`` file beside the ``Contract`` fields: the sandbox-only switches.
_SANDBOX_SWITCHES = ("reused_flag", "accept_bearer")


def _dialect(path: Path | None) -> dict[str, Any]:
    """The ``SandboxServer`` options a ``--dialect`` JSON file describes: ``Contract`` field
    names (as ``ntrvsta doctor --save-contract`` writes them) and the sandbox-only switches."""
    if path is None:
        return {}
    import attrs

    from ntrvsta_async.assumptions import Contract
    from ntrvsta_async.doctor import contract_from_mapping
    from ntrvsta_async.errors import ConfigurationError

    known = [field.name for field in attrs.fields(Contract)] + list(_SANDBOX_SWITCHES)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--dialect") from None
    if not isinstance(data, dict) or not set(data) <= set(known):
        raise click.BadParameter(
            f"{path} must be a JSON object with some of the fields {', '.join(known)}",
            param_hint="--dialect",
        )
    switches = {name: data.pop(name) for name in _SANDBOX_SWITCHES if name in data}
    for name, value in switches.items():
        if not isinstance(value, bool):
            raise click.BadParameter(
                f"{path}: {name} must be true or false", param_hint="--dialect"
            )
    try:
        contract = contract_from_mapping(data)
    except ConfigurationError as exc:
        raise click.BadParameter(f"{path}: {exc}", param_hint="--dialect") from None
    return {"contract": contract, **switches}


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
    if server.webhook_secret is not None:
        click.echo(f"export {WEBHOOK_SECRET_ENV}={server.webhook_secret}")
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
@click.option(
    "--webhook-drop-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of result.completed webhooks never sent (seeded).",
)
@click.option(
    "--webhook-duplicate-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of webhooks sent twice (seeded).",
)
@click.option(
    "--webhook-reorder-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of webhooks held back until the next one is sent (seeded).",
)
@click.option(
    "--dialect",
    "dialect_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="JSON of Contract fields (paths, page keys, parameter names, status codes, key"
    " header; as 'ntrvsta doctor --save-contract' writes them) plus reused_flag and"
    " accept_bearer, to rehearse a wire that differs from the SDK's assumptions.",
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
    webhook_drop_rate: float,
    webhook_duplicate_rate: float,
    webhook_reorder_rate: float,
    dialect_file: Path | None,
    as_json: bool,
    verbose: bool,
) -> None:
    """Run a local NTRVSTA sandbox (in memory, no account) until Ctrl-C.

    Prints the base URL, the API key and the webhook secret, and the export lines that
    point a client (and your receiver) at it.
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
        "faults": _fault_plan(
            seed,
            error_rate,
            latency,
            webhook_drop_rate,
            webhook_duplicate_rate,
            webhook_reorder_rate,
        ),
        "access_log": verbose,
        **_dialect(dialect_file),
    }
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(options, as_json=as_json))
    if not as_json:
        click.echo("Sandbox stopped.", err=True)

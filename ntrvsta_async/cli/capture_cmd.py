"""``ntrvsta webhooks capture``: record real deliveries and name their signature scheme."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ntrvsta_async.cli.common import (
    CliError,
    echo_json,
    require_secrets,
    run_async,
    webhook_secrets_option,
    webhook_tolerance_option,
)

if TYPE_CHECKING:
    from ntrvsta_async.doctor import DeliveryAnalysis

__all__ = ["capture"]


def _announce_capture(analysis: DeliveryAnalysis, as_json: bool) -> None:
    if as_json:
        echo_json(analysis.to_dict())
        return
    click.echo(analysis.summary())
    for finding in analysis.findings:
        if finding.status.value != "OK":
            click.echo(f"  {finding.op} {finding.check} {finding.status.value}: {finding.observed}")


async def _serve(
    *,
    host: str,
    port: int,
    directory: Path,
    secrets: list[str],
    tolerance: float | None,
    count: int | None,
    as_json: bool,
    captures: list[DeliveryAnalysis],
) -> None:
    from aiohttp import web

    from ntrvsta_async.doctor import CaptureRecorder

    stop = asyncio.Event()
    recorder = CaptureRecorder(directory, secrets, tolerance=tolerance)

    def on_capture(analysis: DeliveryAnalysis) -> None:
        captures.append(analysis)
        _announce_capture(analysis, as_json)
        if count is not None and len(captures) >= count:
            stop.set()

    recorder.on_capture = on_capture
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    runner = web.AppRunner(recorder.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        bound = runner.addresses[0][1]
        url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/"
        if as_json:
            echo_json({"listening": url, "directory": str(directory)})
        else:
            click.echo(f"Capturing webhook deliveries on {url} into {directory}/")
            click.echo("Point the NTRVSTA webhook (or a tunnel to it) here; Ctrl-C stops.")
        await stop.wait()
    finally:
        await runner.cleanup()


@click.command("capture")
@click.option(
    "--port",
    default=8788,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@webhook_secrets_option
@click.option(
    "--out",
    "directory",
    default="ntrvsta-captures",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for NNNN-headers.json, NNNN-body.bin and NNNN-analysis.json.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Stop after this many deliveries (default: run until Ctrl-C).",
)
@webhook_tolerance_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
def capture(
    port: int,
    host: str,
    secrets: tuple[str, ...],
    directory: Path,
    count: int | None,
    tolerance: int | None,
    as_json: bool,
) -> None:
    """Record real deliveries (headers and raw body) and report how they are signed.

    Each delivery is answered 200 and written to --out; the report names the signature
    scheme that matched (OP-13), with the index of the secret, and which payload fields
    arrived (OP-15); the open points are named in ntrvsta_async/assumptions.py. A
    recorded pair becomes a test fixture as it is.
    """
    secrets_list = require_secrets(secrets)
    captures: list[DeliveryAnalysis] = []

    async def main() -> None:
        await _serve(
            host=host,
            port=port,
            directory=directory,
            secrets=secrets_list,
            tolerance=tolerance,
            count=count,
            as_json=as_json,
            captures=captures,
        )

    with contextlib.suppress(KeyboardInterrupt):
        run_async(main)
    if as_json:
        return
    schemes = Counter(analysis.signature.scheme or "unmatched" for analysis in captures)
    listed = ", ".join(f"{scheme} ({n})" for scheme, n in schemes.items()) or "none"
    click.echo(f"{len(captures)} delivery(ies) captured in {directory}/; schemes: {listed}")

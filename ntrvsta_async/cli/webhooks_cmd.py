"""``ntrvsta webhooks verify``: check a delivery's signature and print its event."""

from __future__ import annotations

import sys

import click

from ntrvsta_async.cli.common import (
    CliError,
    echo_json,
    require_secrets,
    webhook_secrets_option,
    webhook_tolerance_option,
)
from ntrvsta_async.errors import WebhookVerificationError

__all__ = ["webhooks"]


def _headers(values: tuple[str, ...]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, colon, content = value.partition(":")
        if not colon or not name.strip():
            raise click.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        headers[name.strip()] = content.strip()
    return headers


@click.group("webhooks")
def webhooks() -> None:
    """Webhook deliveries."""


@webhooks.command("verify")
@webhook_secrets_option
@click.option(
    "-H",
    "--header",
    "header_values",
    multiple=True,
    metavar="'NAME: VALUE'",
    help="A delivery header, such as 'X-Ntrvsta-Signature: t=...,v1=...' (repeatable).",
)
@webhook_tolerance_option
def verify(secrets: tuple[str, ...], header_values: tuple[str, ...], tolerance: int | None) -> None:
    """Verify a delivery: the raw body on stdin, its headers as --header options.

    Prints the event as one JSON line and exits 0, or prints 'error: <reason>' and exits 1.
    """
    from ntrvsta_async.webhooks import UnknownEvent, WebhookVerifier

    secrets_list = require_secrets(secrets)
    headers = _headers(header_values)
    if sys.stdin.isatty():
        click.echo("reading the delivery body from stdin; end it with Ctrl-D", err=True)
    body = sys.stdin.buffer.read()
    verifier = WebhookVerifier(secrets_list, tolerance=tolerance)
    try:
        event = verifier.verify(body, headers)
    except WebhookVerificationError as exc:
        raise CliError(f"{exc.reason}: {exc.message}") from None
    if isinstance(event, UnknownEvent):
        echo_json({"event": event.event, "payload": event.payload})
    else:
        echo_json(event.to_dict())

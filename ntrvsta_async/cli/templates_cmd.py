"""``ntrvsta templates create``: create (or reuse) an interview template."""

from __future__ import annotations

from typing import Any

import click

from ntrvsta_async.cli.common import CliState, connection_options, echo_json, run_async, warn
from ntrvsta_async.models import Template

__all__ = ["templates"]


def _warn_not_applied(template: Template, given: dict[str, tuple[str, Any]]) -> None:
    """Name the options a reused template does not carry: the API returned it unchanged."""
    ignored = [
        f"{option} (it has {_shown(getattr(template, name))})"
        for option, (name, value) in given.items()
        if value is not None and getattr(template, name) != value
    ]
    if ignored:
        warn(
            f"posting id {template.external_posting_id} already has template"
            f" {template.template_id}, reused as it is; not applied: {', '.join(ignored)}"
        )


def _shown(value: Any) -> str:
    return "no value" if value is None else repr(value)


@click.group("templates")
def templates() -> None:
    """Interview templates."""


@templates.command("create")
@click.option("--title", required=True, help="Template title, such as the job title.")
@click.option("--description", help="What the interview is about.")
@click.option(
    "--posting-id",
    "external_posting_id",
    metavar="ID",
    help="Your ATS job id: makes the call create-or-reuse (and safe to retry).",
)
@click.option(
    "--expires-days",
    type=click.IntRange(min=1),
    metavar="N",
    help="Days an invite URL stays valid.",
)
@click.option(
    "--whiteboard/--no-whiteboard",
    default=None,
    help="Include the whiteboard-design flow (default: the server's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the template as one JSON line.")
@connection_options(on_group=False)
@click.pass_obj
def create(
    state: CliState,
    title: str,
    description: str | None,
    external_posting_id: str | None,
    expires_days: int | None,
    whiteboard: bool | None,
    as_json: bool,
) -> None:
    """Create an interview template, or reuse the one with the same --posting-id.

    Prints the template id (and, with --json, the whole template). A reused template is
    returned as it is: options that differ from it are not applied, and a warning names them.
    """

    async def main() -> Any:
        async with state.client() as client:
            return await client.templates.create(
                title=title,
                description=description,
                external_posting_id=external_posting_id,
                invite_url_expires_in_days=expires_days,
                whiteboard_design=whiteboard,
            )

    template = run_async(main)
    if template.reused:
        given = {
            "--title": ("title", title),
            "--description": ("description", description),
            "--expires-days": ("invite_url_expires_in_days", expires_days),
            "--whiteboard/--no-whiteboard": ("whiteboard_design", whiteboard),
        }
        _warn_not_applied(template, given)
    if as_json:
        echo_json(template.to_dict())
        return
    verb = {True: "reused", False: "created"}.get(template.reused, "created or reused")
    click.echo(f"{verb} template {template.template_id}")
    click.echo(f"  title:      {template.title}")
    if template.external_posting_id:
        click.echo(f"  posting id: {template.external_posting_id}")
    if template.invite_url_expires_in_days is not None:
        click.echo(f"  invite URLs expire after {template.invite_url_expires_in_days} days")

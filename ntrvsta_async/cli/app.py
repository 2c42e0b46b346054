"""The ``ntrvsta`` command group; every command is defined in its own module and added here."""

from __future__ import annotations

import click

from ntrvsta_async._version import __version__
from ntrvsta_async.cli.sandbox_cmd import sandbox

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ntrvsta")
def cli() -> None:
    """NTRVSTA partner API tools: a local sandbox and more."""


cli.add_command(sandbox)

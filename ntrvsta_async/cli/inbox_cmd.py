"""``ntrvsta inbox``: the inbox's storage, and how ``--inbox`` values name a backend."""

from __future__ import annotations

from pathlib import Path

import click

from ntrvsta_async._redact import redact_url
from ntrvsta_async.reconcile import Inbox, PostgresInbox, RedisInbox, SQLiteInbox, schema_sql

__all__ = ["check_inbox_location", "describe_inbox", "inbox", "open_inbox"]

_REDIS: tuple[str, ...] = ("redis://", "rediss://")
_POSTGRES: tuple[str, ...] = ("postgresql://", "postgres://")

INBOX_HELP = (
    "Inbox: a SQLite file path, a redis:// URL or a postgresql:// URL; it holds what was"
    " handled, and where to resume."
)


def open_inbox(location: str) -> Inbox:
    """The inbox that ``location`` names: a ``postgresql://`` or ``redis://`` URL, else the
    path of a SQLite file."""
    if location.startswith(_POSTGRES):
        return PostgresInbox(location)
    if location.startswith(_REDIS):
        return RedisInbox(location)
    return SQLiteInbox(location)


def describe_inbox(location: str) -> str:
    """``location`` for messages: a URL without its password, a path as given."""
    return redact_url(location) if location.startswith(_POSTGRES + _REDIS) else location


def check_inbox_location(location: str) -> None:
    """Refuse a SQLite path whose directory does not exist (URLs are checked on use)."""
    if location.startswith(_POSTGRES + _REDIS):
        return
    parent = Path(location).parent
    if not parent.is_dir():
        raise click.BadParameter(f"directory {parent} does not exist", param_hint="--inbox")


@click.group("inbox")
def inbox() -> None:
    """The inbox's storage."""


@inbox.command("schema")
@click.option(
    "--postgres",
    "postgres",
    is_flag=True,
    required=True,
    help="Print the PostgreSQL schema (the only one that a DBA may create ahead).",
)
@click.option("--schema", "schema", default="public", show_default=True, help="Database schema.")
@click.option(
    "--table-prefix", default="ntrvsta_", show_default=True, help="Prefix of the table names."
)
def schema(postgres: bool, schema: str, table_prefix: str) -> None:
    """Print the SQL that PostgresInbox and PostgresLease run on first use (idempotent), for
    a DBA who creates the tables ahead; pass the same --schema and --table-prefix to the
    inbox."""
    click.echo(schema_sql(schema=schema, table_prefix=table_prefix), nl=False)

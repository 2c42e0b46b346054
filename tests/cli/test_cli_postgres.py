"""``ntrvsta inbox schema --postgres`` and ``ntrvsta reconcile --inbox postgresql://...``
through the real entry point."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from ntrvsta_async.sandbox import ThreadedSandbox
from tests.cli.test_cli_reconcile import complete
from tests.cli.test_cli_support import run_cli, running_sandbox, sandbox_env
from tests.support.postgres_support import PASSWORD, postgres_cluster, postgres_dsn

__all__ = ["postgres_cluster", "postgres_dsn"]


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    with running_sandbox() as running:
        yield running


async def test_the_printed_schema_creates_the_tables(postgres_dsn: str) -> None:
    env = dict(os.environ)
    shown = run_cli(
        "inbox", "schema", "--postgres", "--schema", "ats", "--table-prefix", "x_", env=env
    )
    assert shown.returncode == 0, shown.stderr
    assert 'CREATE TABLE IF NOT EXISTS "ats"."x_inbox"' in shown.stdout
    conn = await asyncpg.connect(postgres_dsn)
    try:
        await conn.execute(shown.stdout)
        await conn.execute(shown.stdout)
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'ats'")
    finally:
        await conn.close()
    assert sorted(row[0] for row in tables) == ["x_checkpoints", "x_inbox", "x_leases"]

    refused = run_cli("inbox", "schema", "--postgres", "--schema", "no-such; DROP", env=env)
    assert refused.returncode != 0
    assert "plain SQL identifier" in refused.stderr


def test_reconcile_into_a_postgres_inbox_handles_each_result_once(
    sandbox: ThreadedSandbox, postgres_dsn: str, tmp_path: Path
) -> None:
    keys = complete(sandbox, "a@example.com", "b@example.com")
    out = tmp_path / "results.jsonl"
    args = ["reconcile", "--once", "--json", "--inbox", postgres_dsn, "--jsonl", str(out)]
    first = run_cli(*args, env=sandbox_env(sandbox))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["handled"] == 2
    second = run_cli(*args, env=sandbox_env(sandbox))
    assert json.loads(second.stdout)["skipped_duplicates"] == 2
    lines = [json.loads(line)["resultId"] for line in out.read_text().splitlines()]
    assert sorted(lines) == sorted(keys)

    wrong = postgres_dsn.replace(PASSWORD, "Wr0ng-pass")
    failed = run_cli(*args[:4], wrong, *args[5:], env=sandbox_env(sandbox))
    assert failed.returncode != 0
    assert "password authentication failed" in failed.stdout + failed.stderr
    assert "Wr0ng-pass" not in failed.stdout + failed.stderr

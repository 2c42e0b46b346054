"""``ntrvsta results list`` through the real entry point, against a sandbox with results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.sandbox import ThreadedSandbox
from tests.cli.test_cli_support import run_cli, running_sandbox, sandbox_env


async def _seed(sandbox: ThreadedSandbox) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
        for title, count in (("A", 3), ("B", 2)):
            template = await client.templates.create(title=title)
            for n in range(count):
                invitation = await client.invitations.create(
                    template_id=template.template_id,
                    candidate=Candidate(email=f"{title.lower()}{n}@example.com"),
                )
                done = await sandbox.server.complete(invitation.invitation_id, overall_score=50 + n)
                keys.setdefault(template.template_id, []).append(done.result_id)
    return keys


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[ThreadedSandbox, dict[str, list[str]]]]:
    with running_sandbox() as sandbox:
        yield sandbox, sandbox.call(_seed(sandbox))


def test_json_lines_hold_every_result(seeded: tuple[ThreadedSandbox, dict[str, list[str]]]) -> None:
    sandbox, keys = seeded
    result = run_cli("results", "list", "--json", env=sandbox_env(sandbox))
    assert result.returncode == 0, result.stderr
    items = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(item["resultId"] for item in items) == sorted(
        k for ks in keys.values() for k in ks
    )
    assert all("overallScore" in item and "completedAt" in item for item in items)


def test_template_and_since_filters(seeded: tuple[ThreadedSandbox, dict[str, list[str]]]) -> None:
    sandbox, keys = seeded
    template_id, wanted = next(iter(keys.items()))
    only = run_cli("results", "list", "--json", "--template", template_id, env=sandbox_env(sandbox))
    assert sorted(json.loads(line)["resultId"] for line in only.stdout.splitlines()) == sorted(
        wanted
    )

    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    none = run_cli("results", "list", "--json", "--since", future, env=sandbox_env(sandbox))
    assert none.returncode == 0
    assert none.stdout == ""
    recent = run_cli("results", "list", "--json", "--since", "1h", env=sandbox_env(sandbox))
    assert len(recent.stdout.splitlines()) == 5


def test_plain_lines_without_a_terminal(
    seeded: tuple[ThreadedSandbox, dict[str, list[str]]],
) -> None:
    sandbox, keys = seeded
    result = run_cli("results", "list", env=sandbox_env(sandbox))
    lines = result.stdout.splitlines()
    assert lines[0].split("\t") == ["result", "score", "completed at", "candidate", "template"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines[1:]}
    assert set(rows) == {k for ks in keys.values() for k in ks}
    assert {row[3] for row in rows.values()} >= {"a0@example.com", "b1@example.com"}


def test_bad_since_is_a_usage_error() -> None:
    from click.testing import CliRunner

    from ntrvsta_async.cli.app import cli

    result = CliRunner().invoke(cli, ["results", "list", "--since", "yesterday-ish"])
    assert result.exit_code == 2
    assert "neither an ISO-8601 time" in result.output

"""``ntrvsta templates create`` through the real entry point, against a sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ntrvsta_async.sandbox import ThreadedSandbox
from tests.cli.test_cli_support import run_cli, running_sandbox, sandbox_env


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    with running_sandbox() as running:
        yield running


def test_create_prints_the_new_template(sandbox: ThreadedSandbox) -> None:
    result = run_cli("templates", "create", "--title", "Backend Engineer", env=sandbox_env(sandbox))
    assert result.returncode == 0, result.stderr
    created = sandbox.server.templates[-1]
    assert created.title == "Backend Engineer"
    assert result.stdout.splitlines()[0] == f"created template {created.template_id}"


def test_create_json_with_every_option_and_reuse(sandbox: ThreadedSandbox) -> None:
    args = [
        "templates",
        "create",
        "--title",
        "Data Engineer",
        "--description",
        "Pipelines",
        "--posting-id",
        "job-json-1",
        "--expires-days",
        "9",
        "--whiteboard",
        "--json",
    ]
    first = run_cli(*args, env=sandbox_env(sandbox))
    second = run_cli(*args, env=sandbox_env(sandbox))
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert one["templateId"] == two["templateId"]
    assert (one["reused"], two["reused"]) == (False, True)
    assert one["externalPostingId"] == "job-json-1"
    assert one["inviteUrlExpiresInDays"] == 9
    assert one["whiteboardDesign"] is True
    assert one["description"] == "Pipelines"
    stored = [t for t in sandbox.server.templates if t.external_posting_id == "job-json-1"]
    assert len(stored) == 1


def test_human_output_says_reused(sandbox: ThreadedSandbox) -> None:
    args = ["templates", "create", "--title", "T", "--posting-id", "job-human", "--no-whiteboard"]
    run_cli(*args, env=sandbox_env(sandbox))
    again = run_cli(*args, env=sandbox_env(sandbox))
    assert again.returncode == 0
    assert again.stdout.startswith("reused template tpl_")
    assert "posting id: job-human" in again.stdout


def test_title_is_required() -> None:
    from click.testing import CliRunner

    from ntrvsta_async.cli.app import cli

    result = CliRunner().invoke(cli, ["templates", "create"])
    assert result.exit_code == 2
    assert "--title" in result.output

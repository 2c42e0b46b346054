"""Keys, exit codes and error lines shared by every command, through the real entry point."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ntrvsta_async.cli.app import cli
from ntrvsta_async.sandbox import ThreadedSandbox
from tests.cli.test_cli_support import clean_env, error_lines, run_cli, running_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    with running_sandbox() as running:
        yield running


def test_no_key_exits_3_with_one_line() -> None:
    result = run_cli("results", "list", env=clean_env())
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        "error: no API key: set NTRVSTA_API_KEY or pass --api-key-file PATH"
    ]
    assert result.stdout == ""


def test_wrong_key_exits_4_with_one_line(sandbox: ThreadedSandbox) -> None:
    env = clean_env(NTRVSTA_API_KEY="sbx_wrong_key_123456", NTRVSTA_BASE_URL=sandbox.base_url)
    result = run_cli("results", "list", env=env)
    assert result.returncode == 4
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: GET /v1/interview-results: HTTP 401")
    assert "sbx_wrong_key_123456" not in result.stderr


def test_debug_shows_the_traceback_and_debug_logs(sandbox: ThreadedSandbox) -> None:
    env = clean_env(NTRVSTA_API_KEY="sbx_wrong_key_123456", NTRVSTA_BASE_URL=sandbox.base_url)
    result = run_cli("--debug", "results", "list", env=env, traceback_ok=True)
    assert result.returncode == 4
    assert "Traceback (most recent call last)" in result.stderr
    assert "AuthenticationError" in result.stderr
    assert " DEBUG " in result.stderr
    assert result.stderr.splitlines()[-1].startswith("error: GET /v1/interview-results: HTTP 401")
    assert "sbx_wrong_key_123456" not in result.stderr


def test_api_key_option_works_but_warns(sandbox: ThreadedSandbox) -> None:
    env = clean_env(NTRVSTA_BASE_URL=sandbox.base_url)
    result = run_cli("--api-key", sandbox.api_key, "results", "list", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: --api-key puts the key in your shell history")
    assert sandbox.api_key not in result.stderr


def test_api_key_file(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(sandbox.api_key + "\n", encoding="utf-8")
    env = clean_env(NTRVSTA_BASE_URL=sandbox.base_url)
    ok = run_cli("--api-key-file", str(key_file), "results", "list", "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""

    missing = run_cli("--api-key-file", str(tmp_path / "nope"), "results", "list", env=env)
    assert missing.returncode == 3
    assert error_lines(missing.stderr) == [
        f"error: cannot read the API key file {tmp_path / 'nope'}: No such file or directory"
    ]


def test_unsafe_base_url_is_a_configuration_error() -> None:
    env = clean_env(NTRVSTA_API_KEY="k", NTRVSTA_BASE_URL="http://api.example.com")
    result = run_cli("results", "list", env=env)
    assert result.returncode == 3
    assert error_lines(result.stderr)[0].startswith("error: refusing plain http://")
    assert "--allow-insecure-http" in result.stderr


@pytest.mark.parametrize("how", ["flag", "env"])
def test_allow_insecure_http_reaches_a_plain_http_api(sandbox: ThreadedSandbox, how: str) -> None:
    # 0.0.0.0 is not a loopback address, so the check applies, yet it reaches this machine.
    url = sandbox.base_url.replace("127.0.0.1", "0.0.0.0")  # noqa: S104
    env = clean_env(NTRVSTA_API_KEY=sandbox.api_key, NTRVSTA_BASE_URL=url)
    refused = run_cli("results", "list", env=env)
    assert refused.returncode == 3
    if how == "flag":
        allowed = run_cli("--allow-insecure-http", "results", "list", "--json", env=env)
    else:
        env["NTRVSTA_ALLOW_INSECURE_HTTP"] = "1"
        allowed = run_cli("results", "list", "--json", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stderr == ""


def test_unreachable_api_is_an_operational_failure() -> None:
    env = clean_env(NTRVSTA_API_KEY="k", NTRVSTA_BASE_URL="http://127.0.0.1:9")
    result = run_cli("results", "list", env=env)
    assert result.returncode == 1
    assert error_lines(result.stderr)[-1].startswith(
        "error: GET /v1/interview-results: could not connect"
    )


def test_help_documents_the_exit_codes_and_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130"):
        assert f"  {code}" in result.output
    for command in ("demo", "invite", "reconcile", "results", "sandbox", "templates", "webhooks"):
        assert f"  {command} " in result.output


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["no-such-command"]).exit_code == 2
    both = runner.invoke(cli, ["--api-key", "k", "--api-key-file", "f", "results", "list"])
    assert both.exit_code == 2
    assert "either --api-key or --api-key-file" in both.output
    assert runner.invoke(cli, ["invite", "--template", "t"]).exit_code == 2

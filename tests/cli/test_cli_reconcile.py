"""``ntrvsta reconcile`` through the real entry point: once, again, failing commands, SIGTERM."""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.sandbox import ThreadedSandbox
from tests.cli.test_cli_support import CLI, error_lines, run_cli, running_sandbox, sandbox_env


async def _complete(sandbox: ThreadedSandbox, emails: list[str]) -> list[str]:
    keys = []
    async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
        template = await client.templates.create(title="R", external_posting_id="job-r")
        for email in emails:
            invitation = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email=email)
            )
            keys.append((await sandbox.server.complete(invitation.invitation_id)).result_id)
    return keys


def complete(sandbox: ThreadedSandbox, *emails: str) -> list[str]:
    return sandbox.call(_complete(sandbox, list(emails)))


def _lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    with running_sandbox() as running:
        yield running


def test_once_into_jsonl_then_again_handles_only_what_is_new(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    first_keys = complete(sandbox, "a@example.com", "b@example.com", "c@example.com")
    out, inbox = tmp_path / "results.jsonl", tmp_path / "inbox.sqlite3"
    args = ["reconcile", "--once", "--json", "--inbox", str(inbox), "--jsonl", str(out)]

    first = run_cli(*args, env=sandbox_env(sandbox))
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["handled"], report["failed"], report["ok"]) == (3, 0, True)
    assert sorted(item["resultId"] for item in _lines(out)) == sorted(first_keys)

    second = run_cli(*args, env=sandbox_env(sandbox))
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert (again["new"], again["handled"], again["skipped_duplicates"]) == (0, 0, 3)
    assert len(_lines(out)) == 3, "nothing handled twice"

    (late,) = complete(sandbox, "d@example.com")
    third = run_cli(*args[:2], *args[3:], env=sandbox_env(sandbox))
    assert third.returncode == 0
    assert third.stdout.startswith("seen ")
    assert " handled 1 " in third.stdout
    assert [item["resultId"] for item in _lines(out)][-1] == late


def test_failing_exec_exits_1_and_the_next_run_retries(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    keys = complete(sandbox, "x@example.com", "y@example.com")
    inbox = tmp_path / "inbox.sqlite3"
    failing = f"{shlex.quote(sys.executable)} -c 'import sys; sys.stdin.read(); sys.exit(3)'"

    failed = run_cli(
        "reconcile", "--once", "--inbox", str(inbox), "--exec", failing, env=sandbox_env(sandbox)
    )
    assert failed.returncode == 1
    assert " failed 2 " in failed.stdout
    assert error_lines(failed.stderr)[-1] == "error: 2 result(s) failed; the next run retries them"
    assert all("exited with 3" in line for line in error_lines(failed.stderr)[:-1])

    sink = tmp_path / "sink"
    sink.mkdir()
    writer = (
        "import json, os, pathlib, sys; data = json.load(sys.stdin); "
        f"pathlib.Path({str(sink)!r}, os.environ['NTRVSTA_RESULT_KEY'])"
        ".write_text(data['resultId'])"
    )
    retried = run_cli(
        "reconcile", "--once", "--json", "--inbox", str(inbox),
        "--exec", f"{shlex.quote(sys.executable)} -c {shlex.quote(writer)}",
        env=sandbox_env(sandbox),
    )  # fmt: skip
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)["handled"] == 2
    assert sorted(p.name for p in sink.iterdir()) == sorted(keys)
    assert all((sink / key).read_text() == key for key in keys)


def test_runs_until_sigterm_and_stops_cleanly(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    complete(sandbox, "p@example.com")
    out = tmp_path / "results.jsonl"
    process = subprocess.Popen(  # noqa: S603
        [*CLI, "reconcile", "--interval", "0.1", "--inbox", str(tmp_path / "i.sqlite3"),
         "--jsonl", str(out)],
        env=sandbox_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while not _lines(out) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_lines(out)) == 1
        complete(sandbox, "q@example.com")
        while len(_lines(out)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_lines(out)) == 2, "a later pass picked up the new result"
        process.send_signal(signal.SIGTERM)
    finally:
        stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == 0, stderr
    assert b"Traceback" not in stderr
    assert b"stopping" in stderr
    assert stdout.count(b"seen ") >= 2, "one report line per pass"


def test_needs_exactly_one_handler(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ntrvsta_async.cli.app import cli

    neither = CliRunner().invoke(cli, ["reconcile", "--once"])
    both = CliRunner().invoke(cli, ["reconcile", "--once", "--exec", "cat", "--jsonl", "x"])
    missing = CliRunner().invoke(cli, ["reconcile", "--exec", "no-such-command-ntrvsta"])
    assert neither.exit_code == both.exit_code == missing.exit_code == 2
    assert "exactly one of --exec CMD or --jsonl FILE" in neither.output
    assert "command not found: no-such-command-ntrvsta" in missing.output

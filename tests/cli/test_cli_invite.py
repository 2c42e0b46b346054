"""``ntrvsta invite`` through the real entry point: happy path, bad rows, resume after a crash."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ntrvsta_async.sandbox import FaultPlan, RouteFaults, ThreadedSandbox
from tests.cli.test_cli_support import CLI, error_lines, run_cli, running_sandbox, sandbox_env

DATA = Path(__file__).parents[1] / "data" / "cli"


def _write_csv(path: Path, count: int, *, start: int = 0) -> Path:
    lines = ["email,first_name,last_name,external_candidate_id"]
    lines += [
        f"person{n}@example.com,First{n},Last{n},ext-{n}" for n in range(start, start + count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    records = []
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(text))
        except ValueError:
            continue
    return records


def _template(sandbox: ThreadedSandbox, posting: str) -> str:
    result = run_cli(
        "templates", "create", "--title", "T", "--posting-id", posting, "--json",
        env=sandbox_env(sandbox),
    )  # fmt: skip
    template_id: str = json.loads(result.stdout)["templateId"]
    return template_id


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    with running_sandbox() as running:
        yield running


def test_happy_path_invites_every_row_then_a_rerun_sends_nothing(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    template_id = _template(sandbox, "job-happy")
    people = _write_csv(tmp_path / "people.csv", 30)
    env = sandbox_env(sandbox)

    first = run_cli(
        "invite", "--template", template_id, "--csv", str(people), "--concurrency", "4",
        "--rate", "500", env=env,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "invited 30 (created 30, reused 0) · failed 0 · invalid 0" in first.stdout
    assert "inviting: 30/30" in first.stderr  # plain progress when stderr is not a terminal
    out = tmp_path / "people.csv.results.jsonl"
    records = _records(out)
    assert sorted(r["line"] for r in records) == list(range(2, 32))
    assert {r["status"] for r in records} == {"ok"}
    assert all(r["inviteUrl"] and r["invitationId"].startswith("inv_") for r in records)
    invitations = sandbox.server.invitations
    assert len(invitations) == 30
    first_person = next(
        i for i in invitations if i.candidate and i.candidate.email.startswith("person0@")
    )
    assert first_person.candidate is not None
    assert (first_person.candidate.first_name, first_person.candidate.external_candidate_id) == (
        "First0",
        "ext-0",
    )
    sent = sandbox.server.request_counts["invitations"]

    again = run_cli("invite", "--template", template_id, "--csv", str(people), "--json", env=env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert (summary["resumed"], summary["invited"], summary["rows"]) == (30, 0, 30)
    assert "resuming: 30 candidate(s) already invited" in again.stderr
    assert sandbox.server.request_counts["invitations"] == sent, "nothing sent again"


def test_bad_rows_are_reported_by_line_and_skipped(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    template_id = _template(sandbox, "job-bad")
    people = tmp_path / "bad_rows.csv"
    shutil.copy(DATA / "bad_rows.csv", people)
    out = tmp_path / "outcomes.jsonl"

    result = run_cli(
        "invite", "--template", template_id, "--csv", str(people), "--out", str(out),
        env=sandbox_env(sandbox),
    )  # fmt: skip

    assert result.returncode == 1
    stderr = result.stderr.splitlines()
    assert "line 3: missing email" in stderr
    assert "line 4: invalid email 'not-an-email'" in stderr
    assert "line 8: 6 fields, but the header has 5" in stderr
    assert "line 9: invalid email 'barbara @example.com'" in stderr
    assert (
        sum(line.startswith("warning: ignoring unknown column(s) 'phone'") for line in stderr) == 1
    )
    assert error_lines(result.stderr) == [
        "error: 4 invalid row(s); fix them and re-run to send only those"
    ]
    records = _records(out)
    by_line = {r["line"]: r for r in records}
    assert {line for line, r in by_line.items() if r["status"] == "ok"} == {2, 5, 6, 11}
    assert {line for line, r in by_line.items() if r["status"] == "invalid"} == {3, 4, 8, 9}
    assert by_line[6]["email"] == "alan@example.com"
    emails = sorted(i.candidate.email for i in sandbox.server.invitations if i.candidate)
    assert emails == [
        "ada@example.com",
        "alan@example.com",
        "grace@example.com",
        "katherine@example.com",
    ]
    alan = next(
        i
        for i in sandbox.server.invitations
        if i.candidate and i.candidate.email == "alan@example.com"
    )
    assert alan.candidate is not None
    assert alan.candidate.last_name == "Turing\nJr"


def test_wrong_header_sends_nothing(sandbox: ThreadedSandbox, tmp_path: Path) -> None:
    template_id = _template(sandbox, "job-header")
    result = run_cli(
        "invite", "--template", template_id, "--csv", str(DATA / "wrong_header.csv"),
        "--out", str(tmp_path / "out.jsonl"), env=sandbox_env(sandbox),
    )  # fmt: skip
    assert result.returncode == 1
    assert error_lines(result.stderr) == [
        f"error: {DATA / 'wrong_header.csv'} line 1: no 'email' column (found: mail, first, last);"
        " expected email, first_name, last_name, external_candidate_id"
    ]
    assert sandbox.server.request_counts.get("invitations", 0) == 0


def test_unknown_template_stops_early_with_one_line(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    people = _write_csv(tmp_path / "people.csv", 200)
    result = run_cli(
        "invite", "--template", "tpl_missing", "--csv", str(people), "--concurrency", "4",
        env=sandbox_env(sandbox),
    )  # fmt: skip
    assert result.returncode == 1
    errors = error_lines(result.stderr)
    assert len(errors) == 1
    assert errors[0].startswith(
        "error: template tpl_missing: POST /v1/interview-invitations: HTTP 404"
    )
    assert sandbox.server.request_counts["invitations"] < 20, "stopped at the first 404"


def _start_slow_invite(
    sandbox: ThreadedSandbox, template_id: str, people: Path
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603
        [*CLI, "invite", "--template", template_id, "--csv", str(people), "--concurrency", "3"],
        env=sandbox_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_bytes().splitlines()) >= count:
            return
        assert process.poll() is None, "the invite finished before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} lines")


@pytest.fixture
def slow_sandbox() -> Iterator[ThreadedSandbox]:
    faults = FaultPlan(seed=5, routes={"invitations": RouteFaults(latency=0.04)})
    with running_sandbox(faults=faults) as running:
        yield running


def test_crash_then_rerun_resumes_and_invites_each_candidate_once(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    sandbox = slow_sandbox
    template_id = _template(sandbox, "job-crash")
    people = _write_csv(tmp_path / "people.csv", 90)
    out = tmp_path / "people.csv.results.jsonl"

    process = _start_slow_invite(sandbox, template_id, people)
    try:
        _wait_for_lines(out, 12, process)
        process.send_signal(signal.SIGKILL)
    finally:
        process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    before = [r for r in _records(out) if r["status"] == "ok"]
    assert 12 <= len(before) < 90

    rerun = run_cli(
        "invite", "--template", template_id, "--csv", str(people), env=sandbox_env(sandbox)
    )

    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {len(before)} candidate(s) already invited" in rerun.stderr
    assert f"already done {len(before)}" in rerun.stdout
    ok_lines = Counter(r["line"] for r in _records(out) if r["status"] == "ok")
    assert set(ok_lines) == set(range(2, 92)), "every row succeeded"
    assert set(ok_lines.values()) == {1}, "exactly one success line per row"
    per_candidate = Counter(i.candidate.email for i in sandbox.server.invitations if i.candidate)
    assert len(per_candidate) == 90
    assert set(per_candidate.values()) == {1}, "create-or-reuse: one invitation per candidate"


def test_ctrl_c_exits_130_and_a_rerun_finishes(
    slow_sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    sandbox = slow_sandbox
    template_id = _template(sandbox, "job-sigint")
    people = _write_csv(tmp_path / "people.csv", 60)
    out = tmp_path / "people.csv.results.jsonl"

    process = _start_slow_invite(sandbox, template_id, people)
    try:
        _wait_for_lines(out, 5, process)
        process.send_signal(signal.SIGINT)
    finally:
        _, err = process.communicate(timeout=10)
    assert process.returncode == 130
    [line] = error_lines(err.decode())
    assert re.fullmatch(
        r"error: interrupted after \d+/60; run the same command again to resume", line
    ), line
    assert b"Traceback" not in err

    rerun = run_cli(
        "invite", "--template", template_id, "--csv", str(people), env=sandbox_env(sandbox)
    )
    assert rerun.returncode == 0, rerun.stderr
    ok_lines = Counter(r["line"] for r in _records(out) if r["status"] == "ok")
    assert set(ok_lines) == set(range(2, 62))
    assert set(ok_lines.values()) == {1}


def test_a_torn_last_line_is_ignored_and_not_glued_to_the_next(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    template_id = _template(sandbox, "job-torn")
    people = _write_csv(tmp_path / "people.csv", 3)
    out = tmp_path / "out.jsonl"
    done = {"line": 2, "email": "person0@example.com", "status": "ok", "templateId": template_id}
    out.write_text(json.dumps(done) + "\n" + '{"line": 3, "email": "per', encoding="utf-8")

    result = run_cli(
        "invite", "--template", template_id, "--csv", str(people), "--out", str(out),
        env=sandbox_env(sandbox),
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert "ignoring 1 unreadable line(s)" in result.stderr
    assert "already done 1" in result.stdout
    ok_lines = sorted(r["line"] for r in _records(out) if r["status"] == "ok")
    assert ok_lines == [2, 3, 4]
    assert len(sandbox.server.invitations) == 2, "the row done before was not sent again"


@pytest.fixture
def throttling_sandbox() -> Iterator[ThreadedSandbox]:
    faults = FaultPlan(seed=11, routes={"invitations": RouteFaults(rate_429=0.3, retry_after=1)})
    with running_sandbox(faults=faults) as running:
        yield running


def test_progress_shows_the_pace_while_the_server_throttles(
    throttling_sandbox: ThreadedSandbox, sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    people = _write_csv(tmp_path / "people.csv", 40)
    runs = {}
    for name, server in (("throttled", throttling_sandbox), ("free", sandbox)):
        runs[name] = run_cli(
            "invite", "--template", _template(server, f"job-pace-{name}"), "--csv", str(people),
            "--out", str(tmp_path / f"{name}.jsonl"), "--max-retries", "20",
            env=sandbox_env(server),
        )  # fmt: skip
        assert runs[name].returncode == 0, runs[name].stderr

    refused = [f for f in throttling_sandbox.server.injected_faults if f.kind == "429"]
    assert refused, "the fault plan answered 429"
    progress = [line for line in runs["throttled"].stderr.splitlines() if "inviting: " in line]
    assert any(
        re.fullmatch(r"inviting: \d+/40 · paced at ~[\d.]+ req/s \(server throttling\)", line)
        for line in progress
    ), runs["throttled"].stderr
    assert "inviting: 40/40" in runs["free"].stderr
    assert "paced at" not in runs["free"].stderr

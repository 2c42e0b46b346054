"""Each CLI papercut a newcomer hit, reproduced through the real entry point and fixed."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ntrvsta_async import ConfigurationError, Contract, NtrvstaClient, RetryPolicy
from ntrvsta_async.sandbox import FaultPlan, RouteFaults, ThreadedSandbox
from tests.cli.test_cli_support import CLI, clean_env, error_lines, run_cli, sandbox_env
from tests.conftest import serve

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][0-9A-Za-z]")


def _csv(path: Path, emails: list[str]) -> Path:
    path.write_text("email\n" + "".join(f"{email}\n" for email in emails), encoding="utf-8")
    return path


def _template(sandbox: ThreadedSandbox, posting: str, *extra: str) -> str:
    done = run_cli(
        "templates", "create", "--title", "T", "--posting-id", posting, "--json", *extra,
        env=sandbox_env(sandbox),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    template_id: str = json.loads(done.stdout)["templateId"]
    return template_id


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def sandbox() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox(seed=11) as running:
        yield running


# invite: progress, interruption, resume, 404s, retries and timeouts


def _run_on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (100 columns): its exit code and screen
    output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(  # noqa: S603
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(slave)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO once the child closed the terminal
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    process.communicate(timeout=60)
    reader.join(timeout=10)
    os.close(master)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


def test_row_messages_are_printed_above_the_progress_bar_not_into_it(tmp_path: Path) -> None:
    faults = FaultPlan(seed=1, routes={"invitations": RouteFaults(latency=0.05)})
    with ThreadedSandbox(faults=faults) as slow:
        template_id = _template(slow, "job-tty")
        emails = [f"p{n}@example.com" for n in range(30)]
        emails[5], emails[15], emails[25] = "not-an-email", "a@b@example.com", "x @example.com"
        people = _csv(tmp_path / "people.csv", emails)

        code, screen = _run_on_a_terminal(
            ["invite", "--template", template_id, "--csv", str(people), "--concurrency", "2"],
            sandbox_env(slow),
        )

    assert code == 1  # three invalid rows
    assert "━" in screen, "a progress bar was drawn on the terminal"
    lines = [line.strip() for line in re.split(r"[\r\n]+", ANSI.sub("", screen))]
    for message in (
        "line 7: invalid email 'not-an-email'",
        "line 17: invalid email 'a@b@example.com'",
        "line 27: invalid email 'x @example.com'",
    ):
        assert message in lines, f"{message!r} is not a line of its own in {lines}"


def _start_invite(
    sandbox: ThreadedSandbox, template_id: str, people: Path
) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603
        [*CLI, "invite", "--template", template_id, "--csv", str(people), "--concurrency", "2"],
        env=sandbox_env(sandbox),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_stops_invite_with_a_count_and_a_resume_hint(tmp_path: Path) -> None:
    faults = FaultPlan(seed=2, routes={"invitations": RouteFaults(latency=0.05)})
    with ThreadedSandbox(faults=faults) as slow:
        template_id = _template(slow, "job-term")
        people = _csv(tmp_path / "people.csv", [f"t{n}@example.com" for n in range(80)])
        out = tmp_path / "people.csv.results.jsonl"
        process = _start_invite(slow, template_id, people)
        try:
            deadline = time.monotonic() + 20
            while not (out.exists() and len(out.read_bytes().splitlines()) >= 6):
                assert time.monotonic() < deadline, "no rows were recorded"
                assert process.poll() is None, "the invite ended before it could be stopped"
                time.sleep(0.02)
            process.send_signal(signal.SIGTERM)
        finally:
            _, err = process.communicate(timeout=20)

        assert process.returncode == 130
        [line] = error_lines(err)
        match = re.fullmatch(
            r"error: interrupted after (\d+)/80; run the same command again to resume", line
        )
        assert match, line
        assert int(match.group(1)) == len(_records(out)), "the count is what the file records"
        assert "Traceback" not in err

        rerun = run_cli(
            "invite", "--template", template_id, "--csv", str(people), env=sandbox_env(slow)
        )
        assert rerun.returncode == 0, rerun.stderr
        emails = [i.candidate.email for i in slow.server.invitations if i.candidate]
        assert sorted(emails) == sorted(f"t{n}@example.com" for n in range(80))


def test_resume_is_keyed_on_template_and_email_not_on_the_line(
    sandbox: ThreadedSandbox, tmp_path: Path
) -> None:
    template_id = _template(sandbox, "job-resume")
    emails = [f"r{n}@example.com" for n in range(10)]
    people = _csv(tmp_path / "people.csv", emails)
    first = run_cli(
        "invite", "--template", template_id, "--csv", str(people), env=sandbox_env(sandbox)
    )
    assert first.returncode == 0, first.stderr
    sent = sandbox.server.request_counts["invitations"]

    # A bad row removed near the top shifts every line below it; a new row is added.
    _csv(people, [*emails[:2], *emails[3:], "new@example.com"])
    rerun = run_cli(
        "invite", "--template", template_id, "--csv", str(people), "--json",
        env=sandbox_env(sandbox),
    )  # fmt: skip

    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads(rerun.stdout)
    assert (summary["resumed"], summary["created"]) == (9, 1)
    assert sandbox.server.request_counts["invitations"] == sent + 1, "only the new row was sent"

    other = _template(sandbox, "job-resume-other")
    elsewhere = run_cli(
        "invite", "--template", other, "--csv", str(people), "--json", env=sandbox_env(sandbox)
    )
    assert json.loads(elsewhere.stdout)["created"] == 10, "another template resumes nothing"


def test_a_404_from_a_wrong_invitation_path_is_not_blamed_on_the_template(
    tmp_path: Path,
) -> None:
    served = Contract(invitations_path="/v1/templates/{templateId}/invitations")
    people = _csv(tmp_path / "people.csv", [f"w{n}@example.com" for n in range(5)])
    with ThreadedSandbox(contract=served) as deviating:
        template_id = _template(deviating, "job-path")
        wrong_path = run_cli(
            "invite", "--template", template_id, "--csv", str(people), env=sandbox_env(deviating)
        )
    with ThreadedSandbox() as plain:
        missing = run_cli(
            "invite", "--template", "tpl_missing", "--csv", str(people), env=sandbox_env(plain)
        )

    [path_error] = error_lines(wrong_path.stderr)
    assert wrong_path.returncode == 1
    assert "code not_found" in path_error
    assert "invitation path differs" in path_error
    assert "ntrvsta doctor --write-probe" in path_error
    assert f"template {template_id}" not in path_error
    [template_error] = error_lines(missing.stderr)
    assert template_error.startswith("error: template tpl_missing: ")
    assert "HTTP 404" in template_error
    assert "doctor" not in template_error


def test_max_retries_and_timeout_reach_every_request(tmp_path: Path) -> None:
    failing = FaultPlan(seed=3, routes={"invitations": RouteFaults(rate_503=1.0)})
    people = _csv(tmp_path / "people.csv", ["m0@example.com", "m1@example.com", "m2@example.com"])
    with ThreadedSandbox(faults=failing) as sandbox:
        template_id = _template(sandbox, "job-retries")
        args = ["invite", "--template", template_id, "--csv", str(people), "--json"]
        none = run_cli(*args, "--max-retries", "0", env=sandbox_env(sandbox))
        after_none = sandbox.server.request_counts["invitations"]
        one = run_cli(*args, "--max-retries", "1", env=sandbox_env(sandbox))
        after_one = sandbox.server.request_counts["invitations"] - after_none

    assert json.loads(none.stdout)["failed"] == json.loads(one.stdout)["failed"] == 3
    assert (after_none, after_one) == (3, 6)

    slow = FaultPlan(seed=4, routes={"invitations": RouteFaults(latency=5.0)})
    with ThreadedSandbox(faults=slow) as sandbox:
        template_id = _template(sandbox, "job-timeout")
        timed = run_cli(
            "invite", "--template", template_id, "--csv", str(people), "--timeout", "0.2",
            "--max-retries", "0", "--json", env=sandbox_env(sandbox),
        )  # fmt: skip
    assert json.loads(timed.stdout)["failed"] == 3
    assert "timed out" in timed.stderr.lower()


def test_max_retries_conflicting_with_the_retry_policy_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"conflicts with retry_policy\.max_retries"):
        NtrvstaClient(api_key="k" * 20, max_retries=5, retry_policy=RetryPolicy(max_retries=1))
    agreed = NtrvstaClient(api_key="k" * 20, max_retries=1, retry_policy=RetryPolicy(max_retries=1))
    derived = agreed.with_options(max_retries=4)  # the inherited policy is no conflict
    assert (agreed.retry_policy.max_retries, derived.retry_policy.max_retries) == (1, 4)
    with pytest.raises(ConfigurationError):
        agreed.with_options(max_retries=3, retry_policy=RetryPolicy(max_retries=2))
    asyncio.run(agreed.close())


# Global options, auth scheme, doctor


def test_global_options_are_accepted_after_the_subcommand_too(tmp_path: Path) -> None:
    served = Contract(page_items_keys=("results",))
    contract = tmp_path / "contract.json"
    contract.write_text(json.dumps({"page_items_keys": ["results"]}), encoding="utf-8")
    key_file = tmp_path / "key"
    with ThreadedSandbox(contract=served, path_prefix="/dev") as sandbox:
        key_file.write_text(sandbox.api_key, encoding="utf-8")
        options = [
            "--base-url", sandbox.base_url, "--api-key-file", str(key_file),
            "--contract", str(contract),
        ]  # fmt: skip
        after = run_cli("results", "list", *options, "--json", env=clean_env())
        before = run_cli(*options, "results", "list", "--json", env=clean_env())
        created = run_cli(
            "templates", "create", "--title", "G", *options, "--json", env=clean_env()
        )
        without = run_cli("results", "list", "--base-url", sandbox.base_url, env=clean_env())

    assert after.returncode == before.returncode == created.returncode == 0, after.stderr
    assert after.stdout == before.stdout == ""
    assert json.loads(created.stdout)["title"] == "G"
    assert without.returncode == 3, "the key is still required"


def test_auth_scheme_is_global_read_from_env_and_saved_by_doctor(tmp_path: Path) -> None:
    served = Contract(api_key_header="X-Partner-Key")  # only Bearer carries our key
    saved = tmp_path / "contract.json"
    with ThreadedSandbox(contract=served) as sandbox:
        env = sandbox_env(sandbox)
        create = ["templates", "create", "--title", "A", "--json"]
        refused = run_cli(*create, env=env)
        flag_after = run_cli(*create, "--auth-scheme", "bearer", env=env)
        flag_before = run_cli("--auth-scheme", "bearer", *create, env=env)
        from_env = run_cli(*create, env={**env, "NTRVSTA_AUTH_SCHEME": "bearer"})
        doctor = run_cli("doctor", "--save-contract", str(saved), env=env)
        with_file = run_cli("--contract", str(saved), *create, env=env)
        key = sandbox.api_key

    assert refused.returncode == 4
    for done in (flag_after, flag_before, from_env, with_file):
        assert done.returncode == 0, done.stderr
    assert json.loads(saved.read_text(encoding="utf-8")) == {"auth_scheme": "bearer"}
    assert doctor.returncode == 1, doctor.stdout
    assert key not in doctor.stdout + doctor.stderr


async def _harmless_api(request: web.Request) -> web.StreamResponse:
    key = request.headers.get("X-Ntrvsta-Api-Key") or request.headers.get(
        "Authorization", ""
    ).removeprefix("Bearer ")
    if key != "sbx_scripted_key_0123456789":
        # Not the assumed JSON error body: a difference the SDK copes with by itself.
        return web.Response(status=401, text="Unauthorized", content_type="text/plain")
    return web.json_response({"items": [], "nextCursor": None})


async def test_doctor_exits_0_when_every_difference_needs_no_setting() -> None:
    app = web.Application()
    app.router.add_get("/v1/interview-results", _harmless_api)
    async with serve(app) as url:
        process = await asyncio.create_subprocess_exec(
            *CLI, "doctor", "--base-url", url, "--json",
            env=clean_env(NTRVSTA_API_KEY="sbx_scripted_key_0123456789"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)

    report = json.loads(out)
    differs = [f for f in report["findings"] if f["status"] == "DIFFERS"]
    assert [f["check"] for f in differs] == ["error-shape"], err
    assert differs[0]["fix"].startswith("no setting needed")
    assert process.returncode == 0, err


def test_help_texts_cite_the_assumptions_module() -> None:
    for command in (["doctor", "--help"], ["webhooks", "capture", "--help"]):
        done = run_cli(*command, env=clean_env())
        assert done.returncode == 0
        assert "API.md" not in done.stdout
        assert "assumptions.py" in done.stdout, command


# templates, results, sandbox, make demo


def test_templates_create_on_an_existing_posting_id_names_what_was_not_applied(
    sandbox: ThreadedSandbox,
) -> None:
    env = sandbox_env(sandbox)
    first = run_cli(
        "templates", "create", "--title", "Backend", "--posting-id", "job-9",
        "--expires-days", "30", env=env,
    )  # fmt: skip
    same = run_cli("templates", "create", "--title", "Backend", "--posting-id", "job-9", env=env)
    changed = run_cli(
        "templates", "create", "--title", "Frontend", "--posting-id", "job-9",
        "--expires-days", "7", env=env,
    )  # fmt: skip

    assert first.returncode == same.returncode == changed.returncode == 0
    assert "warning" not in first.stderr + same.stderr
    [warning] = [line for line in changed.stderr.splitlines() if line.startswith("warning:")]
    assert "reused as it is; not applied:" in warning
    assert "--title (it has 'Backend')" in warning
    assert "--expires-days (it has 30)" in warning
    assert changed.stdout.startswith("reused template ")
    assert [t.title for t in sandbox.server.templates] == ["Backend"]


def test_results_list_json_prints_each_item_exactly_as_the_api_sent_it(
    sandbox: ThreadedSandbox,
) -> None:
    template_id = _template(sandbox, "job-raw")

    async def complete(count: int) -> None:
        async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
            for n in range(count):
                invitation = await client.invitations.create(
                    template_id=template_id, candidate={"email": f"raw{n}@example.com"}
                )
                await sandbox.server.complete(invitation.invitation_id, overall_score=80 + n)

    sandbox.call(complete(3))
    done = run_cli("results", "list", "--json", env=sandbox_env(sandbox))

    assert done.returncode == 0, done.stderr
    printed = [json.loads(line) for line in done.stdout.splitlines()]
    assert printed == [dict(result.summary_json) for result in sandbox.server.results]
    remodelled = sandbox.server.results[0].summary.to_dict()["completedAt"]
    assert printed[0]["completedAt"].endswith("Z"), "the timestamp is the server's text"
    assert printed[0]["completedAt"] != remodelled, "not the model's reformatted timestamp"


async def _recorder(deliveries: list[bytes], enough: asyncio.Event, count: int) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        deliveries.append(await request.read())
        if len(deliveries) >= count:
            enough.set()
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhooks", receive)
    return app


async def _read_json_line(stream: asyncio.StreamReader) -> dict[str, Any]:
    line = await asyncio.wait_for(stream.readline(), timeout=30)
    data: dict[str, Any] = json.loads(line)
    return data


async def test_sandbox_command_has_webhook_faults_a_dialect_file_and_export_lines(
    tmp_path: Path,
) -> None:
    dialect = tmp_path / "dialect.json"
    dialect.write_text(
        json.dumps({"page_items_keys": ["results"], "reused_flag": False}), encoding="utf-8"
    )
    deliveries: list[bytes] = []
    six = asyncio.Event()
    async with serve(await _recorder(deliveries, six, 6)) as receiver:
        process = await asyncio.create_subprocess_exec(
            *CLI, "sandbox", "--port", "0", "--json", "--auto-complete", "0",
            "--webhook-url", f"{receiver}/webhooks", "--webhook-duplicate-rate", "1",
            "--dialect", str(dialect),
            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            info = await _read_json_line(process.stdout)
            async with NtrvstaClient(api_key=info["apiKey"], base_url=info["baseUrl"]) as client:
                template = await client.templates.create(title="Dialect")
                for n in range(3):
                    await client.invitations.create(
                        template_id=template.template_id, candidate={"email": f"d{n}@x.io"}
                    )
                raw = await client.request("GET", "/v1/interview-results")
                made = await client.request("POST", "/v1/templates", json={"title": "Raw"})
                await asyncio.wait_for(six.wait(), timeout=20)
                await asyncio.sleep(0.3)  # room for a seventh delivery, which must not come
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.communicate(), timeout=20)

    assert "results" in raw, "the dialect file was applied"
    assert "items" not in raw
    assert "reused" not in made, "the file's reused_flag was applied"
    assert len(deliveries) == 6, "every webhook sent twice"
    assert len(set(deliveries)) == 3
    assert info["webhookSecret"].startswith("sbxsec_")


def test_sandbox_command_prints_an_export_line_for_the_webhook_secret() -> None:
    process = subprocess.Popen(  # noqa: S603
        [*CLI, "sandbox", "--port", "0", "--webhook-url", "http://127.0.0.1:9/hooks",
         "--webhook-drop-rate", "0.5", "--webhook-reorder-rate", "0.2"],
        env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(8)]
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=20)
    exports = {line.split("=", 1)[0] for line in lines if line.startswith("export ")}
    assert exports == {
        "export NTRVSTA_BASE_URL",
        "export NTRVSTA_API_KEY",
        "export NTRVSTA_WEBHOOK_SECRET",
    }
    secret = next(line for line in lines if line.startswith("Webhook signing secret: "))
    assert f"export NTRVSTA_WEBHOOK_SECRET={secret.split(': ')[1]}" in lines


def test_bad_dialect_file_is_a_usage_error(tmp_path: Path) -> None:
    dialect = tmp_path / "dialect.json"
    dialect.write_text(json.dumps({"page_key": "results"}), encoding="utf-8")
    done = run_cli("sandbox", "--port", "0", "--dialect", str(dialect), env=clean_env())
    assert done.returncode == 2
    assert "page_items_keys" in done.stderr
    assert "reused_flag" in done.stderr


def test_make_demo_installs_only_the_cli_extra_and_make_test_the_dev_extra(
    tmp_path: Path,
) -> None:
    def planned(target: str) -> str:
        done = subprocess.run(  # noqa: S603
            ["make", "-n", "-B", target, f"VENV={tmp_path / 'venv'}"],  # noqa: S607
            cwd=ROOT, capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        return done.stdout

    demo, test = planned("demo"), planned("test")
    assert 'pip install --quiet -e ".[cli]"' in demo
    assert "[dev]" not in demo
    assert 'pip install --quiet -e ".[dev]"' in test


def test_an_env_rotation_value_verifies_deliveries_of_either_secret() -> None:
    from ntrvsta_async.webhooks import sign

    body = json.dumps({"event": "result.completed", "resultId": "res_1"}).encode()
    for secret in ("whsec_old", "whsec_new"):
        headers = sign(body, secret)
        done = run_cli(
            "webhooks", "verify", "-H", f"X-Ntrvsta-Signature: {headers['X-Ntrvsta-Signature']}",
            env=clean_env(NTRVSTA_WEBHOOK_SECRET=" whsec_new,\n whsec_old "), stdin=body,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["resultId"] == "res_1"
    flag = run_cli(
        "webhooks", "verify", "--secret", "whsec_new,whsec_old",
        "-H", f"X-Ntrvsta-Signature: {sign(body, 'whsec_old')['X-Ntrvsta-Signature']}",
        env=clean_env(), stdin=body,
    )  # fmt: skip
    assert flag.returncode == 0, flag.stderr

"""``ntrvsta webhooks verify``: the raw body on stdin, headers as options."""

from __future__ import annotations

import json
import time

from ntrvsta_async.webhooks import sign
from tests.cli.test_cli_support import clean_env, error_lines, run_cli

BODY = json.dumps(
    {
        "event": "result.completed",
        "eventId": "evt_1",
        "resultId": "res_cli_1",
        "candidate": {"email": "jane@example.com"},
    }
).encode()


def _header_args(headers: dict[str, str]) -> list[str]:
    return [arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")]


def test_a_good_signature_prints_the_event() -> None:
    headers = sign(BODY, "whsec_one", timestamp=int(time.time()))
    result = run_cli(
        "webhooks", "verify", "--secret", "whsec_old", "--secret", "whsec_one",
        *_header_args(headers), env=clean_env(), stdin=BODY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout)
    assert event["resultId"] == "res_cli_1"
    assert event["candidate"] == {"email": "jane@example.com"}


def test_the_secret_may_come_from_the_environment() -> None:
    headers = sign(BODY, "whsec_env")
    result = run_cli(
        "webhooks", "verify", *_header_args(headers),
        env=clean_env(NTRVSTA_WEBHOOK_SECRET="whsec_env"), stdin=BODY,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resultId"] == "res_cli_1"


def test_a_bad_signature_is_one_error_line_and_exit_1() -> None:
    headers = sign(BODY, "whsec_other")
    result = run_cli(
        "webhooks", "verify", "--secret", "whsec_one", *_header_args(headers),
        env=clean_env(), stdin=BODY,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: bad_signature: signature does not match the body for any configured secret"
    ]


def test_a_tampered_body_and_a_missing_header_fail() -> None:
    headers = sign(BODY, "whsec_one")
    tampered = run_cli(
        "webhooks", "verify", "--secret", "whsec_one", *_header_args(headers),
        env=clean_env(), stdin=BODY.replace(b"res_cli_1", b"res_cli_2"),
    )  # fmt: skip
    unsigned = run_cli("webhooks", "verify", "--secret", "whsec_one", env=clean_env(), stdin=BODY)
    assert (tampered.returncode, unsigned.returncode) == (1, 1)
    assert error_lines(tampered.stderr)[0].startswith("error: bad_signature")
    assert error_lines(unsigned.stderr)[0].startswith("error: missing_signature")


def test_an_old_timestamp_fails_unless_the_age_check_is_off() -> None:
    headers = sign(BODY, "whsec_one", timestamp=int(time.time()) - 3600)
    args = ["webhooks", "verify", "--secret", "whsec_one", *_header_args(headers)]
    stale = run_cli(*args, env=clean_env(), stdin=BODY)
    unchecked = run_cli(*args, "--tolerance", "0", env=clean_env(), stdin=BODY)
    assert stale.returncode == 1
    assert error_lines(stale.stderr)[0].startswith("error: stale_timestamp")
    assert unchecked.returncode == 0


def test_no_secret_or_a_malformed_header_is_a_usage_error() -> None:
    from click.testing import CliRunner

    from ntrvsta_async.cli.app import cli

    runner = CliRunner()
    no_secret = runner.invoke(
        cli, ["webhooks", "verify"], input=BODY, env={"NTRVSTA_WEBHOOK_SECRET": ""}
    )
    bad_header = runner.invoke(
        cli, ["webhooks", "verify", "--secret", "s", "-H", "nocolon"], input=BODY
    )
    assert no_secret.exit_code == bad_header.exit_code == 2
    assert "NTRVSTA_WEBHOOK_SECRET" in no_secret.output
    assert "'nocolon' is not 'Name: value'" in bad_header.output

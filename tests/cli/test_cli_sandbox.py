"""``ntrvsta sandbox`` / ``python -m ntrvsta_async sandbox``: start, announce, serve, stop."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from ntrvsta_async.cli import main
from ntrvsta_async.cli.app import cli


@contextmanager
def _running(*args: str, command: list[str] | None = None) -> Iterator[subprocess.Popen[str]]:
    base = command or [sys.executable, "-m", "ntrvsta_async"]
    process = subprocess.Popen(  # noqa: S603
        [*base, "sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _stop(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> tuple[int, str]:
    process.send_signal(signum)
    _, err = process.communicate(timeout=10)
    return process.returncode, err


def _get_results(base_url: str, api_key: str) -> dict[str, object]:
    url = f"{base_url}/v1/interview-results"
    request = urllib.request.Request(url, headers={"X-Ntrvsta-Api-Key": api_key})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        data: dict[str, object] = json.loads(response.read())
        return data


def test_json_announcement_then_serving_then_clean_stop() -> None:
    with _running("--json", "--api-key", "sbx_cli_key", "--path-prefix", "/dev") as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["apiKey"] == "sbx_cli_key"
        assert info["baseUrl"].startswith("http://127.0.0.1:")
        assert info["baseUrl"].endswith("/dev")
        assert _get_results(info["baseUrl"], "sbx_cli_key") == {"items": [], "nextCursor": None}
        with pytest.raises(urllib.error.HTTPError) as denied:
            _get_results(info["baseUrl"], "wrong")
        assert denied.value.code == 401
        denied.value.close()
        code, err = _stop(process)
    assert code == 0
    assert "Traceback" not in err


def test_human_announcement_prints_url_key_and_exports() -> None:
    with _running("--webhook-url", "http://127.0.0.1:9/hooks") as process:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        text = "".join(lines)
        base_url = text.split("listening on ")[1].split()[0]
        api_key = text.split("API key: ")[1].split()[0]
        assert "Webhook signing secret: sbxsec_" in text
        assert _get_results(base_url, api_key)["items"] == []
        code, err = _stop(process)
    assert code == 0
    assert "Sandbox stopped." in err


def test_sigterm_stops_cleanly() -> None:
    with _running("--json") as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert _get_results(info["baseUrl"], info["apiKey"])["items"] == []
        code, err = _stop(process, signal.SIGTERM)
    assert code == 0
    assert "Traceback" not in err


def test_console_script_runs_the_same_command() -> None:
    script = Path(sys.executable).with_name("ntrvsta")
    if not script.exists():
        pytest.skip("the ntrvsta console script is not installed in this environment")
    with _running("--json", command=[str(script)]) as process:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert _get_results(info["baseUrl"], info["apiKey"])["nextCursor"] is None
        code, _ = _stop(process)
    assert code == 0


def test_busy_port_is_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "ntrvsta_async", "sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_command_and_its_options() -> None:
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"])
    assert top.exit_code == 0
    assert "sandbox" in top.output
    sub = runner.invoke(cli, ["sandbox", "--help"])
    assert sub.exit_code == 0
    for option in ("--host", "--port", "--api-key", "--webhook-url", "--webhook-secret"):
        assert option in sub.output
    for option in ("--seed", "--auto-complete"):
        assert option in sub.output


def test_bad_option_value_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--error-rate", "2"])
    assert result.exit_code == 2


def test_missing_cli_extra_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)
    monkeypatch.delitem(sys.modules, "ntrvsta_async.cli.app", raising=False)
    monkeypatch.delitem(sys.modules, "ntrvsta_async.cli.sandbox_cmd", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["sandbox"])
    assert info.value.code == 2
    assert "pip install 'ntrvsta-async[cli]'" in capsys.readouterr().err

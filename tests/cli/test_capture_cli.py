"""The ``webhooks capture`` command object, receiving a real sandbox delivery."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner, Result

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.cli.capture_cmd import capture
from ntrvsta_async.sandbox import ThreadedSandbox
from ntrvsta_async.webhooks import sign

SECRET = "whsec_cli_capture_SECRET"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, deadline: float = 10.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"capture never listened on {port}")


async def _invite(sandbox: ThreadedSandbox) -> str:
    async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
        template = await client.templates.create(title="Capture CLI")
        invitation = await client.invitations.create(
            template_id=template.template_id, candidate=Candidate(email="cli@example.com")
        )
    return invitation.invitation_id


def _run_capture(tmp_path: Path, deliver: Callable[[int], object], *extra: str) -> Result:
    """Run ``capture --count 1`` in a thread while ``deliver(port)`` sends it one delivery."""
    port = _free_port()
    outcome: list[Result] = []
    args = ["--port", str(port), "--secret", SECRET, "--out", str(tmp_path), "--count", "1"]
    thread = threading.Thread(
        target=lambda: outcome.append(CliRunner().invoke(capture, [*args, *extra])), daemon=True
    )
    thread.start()
    try:
        _wait_listening(port)
        deliver(port)
    finally:
        thread.join(timeout=20)
    assert not thread.is_alive()
    (result,) = outcome
    return result


def _sandbox_delivery(port: int) -> None:
    with ThreadedSandbox(
        webhook_url=f"http://127.0.0.1:{port}/webhooks", webhook_secret=SECRET
    ) as sandbox:
        sandbox.complete(sandbox.call(_invite(sandbox)))
        sandbox.call(sandbox.server.wait_deliveries_idle())


def _hour_old_delivery(port: int) -> None:
    body = json.dumps({"event": "result.completed", "eventId": "evt_1", "resultId": "res_1"})
    headers = sign(body.encode(), SECRET, timestamp=int(time.time()) - 3600)
    url = f"http://127.0.0.1:{port}/webhooks"
    request = urllib.request.Request(url, data=body.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        assert response.status == 200


def _capture_one(tmp_path: Path, *extra: str) -> Result:
    return _run_capture(tmp_path, _sandbox_delivery, *extra)


def test_capture_records_a_sandbox_delivery_and_names_the_scheme(tmp_path: Path) -> None:
    result = _capture_one(tmp_path)
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Capturing webhook deliveries on http://127.0.0.1:")
    assert "#0001 POST /webhooks: timestamped (t=<unix>,v1=<sig>, hex) matched secret #0" in (
        result.output
    )
    assert "SDK accepted" in result.output
    assert lines[-1] == f"1 delivery(ies) captured in {tmp_path}/; schemes: timestamped (1)"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "0001-analysis.json",
        "0001-body.bin",
        "0001-headers.json",
    ]


def test_capture_json_lines(tmp_path: Path) -> None:
    result = _capture_one(tmp_path, "--json")
    assert result.exit_code == 0, result.output
    listening, delivery = (json.loads(line) for line in result.output.splitlines())
    assert listening["directory"] == str(tmp_path)
    assert delivery["signature"]["scheme"] == "timestamped"
    assert delivery["signature"]["secretIndex"] == 0
    assert delivery["payload"]["missing"] == []
    assert [f["status"] for f in delivery["findings"]] == ["OK", "OK", "OK"]


def test_capture_refuses_an_hour_old_timestamp_unless_the_age_check_is_off(
    tmp_path: Path,
) -> None:
    checked = _run_capture(tmp_path / "checked", _hour_old_delivery)
    unchecked = _run_capture(tmp_path / "unchecked", _hour_old_delivery, "--tolerance", "0")
    assert (checked.exit_code, unchecked.exit_code) == (0, 0), checked.output + unchecked.output
    assert "SDK refused (stale_timestamp)" in checked.output
    assert "SDK accepted" in unchecked.output


def test_capture_needs_a_secret(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        capture, ["--out", str(tmp_path)], env={"NTRVSTA_WEBHOOK_SECRET": None}
    )
    assert result.exit_code == 2
    assert "no secret" in result.output

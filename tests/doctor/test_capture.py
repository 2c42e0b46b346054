"""Capturing webhook deliveries: files per delivery, the scheme that matched, the fields."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.doctor import (
    CAPTURE_RECORDER,
    CaptureRecorder,
    Status,
    analyse_delivery,
    capture_app,
)
from ntrvsta_async.doctor.capture import EXPECTED_PAYLOAD_FIELDS, load_capture
from ntrvsta_async.sandbox import SandboxServer
from ntrvsta_async.webhooks import sign
from tests.conftest import serve

SECRET = "whsec_capture_test_SECRET_value"
OTHER = "whsec_rotated_out_OTHER_value"
BODY = json.dumps({"event": "result.completed", "resultId": "res_1", "extraField": 1}).encode()


@pytest.fixture
async def capture_server(tmp_path: Path) -> AsyncIterator[tuple[str, CaptureRecorder]]:
    app = capture_app(tmp_path / "captures", [OTHER, SECRET])
    async with serve(app) as url:
        yield url, app[CAPTURE_RECORDER]


async def test_a_sandbox_delivery_is_recorded_and_its_scheme_named(
    capture_server: tuple[str, CaptureRecorder],
) -> None:
    url, recorder = capture_server
    async with SandboxServer(webhook_url=f"{url}/hooks", webhook_secret=SECRET) as sandbox:
        async with NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client:
            template = await client.templates.create(title="Capture")
            invitation = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email="cap@example.com")
            )
        completed = await sandbox.complete(invitation.invitation_id, overall_score=81)
        await sandbox.wait_deliveries_idle()
        (delivered,) = sandbox.deliveries.delivered

    (analysis,) = recorder.captures
    folder = recorder.directory
    names = sorted(path.name for path in folder.iterdir())
    assert names == ["0001-analysis.json", "0001-body.bin", "0001-headers.json"]
    assert (folder / "0001-body.bin").read_bytes() == delivered.body
    meta = json.loads((folder / "0001-headers.json").read_text(encoding="utf-8"))
    recorded = {name.lower(): value for name, value in meta["headers"]}
    assert recorded["x-ntrvsta-signature"] == delivered.headers["X-Ntrvsta-Signature"]
    assert meta["path"] == "/hooks"

    sig = analysis.signature
    assert (sig.scheme, sig.header_format, sig.encoding) == (
        "timestamped",
        "t=<unix>,v1=<sig>",
        "hex",
    )
    assert sig.secret_index == 1
    assert sig.timestamp_source == "signature"
    assert sig.sdk_verified
    assert analysis.result_id == completed.result_id
    assert analysis.event == "result.completed"
    assert analysis.payload is not None
    assert analysis.payload.missing == ()
    assert set(EXPECTED_PAYLOAD_FIELDS) <= set(analysis.payload.present)
    assert analysis.payload.extra == ()
    assert analysis.headers_missing == ()
    assert [f.status for f in analysis.findings] == [Status.OK, Status.OK, Status.OK]
    assert 'scheme="timestamped"' in (analysis.findings[1].fix or "")

    written = json.loads((folder / "0001-analysis.json").read_text(encoding="utf-8"))
    assert written["signature"]["scheme"] == "timestamped"
    assert written["signature"]["secretIndex"] == 1
    assert written["payload"]["missing"] == []
    for path in folder.iterdir():
        text = path.read_bytes()
        assert SECRET.encode() not in text
        assert OTHER.encode() not in text


async def test_a_capture_becomes_a_fixture(capture_server: tuple[str, CaptureRecorder]) -> None:
    url, recorder = capture_server
    headers = {"Content-Type": "application/json", **sign(BODY, SECRET)}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/x", data=BODY, headers=headers) as response:
            assert response.status == 200
            assert await response.json() == {"captured": 1}
        async with session.get(url) as response:
            assert "POST deliveries" in await response.text()
        async with session.put(url, data=b"") as response:
            assert response.status == 405

    stored_headers, body = load_capture(recorder.directory, 1)
    assert body == BODY
    again = analyse_delivery(body, stored_headers, SECRET)
    assert again.signature.scheme == "hex"
    assert again.signature.header_format == "sha256=<sig>"
    assert again.signature.sdk_verified
    assert again.payload is not None
    assert again.payload.extra == ("extraField",)
    assert "candidate" in again.payload.missing
    assert again.findings[2].status is Status.DIFFERS
    assert "X-Ntrvsta-Idempotency-Key" in again.headers_missing


async def test_numbering_continues_after_existing_captures(tmp_path: Path) -> None:
    (tmp_path / "0007-body.bin").write_bytes(b"{}")
    recorder = CaptureRecorder(tmp_path, SECRET)
    assert SECRET not in repr(recorder)
    async with (
        serve(recorder.app()) as url,
        aiohttp.ClientSession() as session,
        session.post(f"{url}/", data=BODY) as response,
    ):
        assert await response.json() == {"captured": 8}
    assert (tmp_path / "0008-body.bin").read_bytes() == BODY
    (analysis,) = recorder.captures
    assert analysis.signature.header_format == "missing"


def test_bare_hex_with_a_timestamp_header_is_timestamped() -> None:
    now = int(time.time())
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + BODY, hashlib.sha256).hexdigest()
    headers = {"X-Ntrvsta-Signature": digest, "X-Ntrvsta-Timestamp": str(now)}
    analysis = analyse_delivery(BODY, headers, [SECRET])
    assert analysis.signature.scheme == "timestamped"
    assert analysis.signature.header_format == "<sig>"
    assert analysis.signature.timestamp_source == "header"
    assert analysis.signature.sdk_verified
    assert "X-Ntrvsta-Timestamp" in analysis.headers_present


def test_a_base64_digest_differs_from_the_assumed_hex() -> None:
    mac = hmac.new(SECRET.encode(), BODY, hashlib.sha256).digest()
    headers = {"X-Ntrvsta-Signature": f"sha256={base64.b64encode(mac).decode()}"}
    analysis = analyse_delivery(BODY, headers, SECRET)
    sig = analysis.signature
    assert (sig.scheme, sig.encoding, sig.secret_index) == ("hex", "base64", 0)
    assert not sig.sdk_verified
    finding = analysis.findings[1]
    assert finding.status is Status.DIFFERS
    assert "base64 digest" in finding.observed


def test_an_unmatched_or_missing_signature() -> None:
    wrong = analyse_delivery(BODY, sign(BODY, OTHER), SECRET)
    assert not wrong.signature.matched
    assert wrong.signature.sdk_reason == "bad_signature"
    assert wrong.findings[1].status is Status.UNKNOWN
    assert "check the signing secret" in (wrong.findings[1].fix or "")

    missing = analyse_delivery(BODY, {"Content-Type": "application/json"}, SECRET)
    assert missing.signature.header_format == "missing"
    assert missing.findings[1].status is Status.DIFFERS
    assert "no signature header" in missing.summary()


def test_an_enveloped_payload_is_unwrapped_and_flagged() -> None:
    body = json.dumps({"type": "result.completed", "id": "evt", "data": {"resultId": "r"}}).encode()
    analysis = analyse_delivery(body, sign(body, SECRET), SECRET)
    assert analysis.payload is not None
    assert analysis.payload.enveloped
    assert analysis.result_id == "r"
    finding = analysis.findings[2]
    assert finding.status is Status.DIFFERS
    assert finding.observed.startswith("enveloped under 'data'")


def test_analysis_needs_a_secret() -> None:
    from ntrvsta_async import ConfigurationError

    with pytest.raises(ConfigurationError):
        analyse_delivery(BODY, {}, [])


@pytest.mark.parametrize("secrets", ["whsec_\ud800", [SECRET, "whsec_\udfff"]])
def test_a_secret_not_encodable_as_utf8_is_refused_by_the_recorder_as_by_the_analysis(
    tmp_path: Path, secrets: str | list[str]
) -> None:
    from ntrvsta_async import ConfigurationError

    with pytest.raises(ConfigurationError, match="UTF-8") as analysed:
        analyse_delivery(BODY, sign(BODY, SECRET), secrets)
    with pytest.raises(ConfigurationError, match="UTF-8") as recorded:
        CaptureRecorder(tmp_path / "captures", secrets)
    assert str(recorded.value) == str(analysed.value)


@pytest.mark.parametrize("secrets", ["", [], [""], ["whsec_1", 1], None, 5, ["\ud800"]])
def test_the_recorder_the_analysis_and_the_verifier_refuse_the_same_secrets(
    tmp_path: Path, secrets: object
) -> None:
    from ntrvsta_async import ConfigurationError
    from ntrvsta_async.webhooks import WebhookVerifier

    with pytest.raises(ConfigurationError):
        WebhookVerifier(secrets)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        analyse_delivery(BODY, sign(BODY, SECRET), secrets)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        CaptureRecorder(tmp_path / "captures", secrets)  # type: ignore[arg-type]

"""The webhook signature format has one owner: what ``sign()`` writes, the verifier accepts and
the doctor's capture reproduces; the header parser's forms. Oracles use ``hmac`` directly."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrvsta_async import WebhookVerificationError
from ntrvsta_async.doctor import Status, analyse_delivery
from ntrvsta_async.webhooks import UnknownEvent, WebhookVerifier, sign
from ntrvsta_async.webhooks.signing import (
    BARE,
    PREFIXED,
    TIMESTAMPED,
    SignatureHeader,
    SigningKey,
    parse_signature_header,
    signed_message,
)

OTHER_EVENT = {"X-Ntrvsta-Event": "template.archived"}  # any body verifies as an UnknownEvent
OTHER_SECRET = "not-this-one"
SECRETS = st.text(min_size=1, max_size=40).filter(lambda secret: secret != OTHER_SECRET)
TIMESTAMPS = st.none() | st.integers(min_value=0, max_value=10**12 - 1)
HEX = st.text("0123456789abcdef", min_size=64, max_size=64)


def oracle(secret: str, body: bytes, timestamp: int | None) -> str:
    message = body if timestamp is None else f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@settings(max_examples=150)
@given(body=st.binary(max_size=200), secret=SECRETS, timestamp=TIMESTAMPS)
def test_what_sign_writes_verifies_and_the_capture_reproduces(
    body: bytes, secret: str, timestamp: int | None
) -> None:
    headers = {**sign(body, secret, timestamp=timestamp), **OTHER_EVENT}
    value = headers["X-Ntrvsta-Signature"]
    digest = oracle(secret, body, timestamp)
    expected = f"sha256={digest}" if timestamp is None else f"t={timestamp},v1={digest}"
    assert value == expected

    event = WebhookVerifier([OTHER_SECRET, secret], tolerance=None).verify(body, headers)
    assert isinstance(event, UnknownEvent)
    assert event.body == body

    analysis = analyse_delivery(body, headers, [OTHER_SECRET, secret], tolerance=None)
    match = analysis.signature
    assert (match.secret_index, match.encoding, match.sdk_verified) == (1, "hex", True)
    assert match.scheme == ("hex" if timestamp is None else "timestamped")
    assert match.header_format == (PREFIXED if timestamp is None else TIMESTAMPED)


@settings(max_examples=100)
@given(secret=SECRETS, messages=st.lists(st.binary(max_size=100), min_size=1, max_size=5))
def test_a_key_keyed_once_gives_each_message_its_own_hmac(
    secret: str, messages: list[bytes]
) -> None:
    key = SigningKey(secret)
    for message in messages:
        expected = hmac.new(secret.encode(), message, hashlib.sha256)
        assert key.hexdigest(message) == expected.hexdigest()
        assert key.digest(message) == expected.digest()


def test_a_key_hides_its_secret() -> None:
    assert "whsec_hidden" not in repr(SigningKey("whsec_hidden"))


@given(body=st.binary(max_size=50), timestamp=st.integers(min_value=0, max_value=10**12))
def test_the_signed_message_is_the_body_or_timestamp_dot_body(body: bytes, timestamp: int) -> None:
    assert signed_message(body) == body
    assert signed_message(body, timestamp) == str(timestamp).encode() + b"." + body
    assert signed_message(body, str(timestamp)) == signed_message(body, timestamp)


@given(
    digests=st.lists(HEX, min_size=1, max_size=3),
    timestamp=st.integers(min_value=0, max_value=10**12 - 1),
    noise=st.lists(st.sampled_from(["v0=abc", "scheme=x", " v2 = y "]), max_size=2),
)
def test_the_three_header_forms_are_taken_apart(
    digests: list[str], timestamp: int, noise: list[str]
) -> None:
    assert parse_signature_header(digests[0]) == (BARE, (digests[0],), None)
    assert parse_signature_header(f" SHA256={digests[0]} ") == (PREFIXED, (digests[0],), None)
    items = [f"t={timestamp}", *noise, *(f"v1={d}" for d in digests)]
    parsed = parse_signature_header(",".join(items))
    assert parsed == (TIMESTAMPED, tuple(digests), str(timestamp))


@settings(max_examples=300)
@given(value=st.text(max_size=120))
def test_any_header_text_parses_to_a_known_form_or_is_malformed(value: str) -> None:
    outcome: object
    try:
        outcome = parse_signature_header(value)
    except WebhookVerificationError as exc:
        outcome = exc
    if isinstance(outcome, WebhookVerificationError):
        assert outcome.reason == "malformed_signature"
    else:
        assert isinstance(outcome, SignatureHeader)
        assert outcome.form in (BARE, PREFIXED, TIMESTAMPED)
        assert outcome.signatures
        assert (outcome.timestamp is not None) == (outcome.form == TIMESTAMPED)


@pytest.mark.parametrize(
    "value",
    ["md5=" + "a" * 64, "t=1,v1", "t=1,t=2,v1=" + "a" * 64, "t=abc,v1=" + "a" * 64, "t=1,v0=ab"],
)
def test_headers_in_no_known_form_are_malformed(value: str) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        parse_signature_header(value)
    assert info.value.reason == "malformed_signature"


def test_the_capture_names_a_header_in_no_known_form() -> None:
    body = b'{"resultId": "r"}'
    digest = oracle("s3cret", body, None)
    analysis = analyse_delivery(body, {"X-Ntrvsta-Signature": f"md5={digest}"}, "s3cret")
    assert analysis.signature.header_format == "unrecognised"
    assert analysis.signature.sdk_reason == "malformed_signature"
    finding = analysis.findings[1]
    assert finding.status is Status.DIFFERS
    assert "none of the known forms" in finding.observed


def test_the_capture_finds_a_bare_padded_base64_digest() -> None:
    body = b'{"resultId": "r"}'
    mac = hmac.new(b"s3cret", body, hashlib.sha256).digest()
    padded = base64.b64encode(mac).decode()
    assert padded.endswith("=")
    analysis = analyse_delivery(body, {"X-Ntrvsta-Signature": padded}, "s3cret")
    match = analysis.signature
    assert (match.header_format, match.encoding, match.secret_index) == (BARE, "base64", 0)
    assert match.sdk_reason == "malformed_signature", "the SDK reads hex digests only"

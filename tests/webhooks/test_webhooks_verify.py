"""WebhookVerifier and sign(): signatures here are computed independently with hmac."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from ntrvsta_async import ConfigurationError, ResultCompletedEvent, WebhookVerificationError
from ntrvsta_async.webhooks import SignatureScheme, UnknownEvent, WebhookVerifier, sign

SECRET = "whsec-test-0123456789"
OLD_SECRET = "whsec-old-abcdef"
NOW = 1_750_000_000

PAYLOAD: dict[str, Any] = {
    "event": "result.completed",
    "eventId": "evt_1",
    "occurredAt": "2025-06-15T12:00:00Z",
    "resultId": "res_123",
    "organizationId": "org_1",
    "templateId": "tpl_9",
    "externalPostingId": "job-42",
    "invitationId": "inv_7",
    "template": {"templateId": "tpl_9", "title": "Backend engineer", "level": "senior"},
    "candidate": {
        "email": "ada@example.com",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "externalCandidateId": "c-1",
    },
    "interview": {
        "status": "completed",
        "language": "en",
        "startedAt": "2025-06-15T11:00:00Z",
        "completedAt": "2025-06-15T11:42:00+00:00",
        "durationSeconds": 2520,
        "whiteboardUsed": True,
    },
    "aiAnalysis": {
        "summary": "Strong.",
        "strengths": ["clarity"],
        "concerns": [],
        "integrityWarning": False,
        "scoring": {
            "overallScore": 87.5,
            "maxScore": 100,
            "categories": [
                {"key": "tech", "label": "Technical Accuracy", "score": 90, "maxScore": 100}
            ],
        },
    },
    "resultUrl": "https://app.ntrvsta.com/results/res_123",
    "futureField": {"nested": [1, 2]},
}
BODY = json.dumps(PAYLOAD).encode()

REASONS = {
    "payload_too_large",
    "missing_signature",
    "malformed_signature",
    "malformed_timestamp",
    "missing_timestamp",
    "bad_signature",
    "stale_timestamp",
    "malformed_payload",
}


def hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


STAMPED_DIGEST = hex_hmac(SECRET, f"{NOW}.".encode() + BODY)


def timestamped(secret: str, body: bytes, ts: int) -> str:
    return f"t={ts},v1={hex_hmac(secret, f'{ts}.'.encode() + body)}"


def verifier(**kwargs: Any) -> WebhookVerifier:
    kwargs.setdefault("clock", lambda: float(NOW))
    return WebhookVerifier(kwargs.pop("secrets", SECRET), **kwargs)


def rejection(v: WebhookVerifier, body: bytes, headers: dict[str, str]) -> str:
    with pytest.raises(WebhookVerificationError) as info:
        v.verify(body, headers)
    return info.value.reason


def test_bare_hex_signature_gives_full_typed_event() -> None:
    event = verifier().verify(BODY, {"X-Ntrvsta-Signature": hex_hmac(SECRET, BODY)})

    assert isinstance(event, ResultCompletedEvent)
    assert event.key == "res_123"
    assert event.event == "result.completed"
    assert event.occurred_at == datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
    assert event.candidate is not None
    assert event.candidate.email == "ada@example.com"
    assert event.template is not None
    assert event.template.title == "Backend engineer"
    assert event.interview is not None
    assert event.interview.duration_seconds == 2520
    assert event.ai_analysis is not None
    assert event.ai_analysis.scoring is not None
    assert event.ai_analysis.scoring.overall_score == 87.5
    assert event.ai_analysis.scoring.categories[0].label == "Technical Accuracy"
    assert event.extra == {"futureField": {"nested": [1, 2]}}
    assert event.template.extra == {"level": "senior"}
    assert event.to_dict()["futureField"] == {"nested": [1, 2]}


@pytest.mark.parametrize(
    "header",
    [
        f"sha256={hex_hmac(SECRET, BODY)}",
        f"SHA256={hex_hmac(SECRET, BODY).upper()}",
        f"  {hex_hmac(SECRET, BODY)}  ",
        f"t={NOW},v1={STAMPED_DIGEST.upper()}",
        f" t={NOW} , v1={STAMPED_DIGEST} ",
        f"t=00{NOW},v1={hex_hmac(SECRET, f'00{NOW}.'.encode() + BODY)}",
        f"v1={STAMPED_DIGEST},t={NOW}",
    ],
)
def test_signature_header_variants_are_accepted(header: str) -> None:
    event = verifier().verify(BODY, {"X-Ntrvsta-Signature": header})
    assert isinstance(event, ResultCompletedEvent)
    assert event.result_id == "res_123"


@pytest.mark.parametrize(
    "headers",
    [
        {"x-ntrvsta-signature": hex_hmac(SECRET, BODY)},
        {"X-NTRVSTA-SIGNATURE": hex_hmac(SECRET, BODY)},
        CIMultiDict({"X-Ntrvsta-Signature": hex_hmac(SECRET, BODY)}),
    ],
)
def test_headers_are_matched_case_insensitively(headers: Any) -> None:
    assert verifier().verify(BODY, headers).key == "res_123"  # type: ignore[union-attr]


def test_timestamped_signature_within_tolerance_is_accepted() -> None:
    header = timestamped(SECRET, BODY, NOW - 299)
    event = verifier().verify(BODY, {"X-Ntrvsta-Signature": header})
    assert isinstance(event, ResultCompletedEvent)


def test_timestamped_signature_with_several_v1_accepts_any_match() -> None:
    digest = hex_hmac(SECRET, f"{NOW}.".encode() + BODY)
    header = f"t={NOW},v1={'0' * 64},v0=ignored,v1={digest}"
    assert isinstance(
        verifier().verify(BODY, {"X-Ntrvsta-Signature": header}), ResultCompletedEvent
    )


@pytest.mark.parametrize("offset", [-301, 301, -100_000])
def test_timestamp_outside_tolerance_is_stale(offset: int) -> None:
    header = timestamped(SECRET, BODY, NOW + offset)
    assert rejection(verifier(), BODY, {"X-Ntrvsta-Signature": header}) == "stale_timestamp"


def test_tolerance_is_configurable_and_can_be_disabled() -> None:
    header = {"X-Ntrvsta-Signature": timestamped(SECRET, BODY, NOW - 1000)}
    assert rejection(verifier(tolerance=999), BODY, header) == "stale_timestamp"
    assert isinstance(verifier(tolerance=1001).verify(BODY, header), ResultCompletedEvent)
    assert isinstance(verifier(tolerance=None).verify(BODY, header), ResultCompletedEvent)


def test_timestamp_header_signs_timestamp_dot_body() -> None:
    ts = NOW - 10
    headers = {
        "X-Ntrvsta-Timestamp": str(ts),
        "X-Ntrvsta-Signature": "sha256=" + hex_hmac(SECRET, f"{ts}.".encode() + BODY),
    }
    assert isinstance(verifier().verify(BODY, headers), ResultCompletedEvent)

    stale = {
        "X-Ntrvsta-Timestamp": str(NOW - 400),
        "X-Ntrvsta-Signature": hex_hmac(SECRET, f"{NOW - 400}.".encode() + BODY),
    }
    assert rejection(verifier(), BODY, stale) == "stale_timestamp"


def test_rotation_accepts_every_configured_secret_and_nothing_else() -> None:
    rotating = verifier(secrets=[SECRET, OLD_SECRET])
    for secret in (SECRET, OLD_SECRET):
        headers = {"X-Ntrvsta-Signature": hex_hmac(secret, BODY)}
        assert rotating.verify(BODY, headers).key == "res_123"  # type: ignore[union-attr]
        stamped = {"X-Ntrvsta-Signature": timestamped(secret, BODY, NOW)}
        assert isinstance(rotating.verify(BODY, stamped), ResultCompletedEvent)
    other = {"X-Ntrvsta-Signature": hex_hmac("someone-else", BODY)}
    assert rejection(rotating, BODY, other) == "bad_signature"
    assert rejection(verifier(), BODY, {"X-Ntrvsta-Signature": hex_hmac(OLD_SECRET, BODY)}) == (
        "bad_signature"
    )


def sig(value: str) -> dict[str, str]:
    return {"X-Ntrvsta-Signature": value}


@pytest.mark.parametrize(
    ("body", "headers", "reason"),
    [
        (BODY, {}, "missing_signature"),
        (BODY, {"X-Ntrvsta-Signature": "   "}, "missing_signature"),
        (BODY, {"X-Other": hex_hmac(SECRET, BODY)}, "missing_signature"),
        (BODY, sig(hex_hmac("wrong-secret", BODY)), "bad_signature"),
        (BODY, sig(hex_hmac(SECRET, BODY + b" ")), "bad_signature"),
        (BODY, sig("sha256=" + hex_hmac(SECRET, b'{"resultId": "other"}')), "bad_signature"),
        (BODY, sig(timestamped(SECRET, b"other bytes", NOW)), "bad_signature"),
        (BODY, sig(hex_hmac(SECRET, BODY)[:-1]), "malformed_signature"),
        (BODY, sig("md5=" + hex_hmac(SECRET, BODY)), "malformed_signature"),
        (BODY, sig("garbage"), "malformed_signature"),
        (BODY, sig("t=abc,v1=" + "0" * 64), "malformed_signature"),
        (BODY, sig(f"t={NOW}"), "malformed_signature"),
        (BODY, sig(f"t={NOW},t={NOW},v1=" + "0" * 64), "malformed_signature"),
        (BODY, sig(f"t={NOW},v1=zz"), "malformed_signature"),
        (BODY, sig(f"t={NOW},junk"), "malformed_signature"),
        (BODY, sig("sha256=" + "a" * 5000), "malformed_signature"),
        (BODY, sig("\u0661" * 64), "malformed_signature"),
        (
            BODY,
            {"X-Ntrvsta-Signature": hex_hmac(SECRET, BODY), "X-Ntrvsta-Timestamp": "soon"},
            "malformed_timestamp",
        ),
        (b"not json", sig(hex_hmac(SECRET, b"not json")), "malformed_payload"),
        (b"\xff\xfe\x00", sig(hex_hmac(SECRET, b"\xff\xfe\x00")), "malformed_payload"),
        (b"[1, 2]", sig(hex_hmac(SECRET, b"[1, 2]")), "malformed_payload"),
        (b'{"event": "x"}', sig(hex_hmac(SECRET, b'{"event": "x"}')), "malformed_payload"),
        (b'{"resultId": 5}', sig(hex_hmac(SECRET, b'{"resultId": 5}')), "malformed_payload"),
        (b'{"resultId": ""}', sig(hex_hmac(SECRET, b'{"resultId": ""}')), "malformed_payload"),
        (
            b'{"resultId": "r", "candidate": "x"}',
            sig(hex_hmac(SECRET, b'{"resultId": "r", "candidate": "x"}')),
            "malformed_payload",
        ),
        (b"[" * 100_000, sig(hex_hmac(SECRET, b"[" * 100_000)), "malformed_payload"),
    ],
)
def test_bad_deliveries_are_rejected_with_a_reason(
    body: bytes, headers: dict[str, str], reason: str
) -> None:
    assert rejection(verifier(), body, headers) == reason


def test_several_signature_headers_are_refused() -> None:
    headers = CIMultiDict(
        [("X-Ntrvsta-Signature", hex_hmac(SECRET, BODY)), ("x-ntrvsta-signature", "0" * 64)]
    )
    with pytest.raises(WebhookVerificationError) as info:
        verifier().verify(BODY, headers)
    assert info.value.reason == "malformed_signature"


def test_oversized_body_is_refused_before_anything_else() -> None:
    small = verifier(max_body_size=100)
    big = b"{" + b" " * 200 + b"}"
    assert rejection(small, big, {}) == "payload_too_large"
    assert rejection(small, big, sig(hex_hmac(SECRET, big))) == "payload_too_large"
    default = verifier()
    huge = b" " * (1024 * 1024 + 1)
    assert rejection(default, huge, sig(hex_hmac(SECRET, huge))) == "payload_too_large"


def test_signature_is_checked_before_the_body_is_parsed() -> None:
    assert rejection(verifier(), b"not json", sig(hex_hmac("wrong", b"not json"))) == (
        "bad_signature"
    )


def test_no_secret_or_received_signature_leaks_into_errors_or_repr() -> None:
    v = verifier(secrets=[SECRET, OLD_SECRET])
    received = hex_hmac("attacker", BODY)
    with pytest.raises(WebhookVerificationError) as info:
        v.verify(BODY, sig(received))
    text = f"{info.value!s} {info.value!r} {info.value.message}"
    for secret in (SECRET, OLD_SECRET, received):
        assert secret not in text
        assert secret not in repr(v)
    assert "2 hidden" in repr(v)


def test_enveloped_body_is_unwrapped() -> None:
    inner = {"resultId": "res_env", "candidate": {"email": "e@example.com"}}
    body = json.dumps({"type": "result.completed", "id": "evt_9", "data": inner}).encode()
    event = verifier().verify(body, sig(hex_hmac(SECRET, body)))
    assert isinstance(event, ResultCompletedEvent)
    assert event.result_id == "res_env"
    assert event.event_id == "evt_9"
    assert event.event == "result.completed"
    assert event.candidate is not None
    assert event.candidate.email == "e@example.com"


@pytest.mark.parametrize(
    ("envelope", "null_key"),
    [
        ({"data": {"resultId": "r"}}, "resultId"),
        ({"type": "result.completed", "data": {"resultId": "r"}}, "data.event"),
        ({"type": "result.completed", "data": {"resultId": "r"}}, "data.type"),
        ({"id": "evt_1", "data": {"resultId": "r"}}, "data.eventId"),
        ({"occurredAt": "2026-05-09T07:35:25Z", "data": {"resultId": "r"}}, "data.occurredAt"),
        ({"type": "result.completed", "data": {"resultId": "r"}}, "event"),
    ],
)
def test_a_null_in_an_envelope_reads_as_an_absent_key(
    envelope: dict[str, Any], null_key: str
) -> None:
    """Inside ``data`` or around it, a null is no value: the envelope still fills the gap."""
    with_null = json.loads(json.dumps(envelope))
    target = with_null["data"] if null_key.startswith("data.") else with_null
    target[null_key.removeprefix("data.")] = None

    def verified(payload: dict[str, Any]) -> ResultCompletedEvent:
        body = json.dumps(payload).encode()
        event = verifier().verify(body, sig(hex_hmac(SECRET, body)))
        assert isinstance(event, ResultCompletedEvent)
        return event

    expected = verified(envelope)
    event = verified(with_null)
    assert (event.result_id, event.event, event.event_id, event.occurred_at) == (
        expected.result_id,
        expected.event,
        expected.event_id,
        expected.occurred_at,
    )


def test_top_level_result_id_wins_over_data() -> None:
    body = json.dumps({"resultId": "top", "data": {"resultId": "inner"}}).encode()
    event = verifier().verify(body, sig(hex_hmac(SECRET, body)))
    assert isinstance(event, ResultCompletedEvent)
    assert event.result_id == "top"
    assert event.extra == {"data": {"resultId": "inner"}}


def test_idempotency_key_fills_a_missing_event_id_only() -> None:
    body = b'{"resultId": "r1"}'
    headers = {"X-Ntrvsta-Signature": hex_hmac(SECRET, body), "X-Ntrvsta-Idempotency-Key": "k1"}
    event = verifier().verify(body, headers)
    assert isinstance(event, ResultCompletedEvent)
    assert event.event_id == "k1"
    headers["X-Ntrvsta-Signature"] = hex_hmac(SECRET, BODY)
    event = verifier().verify(BODY, headers)
    assert isinstance(event, ResultCompletedEvent)
    assert event.event_id == "evt_1"


def test_unknown_event_header_returns_an_unknown_event() -> None:
    body = b'{"something": "new"}'
    headers = {"X-Ntrvsta-Signature": hex_hmac(SECRET, body), "X-Ntrvsta-Event": "result.deleted"}
    event = verifier().verify(body, headers)
    assert event == UnknownEvent(
        event="result.deleted", payload={"something": "new"}, idempotency_key=None, body=body
    )

    headers["X-Ntrvsta-Event"] = "Result.Completed"
    assert rejection(verifier(), body, headers) == "malformed_payload"


def test_unknown_event_must_still_be_signed() -> None:
    body = b"{}"
    headers = {"X-Ntrvsta-Signature": hex_hmac("wrong", body), "X-Ntrvsta-Event": "other"}
    assert rejection(verifier(), body, headers) == "bad_signature"


def test_pinned_hex_scheme_refuses_timestamped_signatures() -> None:
    hex_only = verifier(scheme="hex")
    assert hex_only.verify(BODY, sig(hex_hmac(SECRET, BODY))).key == "res_123"  # type: ignore[union-attr]
    stamped = sig(timestamped(SECRET, BODY, NOW))
    assert rejection(hex_only, BODY, stamped) == "malformed_signature"


def test_pinned_timestamped_scheme_needs_a_timestamp() -> None:
    strict = verifier(scheme="timestamped")
    assert rejection(strict, BODY, sig(hex_hmac(SECRET, BODY))) == "missing_timestamp"
    headers = {
        "X-Ntrvsta-Timestamp": str(NOW),
        "X-Ntrvsta-Signature": hex_hmac(SECRET, f"{NOW}.".encode() + BODY),
    }
    assert isinstance(strict.verify(BODY, headers), ResultCompletedEvent)
    assert isinstance(
        strict.verify(BODY, sig(timestamped(SECRET, BODY, NOW))), ResultCompletedEvent
    )
    headers["X-Ntrvsta-Signature"] = hex_hmac(SECRET, BODY)
    assert rejection(strict, BODY, headers) == "bad_signature"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secrets": []},
        {"secrets": ""},
        {"secrets": [SECRET, ""]},
        {"scheme": "base64"},
        {"tolerance": 0},
        {"max_body_size": 0},
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        verifier(**kwargs)


def test_body_must_be_bytes() -> None:
    with pytest.raises(TypeError, match="bytes"):
        verifier().verify(BODY.decode(), sig(hex_hmac(SECRET, BODY)))  # type: ignore[arg-type]


def test_sign_matches_an_independent_hmac() -> None:
    assert sign(BODY, SECRET) == {"X-Ntrvsta-Signature": f"sha256={hex_hmac(SECRET, BODY)}"}
    expected = hex_hmac(SECRET, f"{NOW}.".encode() + BODY)
    assert sign(BODY, SECRET, timestamp=NOW) == {"X-Ntrvsta-Signature": f"t={NOW},v1={expected}"}


def test_signed_headers_verify_in_every_form() -> None:
    for headers in (sign(BODY, SECRET), sign(BODY, SECRET, timestamp=NOW)):
        assert verifier().verify(BODY, headers).key == "res_123"  # type: ignore[union-attr]
    assert rejection(verifier(), BODY + b"\n", sign(BODY, SECRET)) == "bad_signature"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f"t={NOW},v1={'0' * 64}", "bad_signature"),
        (f"t={NOW + 1},v1={STAMPED_DIGEST}", "bad_signature"),
        (f"t={NOW},v1={'g' * 64}", "malformed_signature"),
        (f"t={NOW},v1={STAMPED_DIGEST[:-1]}\u0661", "malformed_signature"),
        (f"t=1{NOW:012d},v1={STAMPED_DIGEST}", "malformed_signature"),
        (f"t=\u0661{NOW},v1={STAMPED_DIGEST}", "malformed_signature"),
        (f"t=,v1={STAMPED_DIGEST}", "malformed_signature"),
    ],
)
def test_timestamped_near_misses_are_refused_with_a_reason(header: str, reason: str) -> None:
    assert rejection(verifier(), BODY, {"X-Ntrvsta-Signature": header}) == reason


@settings(max_examples=200)
@given(
    secret=st.text(min_size=1, max_size=150),
    note=st.text(max_size=300),
    stamp=st.one_of(st.none(), st.integers(min_value=0, max_value=10**12 - 1)),
    flip=st.integers(min_value=0, max_value=63),
)
def test_signatures_made_with_hmac_verify_and_any_other_digest_does_not(
    secret: str, note: str, stamp: int | None, flip: int
) -> None:
    body = json.dumps({"resultId": "res_1", "note": note}).encode()
    scheme: SignatureScheme = "hex" if stamp is None else "timestamped"
    check = WebhookVerifier(secret, tolerance=None, scheme=scheme)
    header = sign(body, secret, timestamp=stamp)["X-Ntrvsta-Signature"]
    assert check.verify(body, {"X-Ntrvsta-Signature": header}).key == "res_1"  # type: ignore[union-attr]
    changed = "0" if header[-64 + flip] != "0" else "1"
    forged = header[: len(header) - 64 + flip] + changed + header[len(header) - 63 + flip :]
    with pytest.raises(WebhookVerificationError) as info:
        check.verify(body, {"X-Ntrvsta-Signature": forged})
    assert info.value.reason == "bad_signature"


HEADER_NAMES = st.sampled_from(
    [
        "X-Ntrvsta-Signature",
        "x-ntrvsta-signature",
        "X-Ntrvsta-Timestamp",
        "X-Ntrvsta-Event",
        "X-Ntrvsta-Idempotency-Key",
        "Content-Type",
    ]
)
SIGNATURE_LIKE = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"(sha256=)?[0-9a-fA-F]{60,68}", fullmatch=True),
    st.from_regex(r"t=-?[0-9 ]{0,14},(v[0-9]=[0-9a-f]{0,70},?){0,3}", fullmatch=True),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "resultId",
                    "candidate",
                    "interview",
                    "aiAnalysis",
                    "scoring",
                    "data",
                    "email",
                    "x",
                ]
            ),
            children,
            max_size=5,
        )
    ),
    max_leaves=20,
)
BODIES = st.one_of(
    st.binary(max_size=300),
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=BODIES,
    headers=st.dictionaries(HEADER_NAMES, SIGNATURE_LIKE, max_size=5),
    sign_it=st.sampled_from([None, "hex", "stamped", "header"]),
)
def test_random_input_raises_nothing_but_verification_errors(
    body: bytes, headers: dict[str, str], sign_it: str | None
) -> None:
    if sign_it == "hex":
        headers["X-Ntrvsta-Signature"] = hex_hmac(SECRET, body)
    elif sign_it == "stamped":
        headers["X-Ntrvsta-Signature"] = timestamped(SECRET, body, NOW)
    elif sign_it == "header":
        headers["X-Ntrvsta-Timestamp"] = str(NOW)
        headers["X-Ntrvsta-Signature"] = hex_hmac(SECRET, f"{NOW}.".encode() + body)
    outcome: object
    try:
        outcome = verifier(max_body_size=200).verify(body, headers)
    except WebhookVerificationError as exc:
        outcome = exc
    if isinstance(outcome, WebhookVerificationError):
        assert outcome.reason in REASONS
        assert SECRET not in str(outcome)
    else:
        assert sign_it is not None
        assert isinstance(outcome, ResultCompletedEvent | UnknownEvent)


def test_verifying_alone_does_not_import_aiohttp() -> None:
    code = (
        "import sys; from ntrvsta_async.webhooks import WebhookVerifier, sign;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'yarl'}));"
        "from ntrvsta_async.webhooks import setup_webhooks; print(callable(setup_webhooks))"
    )
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["[]", "True"]

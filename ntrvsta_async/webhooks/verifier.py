"""Checking a delivery's signature and typing its body as an event (docs/contract.md#op-12)."""

from __future__ import annotations

import hmac
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, Literal, get_args

import attrs

from ntrvsta_async import _json
from ntrvsta_async._checks import is_count, is_positive_number
from ntrvsta_async._converter import structure
from ntrvsta_async._redact import register_secret
from ntrvsta_async.assumptions import (
    ENV_WEBHOOK_SECRET,
    RESULT_COMPLETED_EVENT,
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WEBHOOK_TOLERANCE,
)
from ntrvsta_async.errors import ConfigurationError, InvalidArgumentError, ResponseValidationError
from ntrvsta_async.errors import WebhookVerificationError as _Error
from ntrvsta_async.models import ResultCompletedEvent
from ntrvsta_async.webhooks.signing import (
    UNIX_SECONDS,
    SigningKey,
    check_secrets,
    parse_secrets,
    parse_signature_header,
    signed_message,
)

__all__ = [
    "DEFAULT_MAX_BODY_SIZE",
    "SignatureScheme",
    "UnknownEvent",
    "WebhookEvent",
    "WebhookVerifier",
]

SignatureScheme = Literal["auto", "hex", "timestamped"]
"""``hex``: HMAC of the body, bare or ``sha256=``; ``timestamped``: HMAC of ``<t>.<body>``
with ``t`` from ``t=...,v1=...`` or the timestamp header; ``auto``: whichever was sent."""

#: Bodies larger than this are refused before anything is parsed.
DEFAULT_MAX_BODY_SIZE: Final = 1024 * 1024

_HEX_DIGEST: Final = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE: Final = WEBHOOK_SIGNATURE_HEADER.lower()
_IDEMPOTENCY: Final = WEBHOOK_IDEMPOTENCY_HEADER.lower()
_EVENT: Final = WEBHOOK_EVENT_HEADER.lower()
_TIMESTAMP: Final = WEBHOOK_TIMESTAMP_HEADER.lower()
_CHECKED_HEADERS: Final = frozenset({_SIGNATURE, _IDEMPOTENCY, _EVENT, _TIMESTAMP})


@attrs.frozen(slots=True)
class UnknownEvent:
    """A verified delivery of an event type this SDK does not know (OP-12): kept, not refused.

    ``payload`` is the decoded JSON body (None if it is not JSON); ``body`` the raw bytes.
    """

    event: str
    payload: Any
    idempotency_key: str | None = None
    body: bytes = attrs.field(default=b"", repr=False)


WebhookEvent = ResultCompletedEvent | UnknownEvent
"""What ``WebhookVerifier.verify`` returns for a genuine delivery."""


_Signed = tuple[bytes, int | None]
"""A message the sender may have signed, and the Unix time it carries (None: no timestamp)."""


class WebhookVerifier:
    """Verifies ``result.completed`` deliveries against one or more signing secrets.

    Several secrets let a rotation go by without refusing deliveries signed with the old one.
    ``tolerance`` (seconds) bounds the age of a signed timestamp; None turns the check off.
    """

    __slots__ = (
        "_clock",
        "_keys",
        "_scheme",
        "_secret_handles",
        "_secrets",
        "max_body_size",
        "tolerance",
    )

    def __init__(
        self,
        secrets: str | Iterable[str],
        *,
        tolerance: float | None = WEBHOOK_TOLERANCE,
        scheme: SignatureScheme = "auto",
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        candidates = check_secrets(secrets, "WebhookVerifier")
        keys = tuple(SigningKey(s) for s in candidates)
        if not callable(clock):
            raise ConfigurationError("clock must be callable")
        if scheme not in get_args(SignatureScheme):
            raise ConfigurationError(
                f"unknown signature scheme {scheme!r}; use one of {get_args(SignatureScheme)}"
            )
        if tolerance is not None and not is_positive_number(tolerance):
            raise ConfigurationError("tolerance must be a positive number of seconds, or None")
        if not is_count(max_body_size):
            raise ConfigurationError("max_body_size must be a positive integer (bytes)")
        self._secrets = candidates
        self._secret_handles = tuple(register_secret(s) for s in candidates)
        self._keys = keys
        self._scheme: SignatureScheme = scheme
        self.tolerance = tolerance
        self.max_body_size = max_body_size
        self._clock = clock

    @classmethod
    def from_env(
        cls,
        name: str = ENV_WEBHOOK_SECRET,
        *,
        tolerance: float | None = WEBHOOK_TOLERANCE,
        scheme: SignatureScheme = "auto",
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    ) -> WebhookVerifier:
        """A verifier for the secrets in environment variable ``name``: one, or several
        separated by commas and/or whitespace (a rotation); none is a ``ConfigurationError``."""
        secrets = parse_secrets(os.environ.get(name, ""))
        if not secrets:
            raise ConfigurationError(
                f"no webhook secret: set {name} (several separated by commas while rotating)"
            )
        return cls(secrets, tolerance=tolerance, scheme=scheme, max_body_size=max_body_size)

    @property
    def scheme(self) -> SignatureScheme:
        """The signature scheme this verifier accepts."""
        return self._scheme

    def __repr__(self) -> str:
        return (
            f"WebhookVerifier(secrets=<{len(self._secrets)} hidden>, scheme={self._scheme!r}, "
            f"tolerance={self.tolerance!r}, max_body_size={self.max_body_size})"
        )

    def verify(self, body: bytes, headers: Mapping[str, str]) -> WebhookEvent:
        """Check ``body`` (the raw request bytes) against ``headers`` and return the event.

        Raises ``WebhookVerificationError`` whose ``reason`` is one of ``payload_too_large``,
        ``missing_signature``, ``malformed_signature``, ``malformed_timestamp``,
        ``missing_timestamp``, ``bad_signature``, ``stale_timestamp``, ``malformed_payload``.
        """
        if not isinstance(body, bytes | bytearray | memoryview):
            raise InvalidArgumentError(
                "verify() needs the raw request body as bytes, before any decoding"
            )
        raw = bytes(body)  # the same object when it is already bytes
        if len(raw) > self.max_body_size:
            raise _Error(
                f"body of {len(raw)} bytes exceeds the {self.max_body_size} byte limit",
                reason="payload_too_large",
            )
        found = _normalize_headers(headers)
        self._check_signature(raw, found)
        keys = found.get(_IDEMPOTENCY)
        idempotency_key = keys[0] if keys else None
        names = found.get(_EVENT)
        if names:
            event_name = names[0].strip()
            if event_name and event_name.lower() != RESULT_COMPLETED_EVENT:
                return UnknownEvent(
                    event=event_name,
                    payload=_decode_json_or_none(raw),
                    idempotency_key=idempotency_key,
                    body=raw,
                )
        return _parse_event(raw, idempotency_key)

    def _check_signature(self, body: bytes, headers: Mapping[str, list[str]]) -> None:
        """Raise unless the signature header matches ``body`` under some secret, with a
        signed timestamp (if any) within the tolerance."""
        values = headers.get(_SIGNATURE, [])
        if not values or not values[0].strip():
            raise _Error(f"no {WEBHOOK_SIGNATURE_HEADER} header", reason="missing_signature")
        if len(values) > 1:
            raise _Error(
                f"{len(values)} {WEBHOOK_SIGNATURE_HEADER} headers; expected one",
                reason="malformed_signature",
            )
        header_timestamp = _header_timestamp(headers)
        signature = parse_signature_header(values[0])
        digests = tuple(_hex_digest(item) for item in signature.signatures)
        timestamp = self._signed_at(body, digests, signature.timestamp, header_timestamp)
        if timestamp is not None and self.tolerance is not None:
            age = self._clock() - timestamp
            if abs(age) > self.tolerance:
                raise _Error(
                    f"signed timestamp is {age:.0f} s from now, outside the {self.tolerance} s"
                    " tolerance",
                    reason="stale_timestamp",
                )

    def _signed_at(
        self,
        body: bytes,
        digests: tuple[str, ...],
        signed_timestamp: str | None,
        header_timestamp: str | None,
    ) -> int | None:
        """The time the matching message was signed at (None: it carries no timestamp)."""
        for message, timestamp in self._signed_messages(body, signed_timestamp, header_timestamp):
            if self._signs(message, digests):
                return timestamp
        raise _Error(
            "signature does not match the body for any configured secret", reason="bad_signature"
        )

    def _signs(self, message: bytes, digests: tuple[str, ...]) -> bool:
        """Whether the HMAC of ``message`` under any secret equals one of ``digests``."""
        for key in self._keys:
            expected = key.hexdigest(message)
            for digest in digests:
                if hmac.compare_digest(expected, digest):
                    return True
        return False

    def _signed_messages(
        self, body: bytes, signed_timestamp: str | None, header_timestamp: str | None
    ) -> tuple[_Signed, ...]:
        """The messages the sender may have signed, each with the timestamp it carries."""
        if signed_timestamp is not None:
            if self._scheme == "hex":
                raise _Error(
                    "a t=...,v1=... signature was sent but the verifier is pinned to 'hex'",
                    reason="malformed_signature",
                )
            return (_timestamped(signed_timestamp, body),)
        if self._scheme == "hex":
            return ((body, None),)
        if self._scheme == "timestamped":
            if header_timestamp is None:
                raise _Error(
                    f"no signed timestamp (t=... or {WEBHOOK_TIMESTAMP_HEADER})",
                    reason="missing_timestamp",
                )
            return (_timestamped(header_timestamp, body),)
        if header_timestamp is None:
            return ((body, None),)
        return ((body, None), _timestamped(header_timestamp, body))


def _timestamped(timestamp: str, body: bytes) -> _Signed:
    return signed_message(body, timestamp), int(timestamp)


def _normalize_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """The values of the headers a delivery is checked with, by lower-cased name.

    Repeated headers (a multidict) keep every value, so a duplicate can be refused.
    """
    found: dict[str, list[str]] = {}
    try:
        items = iter(headers.items())
    except (AttributeError, TypeError):
        raise InvalidArgumentError("headers must be a mapping of header names to values") from None
    for name, value in items:
        if not isinstance(name, str):
            continue
        lowered = name.lower()
        if lowered not in _CHECKED_HEADERS:
            continue
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        if isinstance(value, str):
            found.setdefault(lowered, []).append(value)
    return found


def _header_timestamp(headers: Mapping[str, list[str]]) -> str | None:
    values = headers.get(_TIMESTAMP)
    if not values:
        return None
    value = values[0].strip()
    if len(values) > 1 or not UNIX_SECONDS.fullmatch(value):
        raise _Error(
            f"{WEBHOOK_TIMESTAMP_HEADER} is not a single Unix time in seconds",
            reason="malformed_timestamp",
        )
    return value


def _hex_digest(text: str) -> str:
    if not _HEX_DIGEST.fullmatch(text):
        raise _Error(
            "signature is not a 64-character hex HMAC-SHA256 digest",
            reason="malformed_signature",
        )
    return text.lower()


def _decode_json_or_none(body: bytes) -> Any:
    try:
        return _json.loads(body)
    except (ValueError, RecursionError):
        return None


def _has_result_id(data: Any) -> bool:
    return isinstance(data, dict) and data.get("resultId") is not None


def _parse_event(body: bytes, idempotency_key: str | None) -> ResultCompletedEvent:
    try:
        data = _json.loads(body)
    except (ValueError, RecursionError):
        raise _Error("body is not valid JSON", reason="malformed_payload") from None
    if not isinstance(data, dict):
        raise _Error("body is not a JSON object", reason="malformed_payload")
    if data.get("resultId") is None and _has_result_id(data.get("data")):
        data = _unwrap_envelope(data)
    result_id = data.get("resultId")
    if not isinstance(result_id, str) or not result_id.strip():
        raise _Error("body has no resultId string", reason="malformed_payload")
    try:
        event = structure(data, ResultCompletedEvent)
    except ResponseValidationError as exc:
        raise _Error(
            f"body is not a result.completed payload: {exc.message}", reason="malformed_payload"
        ) from None
    if event.event_id is None and idempotency_key:
        event = attrs.evolve(event, event_id=idempotency_key)
    return event


def _unwrap_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    """``{"type", "id", "data": {...}}`` -> the ``data`` object, envelope fields filling gaps.

    A gap is a key ``data`` lacks or holds null; a null in the envelope fills none."""
    data = dict(envelope["data"])
    has_event = data.get("event") is not None or data.get("type") is not None
    for key, value in envelope.items():
        if key == "data" or value is None:
            continue
        if key == "id":
            key = "eventId"
        elif key in ("type", "event"):
            if has_event:
                continue
            key, has_event = "event", True
        if data.get(key) is None:
            data[key] = value
    return data

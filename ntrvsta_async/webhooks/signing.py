"""The webhook signature format (docs/contract.md#op-13): keys, signed messages, headers, ``sign``.

Each rule of the format lives here once; ``sign``, ``WebhookVerifier`` and the doctor's
capture all call these: ``SigningKey`` computes the HMAC-SHA256 of one secret,
``signed_message`` builds what it covers, ``parse_signature_header`` reads the header.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Final, NamedTuple

from ntrvsta_async.assumptions import WEBHOOK_SIGNATURE_HEADER
from ntrvsta_async.errors import ConfigurationError, InvalidArgumentError, WebhookVerificationError

__all__ = [
    "BARE",
    "PREFIXED",
    "TIMESTAMPED",
    "UNIX_SECONDS",
    "SignatureHeader",
    "SigningKey",
    "check_secrets",
    "parse_secrets",
    "parse_signature_header",
    "sign",
    "signed_message",
]

_SEPARATORS: Final = re.compile(r"[\s,]+")
#: A signed timestamp as the format carries it: Unix seconds, up to 12 digits.
UNIX_SECONDS: Final = re.compile(r"[0-9]{1,12}")
_MAX_HEADER_LENGTH: Final = 4096

#: The three forms of the signature header, as ``SignatureHeader.form`` names them.
BARE: Final = "<sig>"
PREFIXED: Final = "sha256=<sig>"
TIMESTAMPED: Final = "t=<unix>,v1=<sig>"


class SigningKey:
    """One signing secret, keyed once: the HMAC-SHA256 of any message under it.

    The keyed ``hmac`` state is copied per message, so a verifier that checks many
    deliveries against the same secret does not key it again each time.
    """

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "SigningKey(<secret hidden>)"

    def digest(self, message: bytes) -> bytes:
        """The raw 32-byte HMAC of ``message``."""
        mac = self._keyed.copy()
        mac.update(message)
        return mac.digest()

    def hexdigest(self, message: bytes) -> str:
        """The HMAC of ``message`` as 64 lower-case hex characters."""
        mac = self._keyed.copy()
        mac.update(message)
        return mac.hexdigest()


def signed_message(body: bytes, timestamp: str | int | None = None) -> bytes:
    """What a signature covers: the raw ``body``, or ``b"<timestamp>." + body``."""
    if timestamp is None:
        return body
    return f"{timestamp}.".encode() + body


class SignatureHeader(NamedTuple):
    """A signature header taken apart: its form (``BARE``, ``PREFIXED``, ``TIMESTAMPED``),
    the signatures it carries as sent (one, or each ``v1``) and its ``t`` (None without)."""

    form: str
    signatures: tuple[str, ...]
    timestamp: str | None


def _malformed(message: str) -> WebhookVerificationError:
    return WebhookVerificationError(message, reason="malformed_signature")


def parse_signature_header(value: str) -> SignatureHeader:
    """Take a signature header apart: bare ``<sig>``, ``sha256=<sig>`` or
    ``t=<unix>,v1=<sig>[,v1=<sig>...]`` (other ``key=value`` items are ignored).

    The signatures are returned as sent; whether they are hex digests is the reader's
    question. Any other shape raises ``WebhookVerificationError`` (``malformed_signature``).
    """
    value = value.strip()
    if len(value) > _MAX_HEADER_LENGTH:
        raise _malformed("signature header is too long")
    if "," not in value:
        scheme, sep, signature = value.partition("=")
        if sep and scheme.strip().lower() == "sha256":
            return SignatureHeader(PREFIXED, (signature.strip(),), None)
        if "=" in value.rstrip("="):  # a trailing '=' is base64 padding, not a scheme
            raise _malformed("signature header is neither hex, sha256=<hex> nor t=<unix>,v1=<hex>")
        return SignatureHeader(BARE, (value,), None)
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.partition("=")
        key, item = key.strip().lower(), item.strip()
        if not sep:
            raise _malformed("signature header has an item without '='")
        if key == "t":
            timestamps.append(item)
        elif key == "v1":
            signatures.append(item)
    if len(timestamps) != 1 or not UNIX_SECONDS.fullmatch(timestamps[0]) or not signatures:
        raise _malformed("signature header needs one t=<unix seconds> and at least one v1=<hex>")
    return SignatureHeader(TIMESTAMPED, tuple(signatures), timestamps[0])


def sign(body: bytes, secret: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The signature header a delivery of ``body`` carries, for senders and tests.

    Without ``timestamp``: ``sha256=<hex>`` over the body. With one: ``t=<ts>,v1=<hex>``
    over ``b"<ts>." + body``; the timestamp travels inside the signature header only.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise InvalidArgumentError(f"body must be bytes, not {type(body).__name__}")
    if not isinstance(secret, str) or not secret:
        raise InvalidArgumentError("secret must be a non-empty string")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, int)):
        raise InvalidArgumentError("timestamp must be an integer (Unix seconds) or None")
    try:
        key = SigningKey(secret)
    except UnicodeEncodeError:
        raise InvalidArgumentError("secret must be encodable as UTF-8") from None
    stamp = None if timestamp is None else int(timestamp)
    digest = key.hexdigest(signed_message(bytes(body), stamp))
    if stamp is None:
        return {WEBHOOK_SIGNATURE_HEADER: f"sha256={digest}"}
    return {WEBHOOK_SIGNATURE_HEADER: f"t={stamp},v1={digest}"}


def check_secrets(secrets: str | Iterable[str], owner: str) -> tuple[str, ...]:
    """``secrets`` (one, or several during a rotation) as a tuple: at least one, each a
    non-empty string encodable as UTF-8; anything else is a ``ConfigurationError``."""
    needs = f"{owner} needs at least one non-empty secret string"
    try:
        candidates = (secrets,) if isinstance(secrets, str) else tuple(secrets)
    except TypeError:
        raise ConfigurationError(needs) from None
    if not candidates or not all(isinstance(s, str) and s for s in candidates):
        raise ConfigurationError(needs)
    try:
        for secret in candidates:
            secret.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError("a webhook secret must be encodable as UTF-8") from None
    return candidates


def parse_secrets(text: str) -> tuple[str, ...]:
    """The signing secrets in ``text``: one, or several separated by commas and/or whitespace.

    The one format of ``NTRVSTA_WEBHOOK_SECRET`` (and of the CLI's ``--secret``), so that
    during a rotation every reader accepts both secrets.
    """
    return tuple(secret for secret in _SEPARATORS.split(text) if secret)

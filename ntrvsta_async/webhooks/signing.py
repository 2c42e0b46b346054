"""Producing webhook signatures the way the platform sends them (docs/contract.md#op-13)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Final

from ntrvsta_async.assumptions import WEBHOOK_SIGNATURE_HEADER
from ntrvsta_async.errors import InvalidArgumentError

__all__ = ["parse_secrets", "sign"]

_SEPARATORS: Final = re.compile(r"[\s,]+")


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


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
        secret.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError("secret must be encodable as UTF-8") from None
    body = bytes(body)
    if timestamp is None:
        return {WEBHOOK_SIGNATURE_HEADER: f"sha256={_hex_hmac(secret, body)}"}
    ts = int(timestamp)
    digest = _hex_hmac(secret, f"{ts}.".encode("ascii") + body)
    return {WEBHOOK_SIGNATURE_HEADER: f"t={ts},v1={digest}"}


def parse_secrets(text: str) -> tuple[str, ...]:
    """The signing secrets in ``text``: one, or several separated by commas and/or whitespace.

    The one format of ``NTRVSTA_WEBHOOK_SECRET`` (and of the CLI's ``--secret``), so that
    during a rotation every reader accepts both secrets.
    """
    return tuple(secret for secret in _SEPARATORS.split(text) if secret)

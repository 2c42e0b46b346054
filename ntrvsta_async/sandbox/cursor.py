"""Opaque, tamper-evident page cursors for ``GET /v1/interview-results``.

A cursor holds the organization and the position (the completion sequence number) of the
last result served, authenticated with a key that lives only as long as the server. A
position never moves when results are appended, so pages never skip or repeat a result;
a cursor from another server, another organization or plain garbage is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from typing import Final

__all__ = ["CursorCodec", "InvalidCursor"]

_MAX_LENGTH: Final = 512
_MAC_BYTES: Final = 16


class InvalidCursor(ValueError):
    """The cursor was not issued by this server for this organization."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Encodes and checks cursors with a per-server random key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key if key is not None else secrets.token_bytes(32)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, organization_id: str, position: int) -> str:
        """A cursor meaning "after ``position``" for ``organization_id``."""
        payload = json.dumps({"o": organization_id, "p": position}, separators=(",", ":"))
        raw = payload.encode("utf-8")
        return f"{_b64encode(raw)}.{_b64encode(self._mac(raw))}"

    def decode(self, organization_id: str, cursor: str) -> int:
        """The position a cursor stands for; raises ``InvalidCursor`` when it is not ours."""
        if len(cursor) > _MAX_LENGTH or cursor.count(".") != 1:
            raise InvalidCursor("malformed cursor")
        body, mac = cursor.split(".")
        try:
            raw, tag = _b64decode(body), _b64decode(mac)
        except (binascii.Error, ValueError):
            raise InvalidCursor("malformed cursor") from None
        if not hmac.compare_digest(tag, self._mac(raw)):
            raise InvalidCursor("unknown cursor")
        data = json.loads(raw)
        position = data.get("p")
        if data.get("o") != organization_id or not isinstance(position, int):
            raise InvalidCursor("cursor belongs to another organization")
        return position

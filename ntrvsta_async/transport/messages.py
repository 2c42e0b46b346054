"""What the transport sends and gets back: a request, one attempt's reply, a decoded response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
from yarl import URL

__all__ = ["Reply", "Request", "Response"]


@attrs.frozen
class Request:
    """One API request, ready to send: built by ``Transport.build_request``.

    ``path`` is the API path as logs name it; ``url`` the absolute URL it goes to. ``safe``
    says whether a repeat is harmless, so the request may be retried after it was sent.
    """

    method: str
    path: str
    url: URL
    headers: Mapping[str, str]
    body: bytes | None = None
    params: Mapping[str, str] | None = None
    safe: bool = False


@attrs.frozen
class Reply:
    """What one attempt got back, unjudged: any status, the headers and the raw body.

    ``elapsed`` is the seconds from sending to the last byte read (pacing waits left out).
    """

    status: int
    reason: str | None
    headers: Mapping[str, str]
    body: bytes
    elapsed: float


@attrs.frozen
class Response:
    """A successful response: status, headers and the decoded JSON body (None when empty).

    What ``client.request(..., raw=True)`` returns, and what the resources read.
    """

    status: int
    headers: Mapping[str, str]
    data: Any

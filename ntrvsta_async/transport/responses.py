"""Turning HTTP responses and aiohttp failures into decoded JSON or SDK exceptions (OP-10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from .. import assumptions
from .._redact import scrub
from ..errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    ResponseValidationError,
    status_error_class,
)
from .retries import parse_retry_after

__all__ = ["connection_error", "refuse_non_json", "status_error"]

_MAX_MESSAGE = 500
_QUOTED = 200
"""Bytes of a non-JSON body decoded for a quote: enough to mask a secret cut by the quote."""


def refuse_non_json(raw: bytes, *, status: int) -> None:
    """For a success body that did not decode as JSON: an empty one passes (no data), any
    other raises ``ResponseValidationError`` quoting its start (secrets masked)."""
    if not raw.strip():
        return
    snippet = scrub(raw[:_QUOTED].decode("utf-8", "replace"))[:80]
    raise ResponseValidationError(
        f"HTTP {status} response is not JSON (starts with {snippet!r})", body=snippet
    ) from None


def _first_str(*candidates: Any) -> str | None:
    for value in candidates:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None]:
    """Message, code and request id of an error body (API.md OP-10), each None when absent."""
    if not isinstance(body, Mapping):
        return None, None, None
    error = body.get("error")
    nested = error if isinstance(error, Mapping) else {}
    message = _first_str(body.get("message"), nested.get("message"), error, body.get("detail"))
    code = _first_str(body.get("code"), nested.get("code"), body.get("errorCode"))
    request_id = _first_str(body.get("requestId"), nested.get("requestId"))
    return message, code, request_id


def status_error(
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    method: str,
    path: str,
) -> APIStatusError:
    """The exception for a non-success response to ``method path``, with message, code and
    request id (from a header, else the body's ``requestId``)."""
    try:
        body: Any = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        body = scrub(raw[: _MAX_MESSAGE + _QUOTED].decode("utf-8", "replace"))[:_MAX_MESSAGE]
    message, code, body_request_id = _error_fields(body)
    if message is None:
        message = body if isinstance(body, str) and body.strip() else (reason or "error")
    message = scrub(message)[:_MAX_MESSAGE]
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id = next(
        (lowered[name] for name in assumptions.REQUEST_ID_HEADERS if name in lowered),
        body_request_id,
    )
    cls = status_error_class(status)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "body": body,
        "request_id": request_id,
        "headers": headers,
        "method": method,
        "path": path,
    }
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = parse_retry_after(headers)
    return cls(message, **kwargs)


def connection_error(exc: BaseException, method: str, path: str) -> APIConnectionError:
    """Map an aiohttp or timeout failure on ``method path``; says whether the request may
    have been sent. The text (which may quote raw bytes from the server) is scrubbed."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError("timed out connecting", request_sent=False, method=method, path=path)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"could not connect: {exc.os_error.strerror or exc.os_error}",
            request_sent=False,
            method=method,
            path=path,
        )
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return APITimeoutError("timed out waiting for the response", method=method, path=path)
    if isinstance(exc, aiohttp.InvalidURL):
        return APIConnectionError("invalid URL", request_sent=False, method=method, path=path)
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"connection failed: {detail}", method=method, path=path)

"""Turning HTTP responses and aiohttp failures into decoded JSON or SDK exceptions (OP-10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import aiohttp

from ntrvsta_async import assumptions
from ntrvsta_async._redact import scrub
from ntrvsta_async.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    ResponseValidationError,
    status_error_class,
)
from ntrvsta_async.transport.retries import parse_retry_after

__all__ = ["ErrorFields", "connection_error", "error_fields", "refuse_non_json", "status_error"]

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


class ErrorFields(NamedTuple):
    """Where an error body (docs/contract.md#op-10) keeps its message, code and request id.

    Each is a (key path, text) pair such as ``("error.message", "...")``, or None when the
    body has none; numbers count as text, so ``{"code": 40101}`` has the code ``"40101"``.
    """

    message: tuple[str, str] | None
    code: tuple[str, str] | None
    request_id: tuple[str, str] | None


def _first_text(candidates: tuple[tuple[str, Any], ...]) -> tuple[str, str] | None:
    for path, value in candidates:
        if isinstance(value, str) and value:
            return path, value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return path, str(value)
    return None


def error_fields(body: Any) -> ErrorFields:
    """The message, code and request id of a decoded error body, tried in the SDK's order.

    The one reading of an error body: the transport's exceptions and the doctor's
    error-shape check both take it from here.
    """
    if not isinstance(body, Mapping):
        return ErrorFields(None, None, None)
    error = body.get("error")
    nested: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    return ErrorFields(
        message=_first_text(
            (
                ("message", body.get("message")),
                ("error.message", nested.get("message")),
                ("error", error),
                ("detail", body.get("detail")),
            )
        ),
        code=_first_text(
            (
                ("code", body.get("code")),
                ("error.code", nested.get("code")),
                ("errorCode", body.get("errorCode")),
            )
        ),
        request_id=_first_text(
            (("requestId", body.get("requestId")), ("error.requestId", nested.get("requestId")))
        ),
    )


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
    found = error_fields(body)
    if found.message is not None:
        message = found.message[1]
    else:
        message = body if isinstance(body, str) and body.strip() else (reason or "error")
    message = scrub(message)[:_MAX_MESSAGE]
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id = next(
        (lowered[name] for name in assumptions.REQUEST_ID_HEADERS if name in lowered),
        found.request_id[1] if found.request_id else None,
    )
    cls = status_error_class(status)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": found.code[1] if found.code else None,
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

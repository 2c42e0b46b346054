"""Turning HTTP responses and aiohttp failures into decoded JSON or SDK exceptions (OP-10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, NamedTuple

import aiohttp

from .. import assumptions
from ..errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    ResponseValidationError,
    status_error_class,
)
from .retries import parse_retry_after

__all__ = ["Response", "connection_error", "refuse_non_json", "status_error"]

_MAX_MESSAGE = 500


class Response(NamedTuple):
    """A successful response: status, headers and the decoded JSON body (None when empty).

    Internal to the transport and the resources; a named tuple, as one is built per request.
    """

    status: int
    headers: Mapping[str, str]
    data: Any


def refuse_non_json(raw: bytes, *, status: int, scrub: str = "") -> None:
    """For a success body that did not decode as JSON: an empty one passes (no data), any
    other raises ``ResponseValidationError`` quoting its start (``scrub`` redacted)."""
    if not raw.strip():
        return
    snippet = _scrubbed(raw[: 80 + len(scrub)].decode("utf-8", "replace"), scrub)[:80]
    raise ResponseValidationError(
        f"HTTP {status} response is not JSON (starts with {snippet!r})", body=snippet
    ) from None


def _scrubbed(text: str, secret: str) -> str:
    return text.replace(secret, "[redacted]") if secret else text


def _first_str(*candidates: Any) -> str | None:
    for value in candidates:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    return None


def _error_fields(body: Any) -> tuple[str | None, str | None]:
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    nested = error if isinstance(error, Mapping) else {}
    message = _first_str(body.get("message"), nested.get("message"), error, body.get("detail"))
    code = _first_str(body.get("code"), nested.get("code"), body.get("errorCode"))
    return message, code


def status_error(
    status: int,
    reason: str | None,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    scrub: str,
) -> APIStatusError:
    """The exception for a non-success response, with message, code and request id."""
    try:
        body: Any = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        body = _scrubbed(raw[: _MAX_MESSAGE + len(scrub)].decode("utf-8", "replace"), scrub)
    message, code = _error_fields(body)
    if message is None:
        message = body if isinstance(body, str) and body.strip() else (reason or "error")
    message = _scrubbed(message, scrub)[:_MAX_MESSAGE]
    code = _scrubbed(code, scrub) if code is not None else None
    lowered = {k.lower(): v for k, v in headers.items()}
    request_id = next(
        (lowered[name] for name in assumptions.REQUEST_ID_HEADERS if name in lowered), None
    )
    if request_id is not None:
        request_id = _scrubbed(request_id, scrub)
    cls = status_error_class(status)
    kwargs: dict[str, Any] = {
        "status": status,
        "code": code,
        "body": body,
        "request_id": request_id,
        "headers": headers,
    }
    if issubclass(cls, RateLimitError):
        kwargs["retry_after"] = parse_retry_after(headers)
    return cls(message, **kwargs)


def connection_error(exc: BaseException, method: str, url: str) -> APIConnectionError:
    """Map an aiohttp or timeout failure; says whether the request may have been sent."""
    where = f"{method} {url}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"timed out connecting for {where}", request_sent=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(
            f"could not connect for {where}: {exc.os_error.strerror or exc.os_error}",
            request_sent=False,
        )
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return APITimeoutError(f"timed out waiting for {where}")
    if isinstance(exc, aiohttp.InvalidURL):
        return APIConnectionError(f"invalid URL for {where}", request_sent=False)
    detail = str(exc) or type(exc).__name__
    return APIConnectionError(f"connection failed for {where}: {detail}")

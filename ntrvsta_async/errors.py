"""The SDK's exception hierarchy: every public call raises these and nothing else.

Every text an error holds is scrubbed of registered secrets when the error is built, so no
message, repr or traceback can carry an API key, even one a server echoed back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ntrvsta_async._redact import scrub

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "InboxError",
    "InvalidArgumentError",
    "NotFoundError",
    "NtrvstaError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "WebhookVerificationError",
]


class NtrvstaError(Exception):
    """Root of every exception the SDK raises."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*(scrub(arg) if isinstance(arg, str) else arg for arg in args))


class ConfigurationError(NtrvstaError):
    """The client was set up wrongly (missing key, unsafe base URL, bad option, closed client)."""


class InvalidArgumentError(NtrvstaError, TypeError, ValueError):
    """A call got an argument of the wrong type or value; nothing was sent."""


class APIError(NtrvstaError):
    """A call to the API failed; says where (``method``, ``path``) and after how many attempts.

    ``path`` is the URL path requested (a base URL's stage path included, the query left
    out); ``request_id`` is the server's id for the request when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        attempts: int = 1,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message: str = self.args[0]
        self.method = method
        self.path = scrub(path) if path is not None else None
        self.attempts = attempts
        self.request_id = scrub(request_id) if request_id is not None else None

    def _detail(self) -> str:
        return self.message

    def __str__(self) -> str:
        text = self._detail()
        if self.method and self.path:
            text = f"{self.method} {self.path}: {text}"
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        return text


class APIConnectionError(APIError):
    """The API could not be reached, or the connection broke before a response arrived.

    ``request_sent`` is False when the failure happened before the request left the client,
    so repeating it cannot create anything twice.
    """

    def __init__(self, message: str, *, request_sent: bool = True, **where: Any) -> None:
        super().__init__(message, **where)
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The request did not complete within the configured timeout."""


class APIStatusError(APIError):
    """The API answered with a non-success HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        **where: Any,
    ) -> None:
        super().__init__(message, **where)
        self.status = status
        self.code = scrub(code) if code is not None else None
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})

    def _detail(self) -> str:
        text = f"HTTP {self.status}: {self.message}"
        if self.code:
            text += f" (code {self.code})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text


class BadRequestError(APIStatusError):
    """400: the server rejected the request as invalid."""


class UnprocessableEntityError(BadRequestError):
    """422: the request was well-formed but semantically invalid."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or was not accepted."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not do this (API gateways also answer 403 for unknown routes)."""


class NotFoundError(APIStatusError):
    """404: the resource (for example another organization's template) was not found."""


class ConflictError(APIStatusError):
    """409: the request conflicts with existing state."""


class RateLimitError(APIStatusError):
    """429: throttled; ``retry_after`` holds the server's wait in seconds when it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx: the server or a gateway in front of it failed."""


class WaitTimeoutError(NtrvstaError, TimeoutError):
    """A wait (such as ``client.results.wait_for``) reached its deadline first."""


class ResponseValidationError(NtrvstaError):
    """A response body was not JSON or did not have the expected shape; ``path`` names where."""

    def __init__(self, message: str, *, path: str = "$", body: Any = None) -> None:
        super().__init__(message)
        self.message: str = self.args[0]
        self.path = scrub(path)
        self.body = body

    def __str__(self) -> str:
        return self.message if f"@ {self.path}" in self.message else f"{self.message} @ {self.path}"


class ResponseTooLargeError(ResponseValidationError):
    """A response body was larger than ``max_response_size``; ``limit`` is that cap in bytes.

    The body was read no further than the cap, and the request is not retried.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit

    def __str__(self) -> str:
        return self.message


class InboxError(NtrvstaError):
    """The store behind an inbox or lease (Redis) failed or could not be reached.

    The poller reports it and tries again on its next pass; the webhook receiver answers
    503 so the platform redelivers.
    """


class WebhookVerificationError(NtrvstaError):
    """A webhook delivery failed verification; ``reason`` says why in a stable word."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.message: str = self.args[0]
        self.reason = reason


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (docs/contract.md#op-10)."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIStatusError)

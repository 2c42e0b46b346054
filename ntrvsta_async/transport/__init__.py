"""The transport layer: settings, auth, retries, the HTTP session and error mapping."""

from .auth import AuthScheme, redact
from .messages import Reply, Request, Response
from .pacing import RateControl, RateController
from .retries import RetryPolicy, parse_http_date, parse_retry_after
from .session import SAFE_METHODS, UNCHANGED, Transport, Unchanged

__all__ = [
    "SAFE_METHODS",
    "UNCHANGED",
    "AuthScheme",
    "RateControl",
    "RateController",
    "Reply",
    "Request",
    "Response",
    "RetryPolicy",
    "Transport",
    "Unchanged",
    "parse_http_date",
    "parse_retry_after",
    "redact",
]

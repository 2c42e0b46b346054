"""The transport layer: settings, auth, retries, the HTTP session and error mapping."""

from ntrvsta_async.transport.auth import AuthScheme, redact
from ntrvsta_async.transport.messages import Reply, Request, Response
from ntrvsta_async.transport.pacing import RateControl, RateController, shown_rate
from ntrvsta_async.transport.retries import RetryPolicy, parse_http_date, parse_retry_after
from ntrvsta_async.transport.session import SAFE_METHODS, UNCHANGED, Transport, Unchanged

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
    "shown_rate",
]

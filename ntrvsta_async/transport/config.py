"""Resolving and checking client settings: API key, base URL and timeouts."""

from __future__ import annotations

import ipaddress
import os

import aiohttp
from yarl import URL

from ntrvsta_async import assumptions
from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError

__all__ = ["resolve_api_key", "resolve_base_url", "resolve_timeout"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def resolve_api_key(api_key: str | None) -> str:
    """The explicit key, else ``NTRVSTA_API_KEY``; a clear error when neither is set."""
    if api_key is None:
        api_key = os.environ.get(assumptions.ENV_API_KEY) or None
        if api_key is None:
            raise ConfigurationError(
                f"no API key: pass api_key= or set the {assumptions.ENV_API_KEY} "
                "environment variable"
            )
    if not isinstance(api_key, str):
        raise ConfigurationError(f"api_key must be a string, not {type(api_key).__name__}")
    api_key = api_key.strip()
    if not api_key:
        raise ConfigurationError("api_key is empty")
    if any(ch in api_key for ch in "\r\n\0"):
        raise ConfigurationError("api_key contains a line break or NUL character")
    return api_key


def is_loopback(host: str) -> bool:
    """True for localhost names and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(base_url: str | None, *, allow_insecure_http: bool = False) -> URL:
    """The explicit base URL, else ``NTRVSTA_BASE_URL``, else production (OP-1).

    A path (an API Gateway stage such as ``/dev``) is kept; ``/v1/...`` is appended to it,
    so a path ending in ``/v1`` (which would double it) is refused.
    """
    if base_url is None:
        base_url = os.environ.get(assumptions.ENV_BASE_URL) or assumptions.DEFAULT_BASE_URL
    if not isinstance(base_url, str):
        raise ConfigurationError(f"base_url must be a string, not {type(base_url).__name__}")
    try:
        url = URL(base_url.strip())
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL such as {assumptions.DEFAULT_BASE_URL}"
        )
    if url.query_string or url.fragment:
        raise ConfigurationError("base_url must not carry a query string or fragment")
    if url.user or url.password:
        raise ConfigurationError("base_url must not carry credentials; pass api_key= instead")
    if url.scheme == "http" and not allow_insecure_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"refusing plain http:// to {url.host}: the API key would travel unencrypted; "
            "use https://, or allow it for a trusted network (allow_insecure_http=True;"
            " on the command line, --allow-insecure-http)"
        )
    path = url.path.rstrip("/")
    if path.lower().endswith("/v1"):
        raise ConfigurationError(
            f"base_url must not end in /v1 (got {base_url.strip()!r}): the SDK adds /v1 to "
            f"every path itself; drop it and pass {str(url.with_path(path[:-3]))!r}"
        )
    return url.with_path(path)


def resolve_timeout(timeout: float | aiohttp.ClientTimeout | None) -> aiohttp.ClientTimeout:
    """Seconds (total) or a ready ``ClientTimeout``; the default follows OP-17."""
    if timeout is None:
        return aiohttp.ClientTimeout(
            total=assumptions.DEFAULT_TIMEOUT_TOTAL, connect=assumptions.DEFAULT_TIMEOUT_CONNECT
        )
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    if not is_positive_number(timeout):
        raise ConfigurationError("timeout must be a positive number of seconds or a ClientTimeout")
    return aiohttp.ClientTimeout(
        total=float(timeout), connect=min(float(timeout), assumptions.DEFAULT_TIMEOUT_CONNECT)
    )

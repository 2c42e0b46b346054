"""The HTTP transport: one aiohttp session, auth, base URL joining, retries and error mapping."""

from __future__ import annotations

import enum
import logging
import platform
import time
from collections.abc import Coroutine, Mapping
from typing import Any, Final

import aiohttp
import attrs
from aiohttp import hdrs
from multidict import CIMultiDict
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from yarl import URL

from .. import _json
from .._checks import is_count
from .._redact import register_secret, sdk_logger
from .._version import __version__
from ..assumptions import DEFAULT_CONTRACT, DEFAULT_MAX_RESPONSE_SIZE, Contract
from ..errors import (
    APIError,
    APIStatusError,
    ConfigurationError,
    InvalidArgumentError,
    NtrvstaError,
    ResponseTooLargeError,
)
from .auth import auth_headers, redact
from .responses import Response, connection_error, refuse_non_json, status_error
from .retries import RetryPolicy

__all__ = ["SAFE_METHODS", "UNCHANGED", "Transport", "Unchanged"]

logger = sdk_logger("ntrvsta_async")
retry_logger = sdk_logger("ntrvsta_async.retry")
"""One WARNING per retry, on its own logger so an application can quiet retries alone."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods a repeat cannot turn into a second side effect."""

_DEFAULT_MAX_CONNECTIONS = 100
_URL_CACHE_SIZE = 64
_BODYLESS_STATUSES = frozenset({204, 304})


class Unchanged(enum.Enum):
    """The type of ``UNCHANGED``."""

    UNCHANGED = "unchanged"


UNCHANGED: Final = Unchanged.UNCHANGED
"""An option ``derive`` (and ``with_options``) keeps from the transport it derives from."""


def _positive_or_none(value: int | None, message: str) -> int | None:
    """``value`` when it is None or an int (not a bool) of at least 1; else ``message``."""
    if value is not None and not is_count(value):
        raise ConfigurationError(message)
    return value


def _checked_max_response_size(value: int | None) -> int | None:
    return _positive_or_none(value, "max_response_size must be a positive integer (bytes) or None")


@attrs.define
class _Pool:
    """The aiohttp session shared by a client and the clients derived from it."""

    session: aiohttp.ClientSession | None
    owned: bool
    max_connections: int
    closed: bool = False

    def get(self) -> aiohttp.ClientSession:
        """The session, created on first use; a session closed elsewhere fails when used."""
        if self.closed:
            raise ConfigurationError("the client is closed; create a new NtrvstaClient")
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            self.session = aiohttp.ClientSession(connector=connector)
        return self.session

    async def close(self) -> None:
        self.closed = True
        if self.owned and self.session is not None and not self.session.closed:
            await self.session.close()


class Transport:
    """Sends one logical request, with the retry policy, and returns decoded JSON or raises."""

    def __init__(
        self,
        *,
        api_key: str,
        base_url: URL,
        auth_scheme: str,
        timeout: aiohttp.ClientTimeout,
        retry_policy: RetryPolicy,
        user_agent: str | None,
        pool: _Pool,
        contract: Contract = DEFAULT_CONTRACT,
        max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self._api_key = api_key
        self._key_handle = register_secret(api_key)
        self.base_url = base_url
        self.timeout = timeout
        self.retry_policy = retry_policy
        self.max_response_size = max_response_size
        self._pool = pool
        agent = (
            f"ntrvsta-async/{__version__} python/{platform.python_version()} "
            f"aiohttp/{aiohttp.__version__}"
        )
        # Built once as CIMultiDicts, which aiohttp merges without converting them again.
        self._headers: CIMultiDict[str] = CIMultiDict(
            {
                "Accept": "application/json",
                "User-Agent": f"{agent} {user_agent}" if user_agent else agent,
                **auth_headers(api_key, auth_scheme, contract.api_key_header),
            }
        )
        self._json_headers = CIMultiDict(self._headers)
        self._json_headers["Content-Type"] = "application/json; charset=utf-8"
        self._urls: dict[str, URL] = {}
        self.contract = contract
        self._auth_scheme = auth_scheme
        self._user_agent = user_agent

    @classmethod
    def create(
        cls,
        *,
        api_key: str,
        base_url: URL,
        auth_scheme: str,
        timeout: aiohttp.ClientTimeout,
        retry_policy: RetryPolicy,
        user_agent: str | None,
        session: aiohttp.ClientSession | None,
        max_connections: int | None,
        contract: Contract = DEFAULT_CONTRACT,
        max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> Transport:
        """A transport with its own pool, or one on a caller-owned session (never closed).

        ``max_response_size`` caps a response body in bytes after decompression (None: no cap).
        """
        _positive_or_none(max_connections, "max_connections must be a positive integer")
        max_response_size = _checked_max_response_size(max_response_size)
        pool = _Pool(
            session=session,
            owned=session is None,
            max_connections=max_connections or _DEFAULT_MAX_CONNECTIONS,
        )
        return cls(
            api_key=api_key,
            base_url=base_url,
            auth_scheme=auth_scheme,
            timeout=timeout,
            retry_policy=retry_policy,
            user_agent=user_agent,
            pool=pool,
            contract=contract,
            max_response_size=max_response_size,
        )

    def derive(
        self,
        *,
        timeout: aiohttp.ClientTimeout | None,
        retry_policy: RetryPolicy | None,
        max_response_size: int | Unchanged | None = UNCHANGED,
    ) -> Transport:
        """A transport on the same pool with other timeout, retry or response size settings."""
        if isinstance(max_response_size, Unchanged):
            max_response_size = self.max_response_size
        return Transport(
            api_key=self._api_key,
            base_url=self.base_url,
            auth_scheme=self._auth_scheme,
            timeout=timeout or self.timeout,
            retry_policy=retry_policy or self.retry_policy,
            user_agent=self._user_agent,
            pool=self._pool,
            contract=self.contract,
            max_response_size=_checked_max_response_size(max_response_size),
        )

    @property
    def key_hint(self) -> str:
        """The key as it may be shown."""
        return redact(self._api_key)

    @property
    def owns_open_session(self) -> bool:
        """True while this transport owns a session that still needs closing."""
        session = self._pool.session
        return self._pool.owned and session is not None and not session.closed

    @property
    def closed(self) -> bool:
        """True once the pool was closed."""
        return self._pool.closed

    async def close(self) -> None:
        """Close the pool's session, unless the caller owns it."""
        await self._pool.close()

    def url(self, path: str) -> URL:
        """The absolute URL of an API path, keeping any stage path of the base URL."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigurationError(f"path must start with '/', got {path!r}")
        return URL(str(self.base_url) + path, encoded=False)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        safe: bool,
    ) -> Coroutine[Any, Any, Response]:
        """Send ``method path`` with retries; ``safe`` says whether a repeat is harmless.

        Arguments are checked (and the body encoded) at the call; the coroutine sends.
        """
        url = self._urls.get(path)
        if url is None:
            url = self.url(path)
            if len(self._urls) < _URL_CACHE_SIZE:
                self._urls[path] = url
        body = None
        headers = self._headers
        if json is not None:
            try:
                body = _json.dumps(json)
            except (TypeError, ValueError, RecursionError) as exc:
                raise InvalidArgumentError(f"the request body is not JSON: {exc}") from None
            headers = self._json_headers
        return self._send(method, url, path, headers, body, params, safe)

    async def _retry(
        self,
        method: str,
        url: URL,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        safe: bool,
        first_failure: NtrvstaError,
    ) -> Response:
        """The retry loop after a retryable first failure, which counts as attempt 1."""
        policy = self.retry_policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_retries + 1),
            wait=policy.wait,
            retry=retry_if_exception(lambda exc: policy.should_retry(exc, safe=safe)),
            sleep=policy.sleep,
            before_sleep=lambda state: _before_retry(state, policy, method, path),
            reraise=True,
        )
        attempt_number = 0
        try:
            async for attempt in retrying:
                attempt_number = attempt.retry_state.attempt_number
                with attempt:
                    if attempt_number == 1:
                        raise first_failure
                    return await self._send(method, url, path, headers, body, params, None)
        except NtrvstaError as exc:
            if isinstance(exc, APIError):
                exc.attempts = attempt_number
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        url: URL,
        path: str,
        headers: Mapping[str, str],
        body: bytes | None,
        params: Mapping[str, str] | None,
        safe: bool | None,
    ) -> Response:
        """One attempt. A first attempt (``safe`` set) hands a retryable failure to ``_retry``
        from this frame: the common path awaits the response through one coroutine."""
        try:
            pool = self._pool
            session = pool.session
            if session is None or pool.closed:
                session = pool.get()
            debug = logger.isEnabledFor(logging.DEBUG)
            started = time.perf_counter() if debug else 0.0
            try:
                # Awaited rather than entered: two coroutine layers fewer under every read.
                resp = await session.request(
                    method,
                    url,
                    data=body,
                    params=params,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                    raise_for_status=False,  # a caller-owned session may set it: statuses map here
                )
                try:
                    limit = self.max_response_size
                    if limit is None:
                        raw = await resp.read()
                    else:
                        length = _plain_length(resp)
                        if length is not None and length <= limit:
                            raw = await resp.read()
                        elif (
                            length is not None
                            and method != "HEAD"
                            and resp.status not in _BODYLESS_STATUSES
                        ):
                            resp.close()  # unread: the connection cannot be reused
                            raise self._too_large(resp.status, method, path, limit)
                        else:
                            capped = await _read_capped(resp, limit)
                            if capped is None:
                                raise self._too_large(resp.status, method, path, limit)
                            raw = capped
                finally:
                    resp.release()
                    await resp.wait_for_close()
                status = resp.status
                resp_headers = resp.headers
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.debug("%s %s failed: %s", method, path, type(exc).__name__)
                raise connection_error(exc, method, url.path) from None
            except RuntimeError as exc:
                if session.closed:
                    raise ConfigurationError(
                        "the client is closed; create a new NtrvstaClient"
                    ) from None
                raise connection_error(exc, method, url.path) from None
            if debug:
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s %s -> %d (%.0f ms)", method, path, status, elapsed_ms)
            if 200 <= status < 300:
                try:
                    data = _json.loads(raw)
                except (ValueError, RecursionError):
                    refuse_non_json(raw, status=status)
                    data = None
                return Response(status, resp_headers, data)
            if 300 <= status < 400:
                raise status_error(
                    status,
                    f"unexpected redirect to {resp_headers.get('Location', '?')} (not followed)",
                    resp_headers,
                    b"",
                    method=method,
                    path=url.path,
                )
            raise status_error(status, resp.reason, resp_headers, raw, method=method, path=url.path)
        except NtrvstaError as exc:
            if safe is None:
                raise
            policy = self.retry_policy
            if policy.max_retries < 1 or not policy.should_retry(exc, safe=safe):
                if isinstance(exc, APIError):
                    exc.attempts = 1
                raise
            first_failure = exc
        return await self._retry(method, url, path, headers, body, params, safe, first_failure)

    def _too_large(self, status: int, method: str, path: str, limit: int) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            f"HTTP {status} response body for {method} {path} exceeds max_response_size "
            f"({limit} bytes)",
            limit=limit,
        )


def _plain_length(resp: aiohttp.ClientResponse) -> int | None:
    """The declared body length when the bytes on the wire are the body itself, else None."""
    headers = resp.headers
    if hdrs.CONTENT_ENCODING in headers or hdrs.TRANSFER_ENCODING in headers:
        return None
    length = headers.get(hdrs.CONTENT_LENGTH)
    if length is None or not (length.isascii() and length.isdigit()):
        return None
    return int(length)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The decompressed body, read in chunks; None (and the response closed) past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_any():
        size += len(chunk)
        if size > limit:
            resp.close()  # abandoned mid-body: the connection cannot be reused
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _before_retry(state: RetryCallState, policy: RetryPolicy, method: str, path: str) -> None:
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    if policy.on_retry is not None and exc is not None:
        policy.on_retry(exc, wait)
    retry_logger.warning(
        "retrying %s %s in %.2f s after %s (attempt %d of %d)",
        method,
        path,
        wait,
        f"HTTP {exc.status}" if isinstance(exc, APIStatusError) else type(exc).__name__,
        state.attempt_number + 1,
        policy.max_retries + 1,
    )

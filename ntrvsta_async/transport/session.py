"""The HTTP transport: one aiohttp session, auth, base URL joining, retries and error mapping.

Three layers, each with one job: ``build_request`` turns arguments into a ``Request``;
``exchange`` makes one paced attempt and returns the ``Reply`` unjudged; ``send`` runs the
retry loop over ``exchange`` and judges each reply (decoded success or mapped error).
"""

from __future__ import annotations

import enum
import functools
import logging
import platform
import time
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import attrs
from aiohttp import hdrs
from multidict import CIMultiDict
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from yarl import URL

from ntrvsta_async import _json
from ntrvsta_async._checks import is_count
from ntrvsta_async._redact import register_secret, sdk_logger
from ntrvsta_async._version import __version__
from ntrvsta_async.assumptions import DEFAULT_CONTRACT, DEFAULT_MAX_RESPONSE_SIZE, Contract
from ntrvsta_async.errors import (
    APIError,
    APIStatusError,
    ConfigurationError,
    InvalidArgumentError,
    NtrvstaError,
    ResponseTooLargeError,
)
from ntrvsta_async.transport.auth import auth_headers, redact
from ntrvsta_async.transport.messages import Reply, Request, Response
from ntrvsta_async.transport.pacing import RateControl, RateController
from ntrvsta_async.transport.responses import connection_error, refuse_non_json, status_error
from ntrvsta_async.transport.retries import RetryPolicy

__all__ = ["SAFE_METHODS", "UNCHANGED", "Transport", "Unchanged"]

logger = sdk_logger("ntrvsta_async")
retry_logger = sdk_logger("ntrvsta_async.retry")
"""One WARNING per retry, on its own logger so an application can quiet retries alone."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
"""Methods a repeat cannot turn into a second side effect."""

_DEFAULT_MAX_CONNECTIONS = 100
_URL_CACHE_SIZE = 64
_BODYLESS = frozenset({204, 304})
_THROTTLED = 429
_CLOSED = "the client is closed; create a new NtrvstaClient"


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
    pacer: RateController = attrs.field(factory=RateController)
    """The rate controller every transport on this pool goes through."""

    def get(self) -> aiohttp.ClientSession:
        """The session, created on first use; a session closed elsewhere fails when used."""
        if self.closed:
            raise ConfigurationError(_CLOSED)
        if self.session is None:
            connector = aiohttp.TCPConnector(limit=self.max_connections)
            self.session = aiohttp.ClientSession(connector=connector)
        return self.session

    async def close(self) -> None:
        self.closed = True
        if self.owned and self.session is not None and not self.session.closed:
            await self.session.close()


class Transport:
    """Sends requests to one API: ``send`` for the decoded success (or an error), with
    retries; ``exchange`` for one attempt's unjudged reply."""

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
        self._auth_headers = auth_headers(api_key, auth_scheme, contract.api_key_header)
        agent = (
            f"ntrvsta-async/{__version__} python/{platform.python_version()} "
            f"aiohttp/{aiohttp.__version__}"
        )
        # Built once as CIMultiDicts, which aiohttp merges without converting them again.
        self._headers: CIMultiDict[str] = CIMultiDict(
            {
                "Accept": "application/json",
                "User-Agent": f"{agent} {user_agent}" if user_agent else agent,
                **self._auth_headers,
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
        rate_limit: RateControl = "adaptive",
    ) -> Transport:
        """A transport with its own pool, or one on a caller-owned session (never closed).

        ``max_response_size`` caps a response body in bytes after decompression (None: no cap);
        ``rate_limit`` sets the pacing of every request (see ``RateController``).
        """
        _positive_or_none(max_connections, "max_connections must be a positive integer")
        max_response_size = _checked_max_response_size(max_response_size)
        pool = _Pool(
            session=session,
            owned=session is None,
            max_connections=max_connections or _DEFAULT_MAX_CONNECTIONS,
            pacer=RateController(rate_limit),
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
        timeout: aiohttp.ClientTimeout | None = None,
        retry_policy: RetryPolicy | None = None,
        max_response_size: int | Unchanged | None = UNCHANGED,
        auth_scheme: str | None = None,
        contract: Contract | None = None,
    ) -> Transport:
        """A transport on the same pool with other timeout, retry, response size, auth scheme
        or contract settings (None, or ``UNCHANGED`` for the size, keeps this one's)."""
        if isinstance(max_response_size, Unchanged):
            max_response_size = self.max_response_size
        return Transport(
            api_key=self._api_key,
            base_url=self.base_url,
            auth_scheme=auth_scheme or self._auth_scheme,
            timeout=timeout or self.timeout,
            retry_policy=retry_policy or self.retry_policy,
            user_agent=self._user_agent,
            pool=self._pool,
            contract=contract or self.contract,
            max_response_size=_checked_max_response_size(max_response_size),
        )

    def on_own_pool(
        self, connections: int, *, retry_policy: RetryPolicy | None = None
    ) -> Transport | None:
        """This transport on a new pool of exactly ``connections`` (closed by the caller),
        sharing the pacer; None when the session is the caller's, which cannot be resized."""
        pool = self._pool
        if not pool.owned:
            return None
        own = self.derive(retry_policy=retry_policy)
        own._pool = _Pool(session=None, owned=True, max_connections=connections, pacer=pool.pacer)
        return own

    @property
    def connection_limit(self) -> int | None:
        """How many requests the pool runs at once; None when it sets no limit."""
        pool = self._pool
        if pool.owned:
            return pool.max_connections
        connector = pool.session.connector if pool.session is not None else None
        if connector is None:
            return None
        limits = [n for n in (connector.limit, connector.limit_per_host) if n]
        return min(limits) if limits else None

    @property
    def pacer(self) -> RateController:
        """The rate controller shared by every transport on this pool."""
        return self._pool.pacer

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

    def build_request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        safe: bool = False,
        authenticated: bool = True,
    ) -> Request:
        """``method path`` as a ``Request``: the URL joined, the body encoded, headers set.

        ``safe`` says a repeat cannot duplicate anything (see ``send``);
        ``authenticated=False`` leaves the key out, to see what the API answers without it.
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
        if not authenticated:
            headers = CIMultiDict(headers)
            for name in self._auth_headers:
                del headers[name]
        return Request(method, path, url, headers, body, params, safe)

    async def send(self, request: Request) -> Response:
        """Send ``request`` under the retry policy: the decoded success, or the last error.

        Each attempt is one ``exchange``, judged: a 2xx is decoded, any other status raises.
        A failure is retried when the policy allows it for this request (``request.safe``:
        a repeat is harmless; otherwise only when the request was never sent).
        """
        try:
            # Most requests succeed at once, so the first attempt runs before the retry loop:
            # with every request inside tenacity's loop, the fan-out benchmark
            # (benchmarks/bench_fanout.py) measured 0.59 of raw aiohttp instead of 0.83.
            return _judged(request, await self.exchange(request))
        except NtrvstaError as exc:
            first_failure = exc
        policy = self.retry_policy
        paced = self._pool.pacer.enabled
        attempts = 0
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(policy.max_retries + 1),
                wait=policy.wait,
                retry=retry_if_exception(functools.partial(policy.should_retry, safe=request.safe)),
                sleep=policy.sleep,
                before_sleep=functools.partial(_log_retry, policy, request, paced),
                reraise=True,
            ):
                with attempt:
                    attempts += 1
                    if attempts == 1:
                        raise first_failure  # the attempt made above, as the loop's first
                    return _judged(request, await self.exchange(request))
        except NtrvstaError as exc:
            if isinstance(exc, APIError):
                exc.attempts = attempts
            if paced and attempts > 1 and _throttled(exc):
                retry_logger.warning(
                    "gave up on %s %s after %d attempts: HTTP 429",
                    request.method,
                    request.path,
                    attempts,
                )
            raise
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    async def exchange(self, request: Request) -> Reply:
        """One attempt at ``request``, paced: the reply as it came, whatever its status.

        Raises ``APIConnectionError`` when no reply came, ``ResponseTooLargeError`` for a body
        over ``max_response_size`` (its connection closed) and ``ConfigurationError`` once
        the client is closed.
        """
        pool = self._pool
        session = pool.get()
        pacer = pool.pacer
        sent = await pacer.acquire() if pacer.active else 0.0
        method, path = request.method, request.path
        started = time.perf_counter()
        try:
            resp = await session.request(
                method,
                request.url,
                data=request.body,
                params=request.params,
                headers=request.headers,
                timeout=self.timeout,
                allow_redirects=False,
                raise_for_status=False,  # a caller-owned session may set it: statuses map here
            )
            try:
                body = await self._read(resp, request)
            finally:
                resp.release()
                await resp.wait_for_close()
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.debug("%s %s failed: %s", method, path, type(exc).__name__)
            raise connection_error(exc, method, request.url.path) from None
        except RuntimeError as exc:
            if session.closed:
                raise ConfigurationError(_CLOSED) from None
            raise connection_error(exc, method, request.url.path) from None
        elapsed = time.perf_counter() - started
        pacer.observe(resp.status, resp.headers, sent)
        logger.debug("%s %s -> %d (%.0f ms)", method, path, resp.status, elapsed * 1000)
        return Reply(resp.status, resp.reason, resp.headers, body, elapsed)

    async def _read(self, resp: aiohttp.ClientResponse, request: Request) -> bytes:
        """The body, up to ``max_response_size`` bytes after decompression."""
        limit = self.max_response_size
        if limit is None:
            return await resp.read()
        length = _plain_length(resp)
        if length is not None and length <= limit:
            return await resp.read()
        if length is not None and request.method != "HEAD" and resp.status not in _BODYLESS:
            resp.close()  # unread: the connection cannot be reused
        else:
            body = await _read_capped(resp, limit)
            if body is not None:
                return body
        raise ResponseTooLargeError(
            f"HTTP {resp.status} response body for {request.method} {request.path} exceeds "
            f"max_response_size ({limit} bytes)",
            limit=limit,
        )


def _judged(request: Request, reply: Reply) -> Response:
    """A 2xx reply decoded (an empty body is None); any other status raised as its error."""
    status = reply.status
    if 200 <= status < 300:
        try:
            data = _json.loads(reply.body)
        except (ValueError, RecursionError):
            refuse_non_json(reply.body, status=status)
            data = None
        return Response(status, reply.headers, data)
    reason, body = reply.reason, reply.body
    if 300 <= status < 400:
        reason = f"unexpected redirect to {reply.headers.get('Location', '?')} (not followed)"
        body = b""
    raise status_error(
        status, reason, reply.headers, body, method=request.method, path=request.url.path
    )


def _throttled(exc: BaseException | None) -> bool:
    return isinstance(exc, APIStatusError) and exc.status == _THROTTLED


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


def _log_retry(policy: RetryPolicy, request: Request, paced: bool, state: RetryCallState) -> None:
    """Before each retry: tell ``policy.on_retry``, and log it (DEBUG for a paced 429)."""
    exc = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    if policy.on_retry is not None and exc is not None:
        policy.on_retry(exc, wait)
    retry_logger.log(
        logging.DEBUG if paced and _throttled(exc) else logging.WARNING,
        "retrying %s %s in %.2f s after %s (attempt %d of %d)",
        request.method,
        request.path,
        wait,
        f"HTTP {exc.status}" if isinstance(exc, APIStatusError) else type(exc).__name__,
        state.attempt_number + 1,
        policy.max_retries + 1,
    )

"""``NtrvstaClient``: the entry point that owns the transport and exposes the resources."""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Literal, Self, overload

import aiohttp
import attrs

from ntrvsta_async._checks import is_count
from ntrvsta_async.assumptions import DEFAULT_CONTRACT, DEFAULT_MAX_RESPONSE_SIZE, Contract
from ntrvsta_async.errors import ConfigurationError, InvalidArgumentError
from ntrvsta_async.resources import Invitations, Results, Templates, check, query_params
from ntrvsta_async.transport import (
    SAFE_METHODS,
    UNCHANGED,
    RateControl,
    Response,
    RetryPolicy,
    Transport,
    Unchanged,
)
from ntrvsta_async.transport.config import resolve_api_key, resolve_base_url, resolve_timeout

__all__ = ["NtrvstaClient"]

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An HTTP method is a token (RFC 9110, section 5.6.2)."""


class NtrvstaClient:
    """An async client for the NTRVSTA partner API; use it as ``async with NtrvstaClient():``.

    The key comes from ``api_key`` or ``NTRVSTA_API_KEY``; the base URL from ``base_url``,
    ``NTRVSTA_BASE_URL``, or production. Close it (or leave the ``async with``) when done.
    A response body larger than ``max_response_size`` bytes (after decompression; None for
    no cap) raises ``ResponseTooLargeError`` instead of being read into memory.
    ``rate_limit`` paces every request: ``"adaptive"`` (learn the server's rate from its 429s),
    a ceiling in requests per second, or None (never paced).
    """

    templates: Templates
    """Create-or-reuse interview templates."""
    invitations: Invitations
    """Create-or-reuse candidate invitations."""
    results: Results
    """Page through completed interview results."""

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        auth_scheme: str = "api-key",
        timeout: float | aiohttp.ClientTimeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        max_connections: int | None = None,
        max_response_size: int | None = DEFAULT_MAX_RESPONSE_SIZE,
        session: aiohttp.ClientSession | None = None,
        user_agent: str | None = None,
        allow_insecure_http: bool = False,
        contract: Contract | None = None,
        rate_limit: RateControl = "adaptive",
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError("session must be an aiohttp.ClientSession")
        if user_agent is not None and not isinstance(user_agent, str):
            raise ConfigurationError("user_agent must be a string")
        if user_agent is not None and any(ord(c) < 32 or ord(c) == 127 for c in user_agent):
            raise ConfigurationError("user_agent contains a control character")
        if contract is not None and not isinstance(contract, Contract):
            raise ConfigurationError("contract must be an ntrvsta_async.Contract")
        transport = Transport.create(
            api_key=resolve_api_key(api_key),
            base_url=resolve_base_url(base_url, allow_insecure_http=allow_insecure_http),
            auth_scheme=auth_scheme,
            timeout=resolve_timeout(timeout),
            retry_policy=_policy(retry_policy, max_retries),
            user_agent=user_agent,
            session=session,
            max_connections=max_connections,
            contract=contract or DEFAULT_CONTRACT,
            max_response_size=max_response_size,
            rate_limit=rate_limit,
        )
        self._bind(transport, owner=True)

    def _bind(self, transport: Transport, *, owner: bool) -> None:
        self._owner = owner
        self._transport = transport
        self.templates = Templates(transport)
        self.invitations = Invitations(transport)
        self.results = Results(transport)

    @property
    def base_url(self) -> str:
        """The base URL requests go to (``/v1/...`` is appended)."""
        return str(self._transport.base_url)

    @property
    def contract(self) -> Contract:
        """The wire contract in force: paths, page keys, header and status assumptions."""
        return self._transport.contract

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in force for this client."""
        return self._transport.retry_policy

    @property
    def timeout(self) -> aiohttp.ClientTimeout:
        """The per-request timeout in force for this client."""
        return self._transport.timeout

    @property
    def max_response_size(self) -> int | None:
        """The largest response body read, in bytes after decompression; None for no cap."""
        return self._transport.max_response_size

    @property
    def pace(self) -> float | None:
        """The pace in requests per second while requests are paced, else None.

        Shared by every ``with_options`` copy; with ``"adaptive"`` it is None until the server
        answers 429, then follows the rate the server admits.
        """
        return self._transport.pacer.pace

    @property
    def throttled(self) -> bool:
        """True from the server's first 429 until it has sent none for a while.

        With ``"adaptive"`` it is True exactly while ``pace`` is not None; with a pinned
        ceiling it tells whether the server's 429s have cut the pace below it.
        """
        return self._transport.pacer.throttled

    def with_options(
        self,
        *,
        timeout: float | aiohttp.ClientTimeout | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        max_response_size: int | Unchanged | None = UNCHANGED,
    ) -> NtrvstaClient:
        """A client on the same connection pool with other timeout, retry or size settings.

        ``max_response_size`` is kept unless given (None lifts the cap). Only the original
        client closes the pool: closing the derived one (or leaving its ``async with``)
        leaves the shared pool open.
        """
        derived = object.__new__(NtrvstaClient)
        policy = _policy(retry_policy, max_retries, self._transport.retry_policy)
        derived._bind(
            self._transport.derive(
                timeout=resolve_timeout(timeout) if timeout is not None else None,
                retry_policy=policy,
                max_response_size=max_response_size,
            ),
            owner=False,
        )
        return derived

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int | float | bool | None] | None = None,
        raw: Literal[False] = False,
    ) -> Any: ...

    @overload
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int | float | bool | None] | None = None,
        raw: Literal[True],
    ) -> Response: ...

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int | float | bool | None] | None = None,
        raw: bool = False,
    ) -> Any:
        """Call a route the SDK does not model (``path`` like ``/v1/templates``); returns JSON.

        Same auth, retries and error mapping as the typed calls; only idempotent methods are
        retried after the request may have reached the server. Query values are strings or
        numbers (booleans as ``true``/``false``; None leaves the parameter out).
        ``raw=True`` returns the whole ``Response`` (``status``, ``headers``, ``data``).
        """
        check("method", method, str, optional=False)
        if not _METHOD.fullmatch(method):
            raise InvalidArgumentError(
                f"method must be an HTTP method such as 'GET', not {method!r}"
            )
        check("path", path, str, optional=False)
        if not path.startswith("/"):
            raise InvalidArgumentError(f"path must start with '/', got {path!r}")
        check("params", params, Mapping)
        check("raw", raw, bool, optional=False)
        method = method.upper()
        transport = self._transport
        request = transport.build_request(
            method,
            path,
            json=json,
            params=query_params(params) if params is not None else None,
            safe=method in SAFE_METHODS,
        )
        response = await transport.send(request)
        return response if raw else response.data

    async def close(self) -> None:
        """Release the connection pool; a caller-owned ``session`` is left open.

        On a client made by ``with_options()`` this does nothing: the pool is the original
        client's to close.
        """
        if self._owner:
            await self._transport.close()

    aclose = close

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._transport.closed

    async def __aenter__(self) -> Self:
        if self.closed:
            raise ConfigurationError("the client is closed; create a new NtrvstaClient")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __enter__(self) -> None:
        raise InvalidArgumentError(
            "NtrvstaClient is asynchronous: use 'async with NtrvstaClient() as client:'"
        )

    def __exit__(self, *exc_info: object) -> None:
        """Never reached: ``__enter__`` refuses a plain ``with``."""

    def __repr__(self) -> str:
        return f"NtrvstaClient(base_url={self.base_url!r}, api_key={self._transport.key_hint!r})"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if (
            getattr(self, "_owner", False)
            and transport is not None
            and transport.owns_open_session
            and not transport.closed
        ):
            _warn(
                "unclosed NtrvstaClient; use 'async with' or 'await client.close()'",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )


def _policy(
    policy: RetryPolicy | None, max_retries: int | None, inherited: RetryPolicy | None = None
) -> RetryPolicy:
    if policy is not None and not isinstance(policy, RetryPolicy):
        raise ConfigurationError("retry_policy must be a RetryPolicy")
    if policy is not None and max_retries is not None and max_retries != policy.max_retries:
        raise ConfigurationError(
            f"max_retries={max_retries!r} conflicts with retry_policy.max_retries="
            f"{policy.max_retries}: give one of them"
        )
    policy = policy or inherited or RetryPolicy()
    if max_retries is None:
        return policy
    if not is_count(max_retries, minimum=0):
        raise ConfigurationError("max_retries must be a non-negative integer")
    return attrs.evolve(policy, max_retries=max_retries)

"""Raw HTTP for the doctor: its own aiohttp session, every exchange recorded, the key never shown.

The typed client would hide what the doctor needs to see (page keys, status codes, headers,
error bodies), so requests go out here as plain aiohttp calls. Recorded exchanges keep
response headers and bodies, never request headers.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp
import attrs
from yarl import URL

from ntrvsta_async._version import __version__
from ntrvsta_async.assumptions import API_KEY_HEADER
from ntrvsta_async.transport.retries import parse_retry_after

__all__ = ["AUTH_FORMS", "AuthForm", "Exchange", "Probe"]

_MAX_TEXT: Final = 500
_RETRIED_GET: Final = frozenset({429, 502, 503, 504})
_RETRIED_POST: Final = frozenset({429})


@attrs.frozen
class AuthForm:
    """One way to present the key: in a header of its own, or as ``Authorization: Bearer``."""

    header: str
    bearer: bool = False

    @property
    def label(self) -> str:
        """How the form reads in a report (never with the key)."""
        return "Authorization: Bearer" if self.bearer else self.header

    def headers(self, api_key: str) -> dict[str, str]:
        """The one header carrying ``api_key``."""
        return {"Authorization": f"Bearer {api_key}"} if self.bearer else {self.header: api_key}


#: OP-3: the two documented forms, then the API Gateway convention ``X-Api-Key``.
AUTH_FORMS: Final = (
    AuthForm(API_KEY_HEADER),
    AuthForm("Authorization", bearer=True),
    AuthForm("X-Api-Key"),
)


@attrs.frozen
class Exchange:
    """One request the doctor sent and what came back; ``status`` is None without a response."""

    method: str
    path: str
    params: Mapping[str, str]
    status: int | None
    headers: tuple[tuple[str, str], ...] = ()
    body: Any = None
    text: str = ""
    elapsed: float = 0.0
    error: str | None = None
    is_json: bool = False

    def header(self, name: str) -> str | None:
        """A response header by name, case-insensitively."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    @property
    def ok(self) -> bool:
        """True for a 2xx response."""
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        """``HTTP 404`` or the connection error, for a report line."""
        if self.status is None:
            return self.error or "no response"
        return f"HTTP {self.status}"


class Probe:
    """Sends the doctor's requests to ``base_url`` and records each exchange.

    ``auth`` is the form later requests present the key in (None sends no key). Retries a
    GET on 429/502/503/504 and a POST on 429 only, waiting at most ``max_wait`` seconds.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        auth: AuthForm | None = None,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        retries: int = 2,
        max_wait: float = 5.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.auth = auth
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 10.0))
        self._session = session
        self._owns_session = session is None
        self._retries = retries
        self._max_wait = max_wait
        self._sleep = sleep
        self.exchanges: list[Exchange] = []

    async def __aenter__(self) -> Probe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session unless the caller owns it."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced, for anything that may be shown."""
        return text.replace(self._api_key, "[key]") if self._api_key else text

    def url(self, path: str) -> URL:
        """The full URL a request for ``path`` goes to (base URL and stage path included)."""
        return URL(self.base_url + path, encoded=False)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        auth: AuthForm | bool | None = True,
        retry: bool = True,
    ) -> Exchange:
        """Send one request (``auth=True``: in the current form; None/False: no key)."""
        form = self.auth if auth is True else (auth or None)
        headers = {
            "Accept": "application/json",
            "User-Agent": f"ntrvsta-async/{__version__} doctor",
        }
        if form is not None:
            headers.update(form.headers(self._api_key))
        data = None
        if json is not None:
            data = jsonlib.dumps(json, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json; charset=utf-8"
        retried = _RETRIED_POST if method.upper() == "POST" else _RETRIED_GET
        attempts = 1 + (self._retries if retry else 0)
        exchange = None
        for attempt in range(1, attempts + 1):
            exchange = await self._once(method, path, params or {}, headers, data)
            self.exchanges.append(exchange)
            if exchange.status not in retried or attempt == attempts:
                break
            wait = parse_retry_after(dict(exchange.headers))
            await self._sleep(min(self._max_wait, 1.0 if wait is None else wait))
        assert exchange is not None
        return exchange

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, str],
        headers: Mapping[str, str],
        data: bytes | None,
    ) -> Exchange:
        url = self.url(path)
        started = time.perf_counter()
        try:
            async with self._get_session().request(
                method,
                url,
                params=dict(params),
                data=data,
                headers=dict(headers),
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                raw = await resp.read()
                status = resp.status
                resp_headers = tuple((str(k), str(v)) for k, v in resp.headers.items())
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Exchange(
                method=method,
                path=path,
                params=dict(params),
                status=None,
                elapsed=time.perf_counter() - started,
                error=self.scrub(_describe_error(exc)),
            )
        elapsed = time.perf_counter() - started
        body: Any = None
        is_json = False
        try:
            body = jsonlib.loads(raw) if raw.strip() else None
            is_json = body is not None
        except (UnicodeDecodeError, ValueError):
            body = None
        return Exchange(
            method=method,
            path=path,
            params=dict(params),
            status=status,
            headers=resp_headers,
            body=body,
            text=self.scrub(raw[:_MAX_TEXT].decode("utf-8", "replace")),
            elapsed=elapsed,
            is_json=is_json,
        )


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return "timed out"
    return f"connection failed: {exc or type(exc).__name__}"

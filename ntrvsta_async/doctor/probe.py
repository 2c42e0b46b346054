"""The doctor's recorder: each request is one transport ``exchange``, kept with what came back.

The typed client would hide what the doctor needs to see (page keys, status codes, headers,
error bodies), so the doctor reads unjudged replies: auth, user agent, pacing and the size
cap are the SDK's own, and nothing is retried. Recorded exchanges keep response headers and
bodies, never request headers; the key never appears in them.
"""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any, Final

import aiohttp
import attrs
from yarl import URL

from ntrvsta_async.assumptions import API_KEY_HEADER
from ntrvsta_async.errors import APIError, NtrvstaError
from ntrvsta_async.transport import RetryPolicy, Transport
from ntrvsta_async.transport.config import resolve_timeout

__all__ = ["AUTH_FORMS", "AuthForm", "Exchange", "Probe"]

_MAX_TEXT: Final = 500


@attrs.frozen
class AuthForm:
    """One way to present the key: in a header of its own, or as ``Authorization: Bearer``."""

    header: str
    bearer: bool = False

    @property
    def label(self) -> str:
        """How the form reads in a report (never with the key)."""
        return "Authorization: Bearer" if self.bearer else self.header


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

    ``auth`` is the form later requests present the key in (None sends no key).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        auth: AuthForm | None = None,
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._api_key = api_key
        self.auth = auth
        self._transport = Transport.create(
            api_key=api_key,
            base_url=URL(base_url.rstrip("/")),
            auth_scheme="api-key",
            timeout=resolve_timeout(timeout),
            retry_policy=RetryPolicy(max_retries=0),
            user_agent=None,
            session=session,
            max_connections=None,
        )
        self._by_form: dict[AuthForm, Transport] = {}
        self.exchanges: list[Exchange] = []

    async def __aenter__(self) -> Probe:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection pool, unless the session is the caller's."""
        await self._transport.close()

    def scrub(self, text: str) -> str:
        """``text`` with the key replaced, for anything that may be shown."""
        return text.replace(self._api_key, "[key]") if self._api_key else text

    def url(self, path: str) -> URL:
        """The full URL a request for ``path`` goes to (base URL and stage path included)."""
        return self._transport.url(path)

    def _presenting(self, form: AuthForm) -> Transport:
        """The transport that presents the key in ``form`` (on the same pool)."""
        transport = self._by_form.get(form)
        if transport is None:
            transport = self._transport.derive(
                auth_scheme="bearer" if form.bearer else "api-key",
                contract=attrs.evolve(self._transport.contract, api_key_header=form.header),
            )
            self._by_form[form] = transport
        return transport

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        auth: AuthForm | bool | None = True,
    ) -> Exchange:
        """Send one request (``auth=True``: in the current form; None/False: no key)."""
        form = self.auth if auth is True else (auth or None)
        transport = self._transport if form is None else self._presenting(form)
        request = transport.build_request(
            method, path, json=json, params=params, authenticated=form is not None
        )
        try:
            reply = await transport.exchange(request)
        except NtrvstaError as exc:
            error = exc.message if isinstance(exc, APIError) else str(exc)
            exchange = Exchange(
                method=method,
                path=path,
                params=dict(params or {}),
                status=None,
                error=self.scrub(error),
            )
        else:
            body: Any = None
            try:
                body = jsonlib.loads(reply.body) if reply.body.strip() else None
            except (UnicodeDecodeError, ValueError):
                body = None
            exchange = Exchange(
                method=method,
                path=path,
                params=dict(params or {}),
                status=reply.status,
                headers=tuple((str(k), str(v)) for k, v in reply.headers.items()),
                body=body,
                text=self.scrub(reply.body[:_MAX_TEXT].decode("utf-8", "replace")),
                elapsed=reply.elapsed,
                is_json=body is not None,
            )
        self.exchanges.append(exchange)
        return exchange

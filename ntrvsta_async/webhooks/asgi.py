"""``WebhookReceiver`` as a plain ASGI 3 application, for FastAPI, Starlette or any ASGI server.

No framework is imported: the app reads the body from ``receive`` as it arrives (so an
oversized or slow body is refused before it is read in full) and answers with ``send``.
"""

from __future__ import annotations

import contextlib
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    ItemsView,
    Iterator,
    Mapping,
    MutableMapping,
)
from typing import Any, Final

from ntrvsta_async.webhooks.receiver import WebhookReceiver, WebhookReply

__all__ = ["ASGIHeaders", "WebhookASGIApp"]

Scope = MutableMapping[str, Any]
"""An ASGI connection scope."""
Message = MutableMapping[str, Any]
"""An ASGI event, received or sent."""
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_LENGTH_DIGITS: Final = 19


class WebhookASGIApp:
    """The ASGI application of ``WebhookReceiver.asgi_app()``: deliveries by ``POST`` at
    whatever path it is routed to, 405 for other methods.

    An instance (not a function), so Starlette's ``add_route`` hands it the raw ASGI
    connection. Run directly by an ASGI server, it answers the lifespan protocol and drains
    the receiver on shutdown; routed inside an app, call ``await receiver.aclose()`` in that
    app's lifespan instead (a framework keeps the lifespan to itself).
    """

    __slots__ = ("receiver",)

    def __init__(self, receiver: WebhookReceiver) -> None:
        self.receiver = receiver

    def __repr__(self) -> str:
        return f"WebhookASGIApp({self.receiver!r})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        kind = scope.get("type")
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            reply = WebhookReply(405, {"error": "method_not_allowed"}, close_connection=True)
            await _respond(send, reply, (b"allow", b"POST"))
            return
        headers = ASGIHeaders(scope.get("headers"))
        reply = await self.receiver.handle_stream(
            _chunks(receive), headers, content_length=_content_length(headers)
        )
        await _respond(send, reply)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message.get("type") == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message.get("type") == "lifespan.shutdown":
                await self.receiver.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class ASGIHeaders(Mapping[str, str]):
    """An ASGI scope's raw headers as a read-only mapping with lower-cased names.

    A lookup is case-insensitive and gives the first value; ``items()`` yields every header,
    repeats included, so the verifier can refuse a repeated signature header.
    """

    __slots__ = ("_pairs",)

    def __init__(self, raw: object) -> None:
        pairs: list[tuple[str, str]] = []
        for item in raw if isinstance(raw, list | tuple) else ():
            if isinstance(item, list | tuple) and len(item) == 2:
                name, value = item
                if isinstance(name, bytes) and isinstance(value, bytes):
                    pairs.append((name.decode("latin-1").lower(), value.decode("latin-1")))
        self._pairs = tuple(pairs)

    def __getitem__(self, name: str) -> str:
        lowered = name.lower()
        for key, value in self._pairs:
            if key == lowered:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(key for key, _ in self._pairs))

    def __len__(self) -> int:
        return len({key for key, _ in self._pairs})

    def items(self) -> ItemsView[str, str]:
        """Every (lower-cased name, value) pair, repeated headers included."""
        return _AllItems(self, self._pairs)

    def getall(self, name: str) -> list[str]:
        """Every value of header ``name``, in order."""
        lowered = name.lower()
        return [value for key, value in self._pairs if key == lowered]

    def __repr__(self) -> str:
        return f"ASGIHeaders({len(self._pairs)} headers)"


class _AllItems(ItemsView[str, str]):
    """The items of ``ASGIHeaders``, repeated names included."""

    def __init__(self, mapping: Mapping[str, str], pairs: tuple[tuple[str, str], ...]) -> None:
        super().__init__(mapping)
        self._pairs = pairs

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __contains__(self, item: object) -> bool:
        return item in self._pairs


def _content_length(headers: ASGIHeaders) -> int | None:
    """The declared body length, or None when absent or not one plain number."""
    values = headers.getall("content-length")
    if len(values) != 1:
        return None
    value = values[0].strip()
    if not value.isascii() or not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
        return None
    return int(value)


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    """The request body's chunks as they arrive; ``ConnectionResetError`` if the sender left."""
    while True:
        message = await receive()
        kind = message.get("type")
        if kind == "http.disconnect":
            raise ConnectionResetError("the sender hung up before its body ended")
        if kind != "http.request":
            continue
        body = message.get("body", b"")
        if isinstance(body, bytes | bytearray) and body:
            yield bytes(body)
        if not message.get("more_body", False):
            return


async def _respond(send: Send, reply: WebhookReply, *extra: tuple[bytes, bytes]) -> None:
    """Send ``reply``; a sender that already hung up is not an error."""
    content = reply.content()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode("ascii")),
        *extra,
    ]
    if reply.close_connection:
        headers.append((b"connection", b"close"))
    with contextlib.suppress(OSError):
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

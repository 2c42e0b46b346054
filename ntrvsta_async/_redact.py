"""The one place secrets are masked: in error texts and in the SDK's log records.

Every layer that holds a secret (the API key, a webhook secret, a Redis or database
password) registers it with ``register_secret`` and keeps the returned handle for as long as
it holds the secret; ``scrub`` then masks it in any text, wherever that text came from (a
server echoing the key in a header, a parser quoting raw bytes). Not only the whole secret
is masked: so is every piece of it longer than the ``KEY_PREFIX_SHOWN`` characters a repr
may show, which covers truncated echoes.

The registry holds the secrets weakly (through their handles), so it never grows past the
secrets in use. A secret shorter than ``_MIN_SECRET`` characters is not registered: it
cannot be told apart from ordinary text.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "KEY_PREFIX_SHOWN",
    "MASK",
    "SecretHandle",
    "redact_url",
    "register_secret",
    "scrub",
    "sdk_logger",
    "url_password",
]

KEY_PREFIX_SHOWN: Final = 6
"""OP-3: how many leading characters of a key may appear in a repr or a log line."""

MASK: Final = "[redacted]"
"""What a masked secret (or a piece of one) reads as."""

_MIN_SECRET: Final = 4


class SecretHandle:
    """Keeps a registered secret masked for as long as the handle is alive."""

    __slots__ = ("__weakref__", "value")

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "SecretHandle([redacted])"


_registry: weakref.WeakValueDictionary[str, SecretHandle] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def register_secret(value: str) -> SecretHandle:
    """Mask ``value`` in every error text and SDK log record while the handle is kept."""
    with _lock:
        handle = _registry.get(value)
        if handle is None:
            handle = SecretHandle(value)
            if len(value) >= _MIN_SECRET:
                _registry[value] = handle
    return handle


@functools.lru_cache(maxsize=8)
def _pieces(secrets: frozenset[str]) -> tuple[tuple[int, frozenset[str]], ...]:
    """For each piece length, every piece of the secrets that must not appear in text.

    The shortest piece masked is one character more than a repr may show of a key.
    """
    by_width: dict[int, set[str]] = {}
    for secret in secrets:
        width = min(KEY_PREFIX_SHOWN + 1, len(secret))
        pieces = by_width.setdefault(width, set())
        pieces.update(secret[i : i + width] for i in range(len(secret) - width + 1))
    return tuple((width, frozenset(pieces)) for width, pieces in sorted(by_width.items()))


def scrub(text: str) -> str:
    """``text`` with every registered secret, and every long enough piece of one, masked."""
    secrets = frozenset(_registry.keys())
    if not secrets or not text:
        return text
    masked = bytearray(len(text))
    found = False
    for width, pieces in _pieces(secrets):
        for start in range(len(text) - width + 1):
            if text[start : start + width] in pieces:
                masked[start : start + width] = b"\x01" * width
                found = True
    if not found:
        return text
    out: list[str] = []
    for index, char in enumerate(text):
        if not masked[index]:
            out.append(char)
        elif index == 0 or not masked[index - 1]:
            out.append(MASK)
    return "".join(out)


class _ScrubFilter(logging.Filter):
    """Masks secrets in a record's message, traceback and stack, in place.

    In place, so that the handlers the record reaches next (the application's) see it
    masked too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _registry:
            return True
        try:
            message = record.getMessage()
        except Exception:
            return True  # a broken record is the handler's to report
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_FILTER: Final = _ScrubFilter()


def sdk_logger(name: str) -> logging.Logger:
    """The SDK logger ``name`` (under ``ntrvsta_async``), with secrets masked in its records."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


class _ScrubHandler(logging.Handler):
    """Writes nothing: it is there for its filter, which masks every record passing by."""

    def emit(self, record: logging.LogRecord) -> None:
        """Nothing to write: the record goes on to the application's handlers."""


def _install() -> None:
    """Give the package's top logger a handler that only runs the filter.

    A logger's filters do not see records of its child loggers, but its handlers do, before
    the application's handlers further up: so a record from any logger under
    ``ntrvsta_async`` is masked before it leaves the package. (Like the NullHandler the
    standard library advises libraries to add, it writes nothing.)
    """
    top = sdk_logger("ntrvsta_async")
    if not any(isinstance(handler, _ScrubHandler) for handler in top.handlers):
        handler = _ScrubHandler()
        handler.addFilter(_FILTER)
        top.addHandler(handler)


_install()


def redact_url(url: str) -> str:
    """A store URL (Redis, PostgreSQL) without its password and query (which may carry
    one), for logs, errors and reprs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unreadable url>"
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    if parts.password is not None:
        user = f"{parts.username or ''}:***@"
    where = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{user}{where}{parts.path}"


def url_password(url: str) -> str | None:
    """The password in a store URL, also when the URL is otherwise unreadable."""
    try:
        return urlsplit(url).password
    except ValueError:
        rest = url.split("://", 1)[-1].split("@", 1)
        return rest[0].split(":", 1)[-1] if len(rest) == 2 else None

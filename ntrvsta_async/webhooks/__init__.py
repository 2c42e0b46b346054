"""Verifying and receiving NTRVSTA ``result.completed`` webhook deliveries.

The verifier and ``sign`` load at once; the receiver and its ASGI and aiohttp adapters load
on first use, so code that only verifies never imports aiohttp's server side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

from ntrvsta_async.webhooks.signing import sign
from ntrvsta_async.webhooks.verifier import (
    DEFAULT_MAX_BODY_SIZE,
    SignatureScheme,
    UnknownEvent,
    WebhookEvent,
    WebhookVerifier,
)

if TYPE_CHECKING:
    from ntrvsta_async.webhooks.aiohttp_handler import (
        WebhookRequestHandler,
        setup_webhooks,
        track_webhook_tasks,
        webhook_handler,
    )
    from ntrvsta_async.webhooks.asgi import WebhookASGIApp
    from ntrvsta_async.webhooks.receiver import (
        DEFAULT_CLAIM_TTL,
        DEFAULT_DRAIN_TIMEOUT,
        DEFAULT_READ_TIMEOUT,
        EventCallback,
        WebhookReceiver,
        WebhookReply,
    )

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_READ_TIMEOUT",
    "EventCallback",
    "SignatureScheme",
    "UnknownEvent",
    "WebhookASGIApp",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookReply",
    "WebhookRequestHandler",
    "WebhookVerifier",
    "setup_webhooks",
    "sign",
    "track_webhook_tasks",
    "webhook_handler",
]

_LAZY: Final = {
    "DEFAULT_CLAIM_TTL": "receiver",
    "DEFAULT_DRAIN_TIMEOUT": "receiver",
    "DEFAULT_READ_TIMEOUT": "receiver",
    "EventCallback": "receiver",
    "WebhookReceiver": "receiver",
    "WebhookReply": "receiver",
    "WebhookASGIApp": "asgi",
    "WebhookRequestHandler": "aiohttp_handler",
    "setup_webhooks": "aiohttp_handler",
    "track_webhook_tasks": "aiohttp_handler",
    "webhook_handler": "aiohttp_handler",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:  # every other public name was imported above
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Verifying and receiving NTRVSTA ``result.completed`` webhook deliveries.

The verifier and ``sign`` load at once; the aiohttp receiver loads on first use, so code that
only verifies (in another web framework) never imports aiohttp's server side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ntrvsta_async.webhooks.signing import sign
from ntrvsta_async.webhooks.verifier import (
    DEFAULT_MAX_BODY_SIZE,
    SignatureScheme,
    UnknownEvent,
    WebhookEvent,
    WebhookVerifier,
)

if TYPE_CHECKING:
    from ntrvsta_async.webhooks.receiver import (
        DEFAULT_CLAIM_TTL,
        DEFAULT_DRAIN_TIMEOUT,
        DEFAULT_READ_TIMEOUT,
        EventCallback,
        WebhookRequestHandler,
        setup_webhooks,
        track_webhook_tasks,
        webhook_handler,
    )

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_DRAIN_TIMEOUT",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_READ_TIMEOUT",
    "EventCallback",
    "SignatureScheme",
    "UnknownEvent",
    "WebhookEvent",
    "WebhookRequestHandler",
    "WebhookVerifier",
    "setup_webhooks",
    "sign",
    "track_webhook_tasks",
    "webhook_handler",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:  # every other public name was imported above
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.receiver"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Verifying and receiving NTRVSTA ``result.completed`` webhook deliveries."""

from __future__ import annotations

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
from ntrvsta_async.webhooks.signing import sign
from ntrvsta_async.webhooks.verifier import (
    DEFAULT_MAX_BODY_SIZE,
    SignatureScheme,
    UnknownEvent,
    WebhookEvent,
    WebhookVerifier,
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

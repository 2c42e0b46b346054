"""The inbox: the dedup and checkpoint store shared by the webhook receiver and the poller.

``Inbox`` is the base class a backend subclasses; ``MemoryInbox`` lives here, and the
durable backends (``SQLiteInbox``, ``RedisInbox``, ``PostgresInbox``) are loaded on first
use, so importing the inbox (or the webhook receiver) loads no driver and no backend.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ntrvsta_async.inbox.base import (
    Claim,
    ClaimState,
    Inbox,
    ResultKeys,
    claim_settled,
    result_keys,
    settle,
)
from ntrvsta_async.inbox.memory import MemoryInbox

if TYPE_CHECKING:
    from ntrvsta_async.inbox.postgres import (
        AlreadyHandledError,
        PostgresInbox,
        current_connection,
        schema_sql,
    )
    from ntrvsta_async.inbox.redis import RedisInbox
    from ntrvsta_async.inbox.sqlite import SQLiteInbox

__all__ = [
    "AlreadyHandledError",
    "Claim",
    "ClaimState",
    "Inbox",
    "MemoryInbox",
    "PostgresInbox",
    "RedisInbox",
    "ResultKeys",
    "SQLiteInbox",
    "claim_settled",
    "current_connection",
    "result_keys",
    "schema_sql",
    "settle",
]

_BACKENDS = {
    "SQLiteInbox": "ntrvsta_async.inbox.sqlite",
    "RedisInbox": "ntrvsta_async.inbox.redis",
    "PostgresInbox": "ntrvsta_async.inbox.postgres",
    "AlreadyHandledError": "ntrvsta_async.inbox.postgres",
    "current_connection": "ntrvsta_async.inbox.postgres",
    "schema_sql": "ntrvsta_async.inbox.postgres",
}


def __getattr__(name: str) -> Any:
    """Load a durable backend on first use."""
    module = _BACKENDS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

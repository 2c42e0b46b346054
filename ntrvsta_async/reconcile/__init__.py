"""Reconciliation: the results poller, leader leases, and (re-exported from
``ntrvsta_async.inbox``) the inbox shared with the webhook receiver.

The durable inbox backends and the leases are loaded on first use, like their drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ntrvsta_async.inbox import (
    Claim,
    ClaimState,
    Inbox,
    MemoryInbox,
    ResultKeys,
    result_keys,
)
from ntrvsta_async.reconcile.lease import Lease, RenewingLease
from ntrvsta_async.reconcile.poller import Partition, ResultHandler, ResultPoller, poller_context
from ntrvsta_async.reconcile.report import ReconcileReport

if TYPE_CHECKING:
    from ntrvsta_async.inbox.postgres import (
        AlreadyHandledError,
        PostgresInbox,
        current_connection,
        schema_sql,
    )
    from ntrvsta_async.inbox.redis import RedisInbox
    from ntrvsta_async.inbox.sqlite import SQLiteInbox
    from ntrvsta_async.reconcile.postgres_lease import PostgresLease
    from ntrvsta_async.reconcile.redis_lease import RedisLease

__all__ = [
    "AlreadyHandledError",
    "Claim",
    "ClaimState",
    "Inbox",
    "Lease",
    "MemoryInbox",
    "Partition",
    "PostgresInbox",
    "PostgresLease",
    "ReconcileReport",
    "RedisInbox",
    "RedisLease",
    "RenewingLease",
    "ResultHandler",
    "ResultKeys",
    "ResultPoller",
    "SQLiteInbox",
    "current_connection",
    "poller_context",
    "result_keys",
    "schema_sql",
]

# The durable backends load on first use through ``ntrvsta_async.inbox``, which knows where
# each lives; the leases load from here.
_LAZY = {
    "SQLiteInbox": "ntrvsta_async.inbox",
    "RedisInbox": "ntrvsta_async.inbox",
    "PostgresInbox": "ntrvsta_async.inbox",
    "AlreadyHandledError": "ntrvsta_async.inbox",
    "current_connection": "ntrvsta_async.inbox",
    "schema_sql": "ntrvsta_async.inbox",
    "RedisLease": "ntrvsta_async.reconcile.redis_lease",
    "PostgresLease": "ntrvsta_async.reconcile.postgres_lease",
}


def __getattr__(name: str) -> Any:
    """Load a durable inbox backend or a lease on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

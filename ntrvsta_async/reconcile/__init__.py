"""Reconciliation: the inbox shared by the webhook receiver and the results poller."""

from __future__ import annotations

from ntrvsta_async.reconcile.inbox import (
    Claim,
    ClaimState,
    Inbox,
    MemoryInbox,
    ResultKeys,
    result_keys,
)
from ntrvsta_async.reconcile.lease import Lease, RenewingLease
from ntrvsta_async.reconcile.poller import Partition, ResultHandler, ResultPoller, poller_context
from ntrvsta_async.reconcile.postgres_inbox import (
    AlreadyHandledError,
    PostgresInbox,
    current_connection,
    schema_sql,
)
from ntrvsta_async.reconcile.postgres_lease import PostgresLease
from ntrvsta_async.reconcile.redis_inbox import RedisInbox
from ntrvsta_async.reconcile.redis_lease import RedisLease
from ntrvsta_async.reconcile.report import ReconcileReport
from ntrvsta_async.reconcile.sqlite_inbox import SQLiteInbox

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

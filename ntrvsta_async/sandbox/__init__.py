"""An in-memory NTRVSTA server for demos, tests and benchmarks: no network, no account.

``SandboxServer`` speaks the ``/v1`` contract of docs/contract.md (spec/openapi.yaml), delivers
signed ``result.completed`` webhooks, and misbehaves on purpose according to a seeded
``FaultPlan``.
"""

from __future__ import annotations

from ntrvsta_async.sandbox.app import InjectedFault
from ntrvsta_async.sandbox.delivery import (
    DeliveredEvent,
    DeliveryAttempt,
    DeliveryStats,
    WebhookDispatcher,
    WebhookRetryPolicy,
)
from ntrvsta_async.sandbox.faults import (
    ROUTES,
    FaultInjector,
    FaultPlan,
    RequestFault,
    RouteFaults,
    WebhookFault,
    WebhookFaults,
)
from ntrvsta_async.sandbox.server import CompletedResult, SandboxOrganization, SandboxServer
from ntrvsta_async.sandbox.threaded import ThreadedSandbox

__all__ = [
    "ROUTES",
    "CompletedResult",
    "DeliveredEvent",
    "DeliveryAttempt",
    "DeliveryStats",
    "FaultInjector",
    "FaultPlan",
    "InjectedFault",
    "RequestFault",
    "RouteFaults",
    "SandboxOrganization",
    "SandboxServer",
    "ThreadedSandbox",
    "WebhookDispatcher",
    "WebhookFault",
    "WebhookFaults",
    "WebhookRetryPolicy",
]

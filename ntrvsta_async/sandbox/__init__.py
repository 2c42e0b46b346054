"""An in-memory NTRVSTA server for demos, tests and benchmarks: no network, no account.

``SandboxServer`` speaks the ``/v1`` contract of docs/contract.md (spec/openapi.yaml), delivers
signed ``result.completed`` webhooks, and misbehaves on purpose according to a seeded
``FaultPlan``.
"""

from __future__ import annotations

from .app import InjectedFault
from .delivery import (
    DeliveredEvent,
    DeliveryAttempt,
    DeliveryStats,
    WebhookDispatcher,
    WebhookRetryPolicy,
)
from .faults import (
    ROUTES,
    FaultInjector,
    FaultPlan,
    RequestFault,
    RouteFaults,
    WebhookFault,
    WebhookFaults,
)
from .server import CompletedResult, SandboxOrganization, SandboxServer
from .threaded import ThreadedSandbox

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

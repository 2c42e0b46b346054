"""Asyncio-first SDK for the NTRVSTA External Integrations API.

Names are imported on first use, so ``import ntrvsta_async`` stays cheap and code that only
needs models, errors or webhook verification never loads the HTTP stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ntrvsta_async._version import __version__

if TYPE_CHECKING:
    from ntrvsta_async.assumptions import Contract
    from ntrvsta_async.client import NtrvstaClient
    from ntrvsta_async.errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConflictError,
        InboxError,
        InvalidArgumentError,
        NotFoundError,
        NtrvstaError,
        PermissionDeniedError,
        RateLimitError,
        ResponseTooLargeError,
        ResponseValidationError,
        ServerError,
        UnprocessableEntityError,
        WaitTimeoutError,
        WebhookVerificationError,
    )
    from ntrvsta_async.models import (
        AiAnalysis,
        Candidate,
        CandidateLike,
        InterviewTiming,
        Invitation,
        Page,
        ResultCompletedEvent,
        ResultSummary,
        ScoreCategory,
        Scoring,
        Template,
        TemplateRef,
    )
    from ntrvsta_async.resources.bulk import BulkOutcome, BulkResult, BulkRun, InvitationRequest
    from ntrvsta_async.transport import RetryPolicy

_EXPORTS: dict[str, str] = {
    "Contract": "assumptions",
    "NtrvstaClient": "client",
    "APIConnectionError": "errors",
    "APIError": "errors",
    "APIStatusError": "errors",
    "APITimeoutError": "errors",
    "AuthenticationError": "errors",
    "BadRequestError": "errors",
    "ConfigurationError": "errors",
    "ConflictError": "errors",
    "InboxError": "errors",
    "InvalidArgumentError": "errors",
    "NotFoundError": "errors",
    "NtrvstaError": "errors",
    "PermissionDeniedError": "errors",
    "RateLimitError": "errors",
    "ResponseTooLargeError": "errors",
    "ResponseValidationError": "errors",
    "ServerError": "errors",
    "UnprocessableEntityError": "errors",
    "WaitTimeoutError": "errors",
    "WebhookVerificationError": "errors",
    "AiAnalysis": "models",
    "Candidate": "models",
    "CandidateLike": "models",
    "InterviewTiming": "models",
    "Invitation": "models",
    "Page": "models",
    "ResultCompletedEvent": "models",
    "ResultSummary": "models",
    "ScoreCategory": "models",
    "Scoring": "models",
    "Template": "models",
    "TemplateRef": "models",
    "BulkOutcome": "resources.bulk",
    "BulkResult": "resources.bulk",
    "BulkRun": "resources.bulk",
    "InvitationRequest": "resources.bulk",
    "RetryPolicy": "transport",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AiAnalysis",
    "AuthenticationError",
    "BadRequestError",
    "BulkOutcome",
    "BulkResult",
    "BulkRun",
    "Candidate",
    "CandidateLike",
    "ConfigurationError",
    "ConflictError",
    "Contract",
    "InboxError",
    "InterviewTiming",
    "InvalidArgumentError",
    "Invitation",
    "InvitationRequest",
    "NotFoundError",
    "NtrvstaClient",
    "NtrvstaError",
    "Page",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ResultCompletedEvent",
    "ResultSummary",
    "RetryPolicy",
    "ScoreCategory",
    "Scoring",
    "ServerError",
    "Template",
    "TemplateRef",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "WebhookVerificationError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        if name.startswith("__"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

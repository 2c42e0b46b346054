"""Every contract point the public NTRVSTA docs leave open, with the value the SDK assumes.

Each constant names the open point (OP-n, in docs/contract.md) it stands for. When a
live environment shows otherwise, correct it here (or override it per client) rather than
anywhere else in the package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import attrs

from ntrvsta_async import _redact
from ntrvsta_async._checks import is_success_status
from ntrvsta_async.errors import ConfigurationError

#: OP-1: the one documented base URL (production). Other environments come from the user.
DEFAULT_BASE_URL: Final = "https://partners.ntrvsta.com"
#: OP-1: environment variables consulted when the client gets no explicit value.
ENV_API_KEY: Final = "NTRVSTA_API_KEY"
ENV_BASE_URL: Final = "NTRVSTA_BASE_URL"
#: The webhook signing secret(s), separated by commas and/or whitespace while rotating.
ENV_WEBHOOK_SECRET: Final = "NTRVSTA_WEBHOOK_SECRET"  # noqa: S105 - a variable name

#: Documented routes, relative to the base URL (which may carry a stage path).
TEMPLATES_PATH: Final = "/v1/templates"
RESULTS_PATH: Final = "/v1/interview-results"
#: OP-2: the invitation path is not in the stored docs. A ``{templateId}`` placeholder in
#: an overriding path (``/v1/templates/{templateId}/invitations``) is filled per call.
INVITATIONS_PATH: Final = "/v1/interview-invitations"
#: The one placeholder an invitation path may carry.
TEMPLATE_ID_PLACEHOLDER: Final = "{templateId}"

#: OP-3: both header forms are documented; the docs' example uses the first.
API_KEY_HEADER: Final = "X-Ntrvsta-Api-Key"
#: OP-3: how many leading characters of a key may appear in a repr or a log line (the
#: masking rule's own number, kept with it).
KEY_PREFIX_SHOWN: Final = _redact.KEY_PREFIX_SHOWN

#: OP-8: query parameter names for paging and filtering results.
PARAM_LIMIT: Final = "limit"
PARAM_CURSOR: Final = "cursor"
PARAM_TEMPLATE_ID: Final = "templateId"
PARAM_EXTERNAL_POSTING_ID: Final = "externalPostingId"
PARAM_COMPLETED_AFTER: Final = "completedAfter"
#: OP-8: keys a results page may hold its array under, tried in order.
PAGE_ITEMS_KEYS: Final = ("items", "data", "results")
#: OP-8: keys a results page may hold its continuation token under, tried in order.
PAGE_CURSOR_KEYS: Final = ("nextCursor", "next_cursor", "cursor", "nextPageToken")
#: OP-8: a page key named like a continuation token. One holding a string where none of the
#: contract's cursor keys is present means the server pages under a name it does not read.
TOKEN_KEY_PATTERN: Final = re.compile(r"cursor|token|next|after|continu|marker", re.IGNORECASE)

#: OP-4: status codes that tell a created object from a reused one. A ``Contract`` may set
#: either to None when the status says nothing: ``reused`` then comes from a body flag only.
STATUS_CREATED: Final = 201
STATUS_REUSED: Final = 200

#: OP-11: statuses retried with back-off (docs/contract.md#op-11).
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
#: OP-11: default number of retries after the first attempt.
DEFAULT_MAX_RETRIES: Final = 2
#: OP-11: a Retry-After longer than this is not slept through; the error is raised instead.
DEFAULT_MAX_RETRY_AFTER: Final = 60.0

#: OP-17: default request timeouts in seconds.
DEFAULT_TIMEOUT_TOTAL: Final = 60.0
DEFAULT_TIMEOUT_CONNECT: Final = 10.0
#: The largest response body a client reads, in bytes after decompression (64 MiB).
DEFAULT_MAX_RESPONSE_SIZE: Final = 64 * 1024 * 1024

#: OP-10: response headers that may carry a request id, tried in order.
REQUEST_ID_HEADERS: Final = ("x-request-id", "x-amzn-requestid", "x-amz-apigw-id")

#: OP-12 / OP-13 / OP-14: webhook delivery headers.
WEBHOOK_SIGNATURE_HEADER: Final = "X-Ntrvsta-Signature"
WEBHOOK_IDEMPOTENCY_HEADER: Final = "X-Ntrvsta-Idempotency-Key"
WEBHOOK_EVENT_HEADER: Final = "X-Ntrvsta-Event"
WEBHOOK_TIMESTAMP_HEADER: Final = "X-Ntrvsta-Timestamp"
#: OP-12 / OP-15: the one partner event type.
RESULT_COMPLETED_EVENT: Final = "result.completed"
#: OP-13: tolerance in seconds for a signed timestamp.
WEBHOOK_TOLERANCE: Final = 300


# A wrong Contract field is a wrong setting: each validator raises ConfigurationError.


def _path(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.startswith("/"):
        raise ConfigurationError(f"{attribute.name} must be a path starting with '/'")


def _invitations_path(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    _path(instance, attribute, value)
    if "{" in value.replace(TEMPLATE_ID_PLACEHOLDER, ""):
        raise ConfigurationError(
            f"{attribute.name} may hold no placeholder but {TEMPLATE_ID_PLACEHOLDER}"
        )


def _name(_: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{attribute.name} must be a non-empty string")


def _as_keys(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ConfigurationError("page keys must be a string or strings") from None


def _keys(_: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    if not value or not all(isinstance(key, str) and key for key in value):
        raise ConfigurationError(f"{attribute.name} must hold at least one non-empty key")


def _success_or_none(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not is_success_status(value):
        raise ConfigurationError(f"{attribute.name} must be a 2xx status code or None")


@attrs.frozen
class Contract:
    """The assumed wire contract in one object, so a client can be told otherwise.

    Every field defaults to the constant above; pass ``NtrvstaClient(contract=Contract(...))``
    with the values a live environment shows (``ntrvsta doctor`` names them). A status set to
    None is not read: ``reused`` then comes from a ``reused``/``created`` body flag, or is None.
    """

    templates_path: str = attrs.field(default=TEMPLATES_PATH, validator=_path)
    invitations_path: str = attrs.field(default=INVITATIONS_PATH, validator=_invitations_path)
    results_path: str = attrs.field(default=RESULTS_PATH, validator=_path)
    api_key_header: str = attrs.field(default=API_KEY_HEADER, validator=_name)
    page_items_keys: tuple[str, ...] = attrs.field(
        default=PAGE_ITEMS_KEYS, converter=_as_keys, validator=_keys
    )
    page_cursor_keys: tuple[str, ...] = attrs.field(
        default=PAGE_CURSOR_KEYS, converter=_as_keys, validator=_keys
    )
    param_limit: str = attrs.field(default=PARAM_LIMIT, validator=_name)
    param_cursor: str = attrs.field(default=PARAM_CURSOR, validator=_name)
    param_template_id: str = attrs.field(default=PARAM_TEMPLATE_ID, validator=_name)
    param_external_posting_id: str = attrs.field(default=PARAM_EXTERNAL_POSTING_ID, validator=_name)
    param_completed_after: str = attrs.field(default=PARAM_COMPLETED_AFTER, validator=_name)
    status_created: int | None = attrs.field(default=STATUS_CREATED, validator=_success_or_none)
    status_reused: int | None = attrs.field(default=STATUS_REUSED, validator=_success_or_none)


DEFAULT_CONTRACT: Final = Contract()
"""The contract as the docs are read today."""

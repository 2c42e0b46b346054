"""Every contract point the public NTRVSTA docs leave open, with the value the SDK assumes.

Each constant names the open point (OP-n) of the API description it stands for. When a
live environment shows otherwise, correct it here (or override it per client) rather than
anywhere else in the package.
"""

from __future__ import annotations

from typing import Final

#: OP-1: the one documented base URL (production). Other environments come from the user.
DEFAULT_BASE_URL: Final = "https://partners.ntrvsta.com"
#: OP-1: environment variables consulted when the client gets no explicit value.
ENV_API_KEY: Final = "NTRVSTA_API_KEY"
ENV_BASE_URL: Final = "NTRVSTA_BASE_URL"

#: Documented routes, relative to the base URL (which may carry a stage path).
TEMPLATES_PATH: Final = "/v1/templates"
RESULTS_PATH: Final = "/v1/interview-results"
#: OP-2: the invitation path is not in the stored docs.
INVITATIONS_PATH: Final = "/v1/interview-invitations"

#: OP-3: both header forms are documented; the docs' example uses the first.
API_KEY_HEADER: Final = "X-Ntrvsta-Api-Key"
#: OP-3: how many leading characters of a key may appear in a repr or a log line.
KEY_PREFIX_SHOWN: Final = 6

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

#: OP-4: status codes that tell a created object from a reused one.
STATUS_CREATED: Final = 201
STATUS_REUSED: Final = 200

#: OP-11: statuses retried with back-off (SDK.md, Retries).
RETRYABLE_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
#: OP-11: default number of retries after the first attempt.
DEFAULT_MAX_RETRIES: Final = 2
#: OP-11: a Retry-After longer than this is not slept through; the error is raised instead.
DEFAULT_MAX_RETRY_AFTER: Final = 60.0

#: OP-17: default request timeouts in seconds.
DEFAULT_TIMEOUT_TOTAL: Final = 60.0
DEFAULT_TIMEOUT_CONNECT: Final = 10.0

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

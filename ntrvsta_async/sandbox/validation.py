"""Checking request bodies and query strings the way the sandbox's contract says.

Malformed input (bad JSON, a body that is not an object, a missing required field, a
wrong JSON type, a bad query value) is a 400; well-typed but unacceptable values (an
empty title, a non-positive day count, an address without ``@``) are a 422.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import attrs

from ntrvsta_async._checks import is_email_address

__all__ = [
    "CandidateInput",
    "InvitationInput",
    "RequestError",
    "ResultsQuery",
    "TemplateInput",
    "parse_invitation",
    "parse_json_body",
    "parse_results_query",
    "parse_template",
]

DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 100

_RFC3339: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
_DIGITS: Final = re.compile(r"[0-9]{1,9}")
_JSON_MEDIA_TYPE: Final = re.compile(r"application/(?:[\w.+-]+\+)?json", re.IGNORECASE)


class RequestError(Exception):
    """A request the sandbox refuses, with the status and the JSON error body to send."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON error body: ``message`` and ``code``, plus ``details`` naming the field."""
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.field is not None:
            out["details"] = {"field": self.field}
        return out


def _bad(field: str, message: str) -> RequestError:
    return RequestError(400, "invalid_request", message, field=field)


def _unprocessable(field: str, message: str) -> RequestError:
    return RequestError(422, "validation_failed", message, field=field)


@attrs.frozen
class TemplateInput:
    """A validated ``POST /v1/templates`` body."""

    title: str
    description: str | None = None
    external_posting_id: str | None = None
    invite_url_expires_in_days: int = 30
    whiteboard_design: bool = False


@attrs.frozen
class CandidateInput:
    """A validated ``candidate`` object; ``wire`` is what the sandbox echoes back."""

    email: str
    wire: Mapping[str, str]


@attrs.frozen
class InvitationInput:
    """A validated ``POST /v1/interview-invitations`` body."""

    template_id: str
    candidate: CandidateInput
    language: str | None = None
    avatar: str | None = None


@attrs.frozen
class ResultsQuery:
    """Validated ``GET /v1/interview-results`` query parameters (the cursor still opaque)."""

    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    template_id: str | None = None
    external_posting_id: str | None = None
    completed_after: datetime | None = None


def parse_json_body(content_type: str, raw: bytes) -> dict[str, Any]:
    """Decode a JSON object body, or raise a 400 ``RequestError`` saying what is wrong."""
    if not _JSON_MEDIA_TYPE.fullmatch(content_type.split(";", 1)[0].strip()):
        raise RequestError(400, "unsupported_media_type", "Content-Type must be application/json")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestError(400, "invalid_json", "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise RequestError(400, "invalid_json", "request body must be a JSON object")
    return data


def _string(body: Mapping[str, Any], key: str, path: str) -> str | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, str):
        raise _bad(path, f"{path} must be a string")
    return value


def _required_string(body: Mapping[str, Any], key: str, path: str) -> str:
    value = _string(body, key, path)
    if value is None:
        raise _bad(path, f"{path} is required")
    return value


def _positive_int(body: Mapping[str, Any], key: str) -> int | None:
    if key not in body:
        return None
    value = body[key]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(key, f"{key} must be an integer")
    if value < 1:
        raise _unprocessable(key, f"{key} must be a positive integer")
    return value


def _boolean(body: Mapping[str, Any], key: str) -> bool | None:
    if key not in body:
        return None
    value = body[key]
    if not isinstance(value, bool):
        raise _bad(key, f"{key} must be a boolean")
    return value


def parse_template(body: Mapping[str, Any]) -> TemplateInput:
    """Validate a template body (OP-5, OP-7); unknown fields are accepted and ignored."""
    title = _required_string(body, "title", "title")
    if not title:
        raise _unprocessable("title", "title must not be empty")
    days = _positive_int(body, "inviteUrlExpiresInDays")
    whiteboard = _boolean(body, "whiteboardDesign")
    return TemplateInput(
        title=title,
        description=_string(body, "description", "description"),
        external_posting_id=_string(body, "externalPostingId", "externalPostingId"),
        invite_url_expires_in_days=30 if days is None else days,
        whiteboard_design=bool(whiteboard),
    )


_CANDIDATE_FIELDS: Final = ("email", "firstName", "lastName", "externalCandidateId")


def _candidate(body: Mapping[str, Any]) -> CandidateInput:
    if "candidate" not in body:
        raise _bad("candidate", "candidate is required")
    raw = body["candidate"]
    if not isinstance(raw, dict):
        raise _bad("candidate", "candidate must be an object")
    email = _required_string(raw, "email", "candidate.email")
    wire: dict[str, str] = {}
    for key in _CANDIDATE_FIELDS:
        value = _string(raw, key, f"candidate.{key}")
        if value is not None:
            wire[key] = value
    if not is_email_address(email):
        raise _unprocessable(
            "candidate.email", "candidate.email must be an email address (one @, no spaces)"
        )
    return CandidateInput(email=email, wire=wire)


def parse_invitation(body: Mapping[str, Any]) -> InvitationInput:
    """Validate an invitation body (OP-2, OP-6): ``templateId`` and a nested ``candidate``."""
    template_id = _required_string(body, "templateId", "templateId")
    candidate = _candidate(body)
    return InvitationInput(
        template_id=template_id,
        candidate=candidate,
        language=_string(body, "language", "language"),
        avatar=_string(body, "avatar", "avatar"),
    )


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(value):
        raise _bad("limit", "limit must be an integer")
    limit = int(value)
    if not 1 <= limit <= MAX_LIMIT:
        raise _bad("limit", f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_timestamp(value: str) -> datetime:
    """Parse an RFC 3339 date-time (``2024-05-01T10:00:00Z``, offset required) into UTC.

    Raises ``ValueError`` for anything else: a bare date, a time without an offset, an
    impossible date. A leap second and instants beyond the datetime range are clamped.
    """
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError("not an RFC 3339 date-time with an offset")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, offset = match.group(7), match.group(8)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz: timezone = UTC
    if offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError("timestamp offset out of range")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    if second > 60:
        raise ValueError("seconds out of range")
    if year == 0:
        return datetime.min.replace(tzinfo=UTC)
    parsed = datetime(year, month, day, hour, minute, min(second, 59), micro, tzinfo=tz)
    return _to_utc(parsed)


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        extreme = datetime.min if value.year < 5000 else datetime.max
        return extreme.replace(tzinfo=UTC)


def parse_results_query(query: Mapping[str, str]) -> ResultsQuery:
    """Validate the results query (OP-8); unknown parameters are ignored."""
    completed_after: datetime | None = None
    raw_after = query.get("completedAfter")
    if raw_after is not None:
        try:
            completed_after = parse_timestamp(raw_after)
        except ValueError:
            raise _bad(
                "completedAfter",
                "completedAfter must be an RFC 3339 date-time with an offset"
                " (2024-05-01T10:00:00Z)",
            ) from None
    cursor = query.get("cursor") or None
    return ResultsQuery(
        limit=_limit(query.get("limit")),
        cursor=cursor,
        template_id=query.get("templateId"),
        external_posting_id=query.get("externalPostingId"),
        completed_after=completed_after,
    )

"""Typed views of what the API sends and takes: frozen attrs classes built by one converter.

Unknown fields are never an error: they are kept in ``extra`` and written back by
``to_dict()``. Fields the server did not send are ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ntrvsta_async._converter import structure, to_wire
from ntrvsta_async._redact import scrub

__all__ = [
    "AiAnalysis",
    "Candidate",
    "CandidateLike",
    "InterviewTiming",
    "Invitation",
    "Page",
    "ResultCompletedEvent",
    "ResultSummary",
    "ScoreCategory",
    "Scoring",
    "Template",
    "TemplateRef",
]

T = TypeVar("T")


def _extra() -> Any:
    return attrs.field(factory=dict, kw_only=True, repr=False, eq=True)


class _Model:
    """Shared behaviour: wire-shaped output, construction from decoded JSON, and a repr
    with registered secrets masked (a server may echo the key into any field)."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        generated = cls.__dict__.get("__repr__")
        if generated is not None and not getattr(generated, "_scrubbed", False):

            def __repr__(self: object) -> str:
                return scrub(generated(self))

            __repr__._scrubbed = True  # type: ignore[attr-defined]
            cls.__repr__ = __repr__  # type: ignore[method-assign]

    def to_dict(self) -> dict[str, Any]:
        """This object as camelCase JSON, with unknown fields written back."""
        return to_wire(self)

    @classmethod
    def from_dict(cls: type[_M], data: Any) -> _M:
        """Build from decoded JSON; raises ``ResponseValidationError`` naming the bad path."""
        return structure(data, cls)


_M = TypeVar("_M", bound=_Model)


def _result_ids(result_id: str | None, result_url: str | None) -> tuple[str, ...]:
    """A result's ids that are present, ``result_id`` first: together they are one identity."""
    return tuple(dict.fromkeys(value for value in (result_id, result_url) if value))


@attrs.frozen
class Candidate(_Model):
    """A candidate's identity; ``email`` is what makes two invitations the same (OP-6)."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    external_candidate_id: str | None = None
    extra: dict[str, Any] = _extra()


CandidateLike = Candidate | Mapping[str, Any]
"""A ``Candidate`` or a mapping with the same (snake_case) keys."""


@attrs.frozen
class Template(_Model):
    """An interview template; ``reused`` tells an existing one (True) from a new one (False)."""

    template_id: str = attrs.field(metadata={"aliases": ("id",)})
    title: str | None = None
    description: str | None = None
    external_posting_id: str | None = None
    invite_url_expires_in_days: int | None = None
    whiteboard_design: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    reused: bool | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen
class Invitation(_Model):
    """A candidate's invitation to a template; ``reused`` as for ``Template``."""

    invitation_id: str = attrs.field(metadata={"aliases": ("id",)})
    template_id: str | None = None
    candidate: Candidate | None = None
    invite_url: str | None = None
    invite_url_expires_at: datetime | None = None
    status: str | None = None
    created_at: datetime | None = None
    reused: bool | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen
class ResultSummary(_Model):
    """The minimal summary polling returns; the full result arrives only by webhook.

    ``completed_at`` is an aware ``datetime`` when the server's value reads as a timestamp;
    any other value is kept as text (OP-18) rather than refusing the result:
    ``completed_datetime`` is the value as a datetime, or None.
    """

    result_id: str | None = None
    result_url: str | None = None
    overall_score: float | None = None
    completed_at: datetime | str | None = None
    template_id: str | None = None
    external_posting_id: str | None = None
    invitation_id: str | None = None
    candidate: Candidate | None = None
    status: str | None = None
    extra: dict[str, Any] = _extra()

    def __attrs_post_init__(self) -> None:
        if self.result_id is None and self.result_url is None:
            raise ValueError("a result summary needs resultId or resultUrl")

    @property
    def key(self) -> str:
        """The result's identity: ``result_id``, else ``result_url`` (OP-8)."""
        return self.result_id or self.result_url or ""

    @property
    def keys(self) -> tuple[str, ...]:
        """Every id of the result that is present, ``result_id`` first, then ``result_url``."""
        return _result_ids(self.result_id, self.result_url)

    @property
    def completed_datetime(self) -> datetime | None:
        """``completed_at`` when it is a readable timestamp, else None (it cannot be compared)."""
        return self.completed_at if isinstance(self.completed_at, datetime) else None


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` is None on the last page.

    ``skipped`` describes each item that could not be read (its JSON path and why; no value
    from it), which the page left out instead of refusing the others. ``server_time`` is
    the response's ``Date`` header, or None when it is absent or unreadable.
    """

    items: tuple[T, ...]
    next_cursor: str | None = None
    skipped: tuple[str, ...] = ()
    server_time: datetime | None = None


@attrs.frozen
class TemplateRef(_Model):
    """The template an event refers to, when the payload nests it."""

    template_id: str | None = attrs.field(default=None, metadata={"aliases": ("id",)})
    title: str | None = None
    external_posting_id: str | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen
class InterviewTiming(_Model):
    """When and how the interview ran."""

    status: str | None = None
    language: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: int | None = None
    whiteboard_used: bool | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen
class ScoreCategory(_Model):
    """One scored category; labels are data, never hard-coded."""

    key: str | None = None
    label: str | None = None
    score: float | None = None
    max_score: float | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen
class Scoring(_Model):
    """The overall score and its categories."""

    overall_score: float | None = None
    max_score: float | None = None
    categories: tuple[ScoreCategory, ...] = ()
    extra: dict[str, Any] = _extra()


@attrs.frozen
class AiAnalysis(_Model):
    """The AI's reading of the interview."""

    summary: str | None = None
    strengths: tuple[str, ...] = ()
    concerns: tuple[str, ...] = ()
    integrity_warning: bool | None = None
    scoring: Scoring | None = None
    extra: dict[str, Any] = _extra()


@attrs.frozen
class ResultCompletedEvent(_Model):
    """The full ``result.completed`` webhook payload (OP-15); only ``result_id`` is required."""

    result_id: str
    event: str | None = attrs.field(default=None, metadata={"aliases": ("type",)})
    event_id: str | None = None
    occurred_at: datetime | None = None
    organization_id: str | None = None
    template_id: str | None = None
    external_posting_id: str | None = None
    invitation_id: str | None = None
    template: TemplateRef | None = None
    candidate: Candidate | None = None
    interview: InterviewTiming | None = None
    ai_analysis: AiAnalysis | None = None
    result_url: str | None = None
    extra: dict[str, Any] = _extra()

    @property
    def key(self) -> str:
        """The result's identity, the same one a ``ResultSummary`` of this result has."""
        return self.result_id

    @property
    def keys(self) -> tuple[str, ...]:
        """Every id of the result that is present, ``result_id`` first, then ``result_url``."""
        return _result_ids(self.result_id, self.result_url)

"""The sandbox's in-memory world: organizations, keys, templates, invitations and results.

Everything here is synchronous and runs on the event loop thread, so a check-then-insert
(create-or-reuse) can never interleave with another request.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import attrs

from ntrvsta_async.sandbox.validation import InvitationInput, ResultsQuery, TemplateInput

__all__ = [
    "InvitationRecord",
    "NotFound",
    "Organization",
    "ResultRecord",
    "SandboxState",
    "TemplateRecord",
    "iso",
]

#: Links the sandbox hands out; ``.invalid`` can never resolve, so nobody mistakes them.
PUBLIC_ORIGIN: Final = "https://sandbox.ntrvsta.invalid"


def iso(value: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``, the form every sandbox timestamp takes."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class NotFound(LookupError):
    """The referenced object does not exist for the calling organization."""


@attrs.frozen
class Organization:
    """A tenant: its id and where its ``result.completed`` webhooks go."""

    organization_id: str
    webhook_url: str | None = None
    webhook_secret: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class TemplateRecord:
    """A stored template."""

    template_id: str
    organization_id: str
    title: str
    description: str | None
    external_posting_id: str | None
    invite_url_expires_in_days: int
    whiteboard_design: bool
    created_at: datetime

    def to_json(self, *, reused: bool) -> dict[str, Any]:
        """The wire form of ``Template`` (OP-5)."""
        return {
            "templateId": self.template_id,
            "title": self.title,
            "description": self.description,
            "externalPostingId": self.external_posting_id,
            "inviteUrlExpiresInDays": self.invite_url_expires_in_days,
            "whiteboardDesign": self.whiteboard_design,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.created_at),
            "reused": reused,
        }


@attrs.frozen
class InvitationRecord:
    """A stored invitation; ``status`` becomes ``completed`` with its result."""

    invitation_id: str
    organization_id: str
    template_id: str
    candidate: Mapping[str, str]
    language: str | None
    invite_url: str
    invite_url_expires_at: datetime | None
    created_at: datetime
    status: str = "invited"
    result_id: str | None = None

    def to_json(self, *, reused: bool) -> dict[str, Any]:
        """The wire form of ``Invitation`` (OP-6)."""
        expires = self.invite_url_expires_at
        return {
            "invitationId": self.invitation_id,
            "templateId": self.template_id,
            "candidate": dict(self.candidate),
            "inviteUrl": self.invite_url,
            "inviteUrlExpiresAt": None if expires is None else iso(expires),
            "status": self.status,
            "createdAt": iso(self.created_at),
            "reused": reused,
        }


@attrs.frozen
class ResultRecord:
    """A completed result: its listing position, summary and full webhook payload."""

    position: int
    result_id: str
    organization_id: str
    template_id: str
    external_posting_id: str | None
    completed_at: datetime
    summary: Mapping[str, Any]
    payload: Mapping[str, Any]


class IdFactory:
    """Short prefixed ids from a seeded stream, so a seed reproduces a whole session."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(f"ntrvsta-sandbox:{seed}:ids")  # noqa: S311
        self._issued: set[str] = set()

    def __call__(self, prefix: str) -> str:
        while True:
            candidate = f"{prefix}_{self._random.getrandbits(64):016x}"
            if candidate not in self._issued:
                self._issued.add(candidate)
                return candidate


def _expiry(start: datetime, days: int) -> datetime | None:
    try:
        return start + timedelta(days=days)
    except OverflowError:
        return None


class SandboxState:
    """Every organization's objects, with the create-or-reuse indexes (docs/contract.md#op-4)."""

    def __init__(self, seed: int = 0) -> None:
        self.new_id = IdFactory(seed)
        self.organizations: dict[str, Organization] = {}
        self._keys: dict[str, str] = {}
        self.templates: dict[str, TemplateRecord] = {}
        self._by_posting: dict[tuple[str, str], str] = {}
        self.invitations: dict[str, InvitationRecord] = {}
        self._by_candidate: dict[tuple[str, str, str], str] = {}
        self.results: list[ResultRecord] = []
        self._results_by_org: dict[str, list[ResultRecord]] = {}
        self._positions: dict[str, list[int]] = {}
        self._last_completed_at = datetime.min.replace(tzinfo=UTC)

    # Organizations and keys

    def add_organization(self, organization_id: str | None = None) -> Organization:
        """Register an organization (a fresh id unless given)."""
        org = Organization(organization_id or self.new_id("org"))
        if org.organization_id in self.organizations:
            raise ValueError(f"organization {org.organization_id} already exists")
        self.organizations[org.organization_id] = org
        return org

    def add_key(self, organization_id: str, api_key: str) -> None:
        """Make ``api_key`` authenticate as ``organization_id``."""
        if not api_key:
            raise ValueError("an API key must not be empty")
        owner = self._keys.get(api_key)
        if owner is not None and owner != organization_id:
            raise ValueError("that API key already belongs to another organization")
        self._keys[api_key] = organization_id

    def authenticate(self, api_key: str) -> str | None:
        """The organization a key belongs to, or None."""
        return self._keys.get(api_key)

    def set_webhook(self, organization_id: str, url: str | None, secret: str | None) -> None:
        """Point an organization's deliveries at ``url``, signed with ``secret``."""
        org = self.organizations[organization_id]
        self.organizations[organization_id] = attrs.evolve(
            org, webhook_url=url, webhook_secret=secret
        )

    # Templates and invitations

    def create_template(
        self, organization_id: str, data: TemplateInput, now: datetime
    ) -> tuple[TemplateRecord, bool]:
        """The template for this posting if one is mapped (reused=True), else a new one."""
        posting = data.external_posting_id
        if posting is not None:
            existing = self._by_posting.get((organization_id, posting))
            if existing is not None:
                return self.templates[existing], True
        record = TemplateRecord(
            template_id=self.new_id("tpl"),
            organization_id=organization_id,
            title=data.title,
            description=data.description,
            external_posting_id=posting,
            invite_url_expires_in_days=data.invite_url_expires_in_days,
            whiteboard_design=data.whiteboard_design,
            created_at=now,
        )
        self.templates[record.template_id] = record
        if posting is not None:
            self._by_posting[(organization_id, posting)] = record.template_id
        return record, False

    def template_of(self, organization_id: str, template_id: str) -> TemplateRecord:
        """The organization's template; ``NotFound`` for unknown ids and other tenants' ids."""
        record = self.templates.get(template_id)
        if record is None or record.organization_id != organization_id:
            raise NotFound(template_id)
        return record

    def create_invitation(
        self, organization_id: str, data: InvitationInput, now: datetime
    ) -> tuple[InvitationRecord, bool]:
        """The invitation of this candidate (by email) to this template, else a new one."""
        template = self.template_of(organization_id, data.template_id)
        key = (organization_id, template.template_id, data.candidate.email.casefold())
        existing = self._by_candidate.get(key)
        if existing is not None:
            return self.invitations[existing], True
        invitation_id = self.new_id("inv")
        record = InvitationRecord(
            invitation_id=invitation_id,
            organization_id=organization_id,
            template_id=template.template_id,
            candidate=dict(data.candidate.wire),
            language=data.language,
            invite_url=f"{PUBLIC_ORIGIN}/interview/{invitation_id}",
            invite_url_expires_at=_expiry(now, template.invite_url_expires_in_days),
            created_at=now,
        )
        self.invitations[invitation_id] = record
        self._by_candidate[key] = invitation_id
        return record, False

    # Results

    def completion_time(self, now: datetime) -> datetime:
        """``now`` to the millisecond (as served), nudged so completion times strictly increase."""
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_completed_at:
            now = self._last_completed_at + timedelta(microseconds=1000)
        self._last_completed_at = now
        return now

    def add_result(self, record: ResultRecord, invitation_id: str) -> None:
        """Store a completed result and mark its invitation completed."""
        invitation = self.invitations[invitation_id]
        self.invitations[invitation_id] = attrs.evolve(
            invitation, status="completed", result_id=record.result_id
        )
        self.results.append(record)
        self._results_by_org.setdefault(record.organization_id, []).append(record)
        self._positions.setdefault(record.organization_id, []).append(record.position)

    def next_position(self) -> int:
        """The listing position the next completed result takes."""
        return len(self.results) + 1

    def page(
        self, organization_id: str, query: ResultsQuery, after: int
    ) -> tuple[list[ResultRecord], bool]:
        """Up to ``query.limit`` matches after position ``after``, and whether more follow."""
        records = self._results_by_org.get(organization_id, [])
        start = bisect.bisect_right(self._positions.get(organization_id, []), after)
        matches = self._matching(records, start, query)
        page = [record for _, record in zip(range(query.limit), matches, strict=False)]
        more = next(matches, None) is not None
        return page, more

    def _matching(
        self, records: list[ResultRecord], start: int, query: ResultsQuery
    ) -> Iterator[ResultRecord]:
        for record in records[start:]:
            if query.template_id is not None and record.template_id != query.template_id:
                continue
            posting = query.external_posting_id
            if posting is not None and record.external_posting_id != posting:
                continue
            after = query.completed_after
            if after is not None and record.completed_at < after:
                continue
            yield record

"""``client.invitations``: create-or-reuse candidate invitations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .. import assumptions
from .._converter import structure
from ..errors import InvalidArgumentError
from ..models import Candidate, CandidateLike, Invitation
from ..transport import Transport
from ._created import reused_flag
from ._params import check, merge_extra

__all__ = ["Invitations", "candidate_from"]

_CANDIDATE_KEYS = frozenset(f.name for f in attrs.fields(Candidate)) - {"extra"}


def candidate_from(value: CandidateLike) -> Candidate:
    """A ``Candidate`` from itself or from a mapping with the same snake_case keys."""
    if isinstance(value, Candidate):
        candidate = value
    elif isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in _CANDIDATE_KEYS)
        if unknown:
            raise InvalidArgumentError(
                f"candidate has unknown keys {unknown}; expected some of {sorted(_CANDIDATE_KEYS)}"
            )
        if "email" not in value:
            raise InvalidArgumentError("candidate needs an email")
        candidate = Candidate(**value)
    else:
        raise InvalidArgumentError(
            f"candidate must be a Candidate or a mapping, not {type(value).__name__}"
        )
    check("candidate.email", candidate.email, str, optional=False)
    if not candidate.email.strip():
        raise InvalidArgumentError("candidate.email is empty")
    for name in ("first_name", "last_name", "external_candidate_id"):
        check(f"candidate.{name}", getattr(candidate, name), str)
    return candidate


class Invitations:
    """Invitation operations; reach them as ``client.invitations``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        *,
        template_id: str,
        candidate: CandidateLike,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Invitation:
        """Invite a candidate to a template, or get back the invitation they already have.

        The candidate is always sent as the nested ``candidate`` object. A repeat for the same
        candidate and template returns the existing invitation, so retries are safe.
        """
        check("template_id", template_id, str, optional=False)
        body = {"templateId": template_id, "candidate": candidate_from(candidate).to_dict()}
        response = await self._transport.request(
            "POST", assumptions.INVITATIONS_PATH, json=merge_extra(body, extra_body), safe=True
        )
        invitation = structure(response.data, Invitation)
        return attrs.evolve(invitation, reused=reused_flag(response.status, response.data))

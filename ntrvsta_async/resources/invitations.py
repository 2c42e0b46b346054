"""``client.invitations``: create-or-reuse candidate invitations."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import attrs

from ntrvsta_async._converter import to_wire
from ntrvsta_async.assumptions import TEMPLATE_ID_PLACEHOLDER
from ntrvsta_async.errors import InvalidArgumentError
from ntrvsta_async.models import Candidate, CandidateLike, Invitation
from ntrvsta_async.resources._created import created_model
from ntrvsta_async.resources._params import check, merge_extra
from ntrvsta_async.resources.bulk import BulkRun, ProgressCallback, RetryHook, Room
from ntrvsta_async.transport import Transport

__all__ = ["Invitations", "candidate_from"]

logger = logging.getLogger("ntrvsta_async")

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
        body = {"templateId": template_id, "candidate": to_wire(candidate_from(candidate))}
        transport = self._transport
        contract = transport.contract
        path = contract.invitations_path
        if TEMPLATE_ID_PLACEHOLDER in path:
            path = path.replace(TEMPLATE_ID_PLACEHOLDER, quote(template_id, safe=""))
        request = transport.build_request(
            "POST",
            path,
            json=body if extra_body is None else merge_extra(body, extra_body),
            safe=True,
        )
        response = await transport.send(request)
        return created_model(Invitation, response.status, response.data, contract)

    def create_many(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int = 16,
        rate_limit: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> BulkRun:
        """Create many invitations: ``await`` it for a ``BulkResult``, or ``async for`` outcomes.

        ``requests`` holds ``InvitationRequest`` objects or mappings with the same keys, from a
        list, an iterator or an async iterator (read lazily). At most ``concurrency`` requests
        are in flight, on a pool of that many connections for the run; a request waiting to
        be retried (a 429's ``Retry-After``, a back-off) leaves its place to the next input
        meanwhile. At most ``rate_limit`` requests start per second, below the client's own
        pace, which every request also keeps (see ``NtrvstaClient(rate_limit=)``).
        Every input yields exactly one ``BulkOutcome``; one bad input never stops the others.
        """
        return BulkRun(
            self._room_for,
            requests,
            concurrency=concurrency,
            rate_limit=rate_limit,
            on_progress=on_progress,
        )

    @contextlib.asynccontextmanager
    async def _room_for(self, concurrency: int, on_retry: RetryHook) -> AsyncIterator[Room]:
        """This resource on a pool of ``concurrency`` connections for one run (sharing the
        pacer, closed after it), its retries told to ``on_retry``.

        A caller-owned session cannot be resized: the run keeps it, one worker per place, and
        a session narrower than ``concurrency`` is said once.
        """
        transport = self._transport
        policy = transport.retry_policy
        told = attrs.evolve(policy, on_retry=_both(policy.on_retry, on_retry))
        own = transport.on_own_pool(concurrency, retry_policy=told)
        if own is not None:
            try:
                yield Room(Invitations(own), stand_ins=True)
            finally:
                await own.close()
            return
        limit = transport.connection_limit
        if limit is not None and concurrency > limit:
            logger.warning(
                "create_many(concurrency=%d): the session given to NtrvstaClient allows %d"
                " connections, so at most %d requests run at once",
                concurrency,
                limit,
                limit,
            )
        yield Room(self, stand_ins=False)


def _both(first: RetryHook | None, second: RetryHook) -> RetryHook:
    """A retry hook calling ``first`` (when set), then ``second``."""
    if first is None:
        return second

    def hook(error: BaseException, wait: float) -> None:
        first(error, wait)
        second(error, wait)

    return hook

"""The ``Inbox`` base class: the dedup and checkpoint store shared by the webhook receiver
and the poller, and the helpers a backend is built from.

A result has up to two ids (``result_id`` and ``result_url``, docs/contract.md#op-8), and the inbox
treats the ids given together as one identity: a claim or done mark on any of them covers
the result. Whoever is about to handle a result *claims* its ids; they become *done* once
the work succeeded. A claim expires after its ``ttl`` unless its holder renews it, so the
work of a crashed worker is taken over while a slow but living one keeps its claim; *done*
is permanent. Checkpoints are named strings (the poller's position) with an optional fence
that keeps a deposed leader from moving a checkpoint back.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self, TypeVar

import attrs

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError, InvalidArgumentError

__all__ = [
    "Claim",
    "ClaimState",
    "Inbox",
    "ResultKeys",
    "check_checkpoint",
    "check_open",
    "check_ttl",
    "claim_settled",
    "fence_after",
    "is_own_cancellation",
    "new_token",
    "result_keys",
    "settle",
]

logger = logging.getLogger("ntrvsta_async.reconcile")

T = TypeVar("T")

ResultKeys = str | Sequence[str]
"""The ids of one result: one id, or several (``result_id`` and ``result_url``) that the
inbox treats as one identity."""


def result_keys(keys: ResultKeys) -> tuple[str, ...]:
    """The distinct ids in ``keys``, in order; refuses an empty, blank or non-string id."""
    items = (keys,) if isinstance(keys, str) else keys
    try:
        out = tuple(dict.fromkeys(items))
    except TypeError:
        raise InvalidArgumentError(
            "result keys must be a string or a sequence of strings"
        ) from None
    if not out or not all(isinstance(key, str) and key for key in out):
        raise InvalidArgumentError("result keys must be one or more non-empty strings")
    return out


class ClaimState(enum.Enum):
    """What ``Inbox.claim`` found: the result is now yours, someone else's, or already handled."""

    CLAIMED = "claimed"
    IN_PROGRESS = "in_progress"
    DONE = "done"


@attrs.frozen(slots=True)
class Claim:
    """The answer of ``Inbox.claim``; ``token`` is set only when ``state`` is ``CLAIMED``."""

    state: ClaimState
    token: str | None = None

    @property
    def acquired(self) -> bool:
        """True when the caller now owns the result and must ``complete`` or ``release`` it."""
        return self.state is ClaimState.CLAIMED


class Inbox(abc.ABC):
    """Dedup (claim / renew / complete / release per result) and checkpoint storage.

    Every method is safe to call from concurrent coroutines, and every method that takes
    ``keys`` treats the ids given together as one result. Backends: ``MemoryInbox``,
    ``SQLiteInbox``, ``RedisInbox``; a backend is closed with ``close()`` or by leaving
    ``async with``. A backend of your own subclasses this class and implements the abstract
    methods; its store failures must surface as ``InboxError``.
    """

    @abc.abstractmethod
    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """Atomically take the result for ``ttl`` seconds.

        DONE when any of its ids was handled (the other ids are then marked done too, so
        the inbox learns that they name the same result); IN_PROGRESS when an unexpired
        claim holds any of them; else CLAIMED with a fresh token over all of them (expired
        claims are taken over).
        """

    @abc.abstractmethod
    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """Extend the claim of ``token`` to ``ttl`` seconds from now; False when it was lost
        (expired and taken over, or the result was marked done meanwhile)."""

    @abc.abstractmethod
    async def complete(self, keys: ResultKeys, token: str) -> None:
        """Mark the result's ids done for good; a stale token (the claim was taken over)
        still marks them done, because the work did happen."""

    @abc.abstractmethod
    async def release(self, keys: ResultKeys, token: str) -> None:
        """Drop the claim so the result can be claimed again, only where ``token`` still owns
        it; called when the work failed."""

    @abc.abstractmethod
    async def is_done(self, keys: ResultKeys) -> bool:
        """Whether the result was completed (by any path) under any of its ids."""

    @abc.abstractmethod
    async def get_checkpoint(self, name: str) -> str | None:
        """The value last stored under ``name``, or None; a name that is not a string raises
        ``InvalidArgumentError`` (``check_checkpoint``)."""

    @abc.abstractmethod
    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """Store ``value`` under ``name`` and return True; with ``fence``, refuse (return False)
        when a higher fence was already stored for ``name``. A name or value that is not a
        string, or a fence that is not an int, raises ``InvalidArgumentError``
        (``check_checkpoint``)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the backend's resources; closing again does nothing, and every other call
        afterwards raises ``ConfigurationError`` (``check_open``)."""

    async def run_claimed(
        self,
        keys: ResultKeys,
        token: str,
        work: Callable[[], Awaitable[object]],
        *,
        ttl: float = 300.0,
    ) -> BaseException | None:
        """Run ``work`` under the claim ``token``, renewed every ``ttl / 3`` seconds while it
        runs, then mark the result done.

        Returns None when ``work`` returned and the result is marked done. When ``work``
        raised anything (``CancelledError`` included) the claim is released and that
        exception is returned: it costs this result only. When the claim is lost all the
        same (the holder was paused past its ttl and another took the result over), ``work``
        is cancelled rather than left running beside the new holder. ``InboxError`` is
        raised when the done mark could not be written; the caller's own cancellation is
        re-raised after the claim is released.
        """
        ids = result_keys(keys)
        job = asyncio.ensure_future(work())
        renewer = asyncio.create_task(self._keep_claimed(ids, token, ttl, job))
        try:
            try:
                await job
            except BaseException as exc:
                await settle(self._release_quietly(ids, token))
                if is_own_cancellation(exc) or not isinstance(
                    exc, Exception | asyncio.CancelledError
                ):
                    raise
                return exc
            # no await between the work's return and the done mark: a kill can only fall
            # before it (the work runs again) or after it (never again)
            await settle(self.complete(ids, token))
            return None
        finally:
            renewer.cancel()
            await asyncio.wait([renewer])

    async def handle(
        self, keys: ResultKeys, work: Callable[[], Awaitable[object]], *, ttl: float = 300.0
    ) -> tuple[ClaimState, BaseException | None]:
        """Claim the result, run ``work`` under the claim (see ``run_claimed``) and say what
        happened: (DONE or IN_PROGRESS, None) when it was not ours to run, (CLAIMED, None)
        when ``work`` ran and the result is done, (CLAIMED, error) when ``work`` failed."""
        claim = await claim_settled(self, keys, ttl)
        if claim.token is None:
            return claim.state, None
        return ClaimState.CLAIMED, await self.run_claimed(keys, claim.token, work, ttl=ttl)

    async def _keep_claimed(
        self, keys: tuple[str, ...], token: str, ttl: float, job: asyncio.Future[object]
    ) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                held = await self.renew(keys, token, ttl=ttl)
            except Exception as exc:
                logger.warning("could not renew the claim on result %s: %s", keys[0], exc)
                continue
            if not held:
                logger.warning(
                    "the claim on result %s was taken over; cancelling its handler", keys[0]
                )
                job.cancel()
                return

    async def _release_quietly(self, keys: tuple[str, ...], token: str) -> None:
        try:
            await self.release(keys, token)
        except Exception as exc:
            logger.warning(
                "could not release the claim on result %s (it expires on its own): %s",
                keys[0],
                exc,
            )

    async def __aenter__(self) -> Self:
        """Use the inbox as an async context manager that closes it on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the inbox."""
        await self.close()


def is_own_cancellation(exc: BaseException) -> bool:
    """True when ``exc`` is the cancellation of the running task itself, not one raised by
    the work it awaited (a handler's own ``CancelledError`` costs that result only)."""
    task = asyncio.current_task()
    return isinstance(exc, asyncio.CancelledError) and task is not None and task.cancelling() > 0


def new_token() -> str:
    """A fresh, unguessable claim token."""
    return secrets.token_hex(16)


def check_open(closed: bool, what: str = "inbox") -> None:
    """Refuse a call on a store that was closed: after ``close()`` every call raises this."""
    if closed:
        raise ConfigurationError(f"this {what} is closed")


def check_ttl(ttl: object) -> None:
    """Refuse a claim ttl that is not a positive number of seconds."""
    if not is_positive_number(ttl):
        raise InvalidArgumentError("ttl must be a positive number of seconds")


def check_checkpoint(name: object, value: object = "", fence: object = None) -> None:
    """Refuse a checkpoint name or value that is not a string, or a fence that is not an int."""
    if not isinstance(name, str) or not isinstance(value, str):
        raise InvalidArgumentError("checkpoint names and values must be strings")
    if fence is not None and (not isinstance(fence, int) or isinstance(fence, bool)):
        raise InvalidArgumentError("a checkpoint fence must be an integer or None")


def fence_after(stored: int | None, given: int | None) -> tuple[bool, int | None]:
    """Whether a write fenced with ``given`` is accepted, and the fence to keep afterwards."""
    if given is None:
        return True, stored
    if stored is not None and stored > given:
        return False, stored
    return True, given


async def settle(call: Awaitable[T], *, undo: Callable[[T], Awaitable[None]] | None = None) -> T:
    """Await an inbox call to its end even if the caller is cancelled meanwhile.

    A backend call cut off halfway can leave it mid-transaction. On cancellation the call
    still finishes, ``undo`` (when given) gets its result, and the cancellation is re-raised.
    """
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        if undo is not None and not task.cancelled() and task.exception() is None:
            with contextlib.suppress(Exception):
                await settle(undo(task.result()))
        raise


async def claim_settled(inbox: Inbox, keys: ResultKeys, ttl: float) -> Claim:
    """``inbox.claim`` that gives the claim back when the caller is cancelled meanwhile, so a
    cancelled caller never leaves a result held until its claim expires."""

    async def give_back(claim: Claim) -> None:
        if claim.token is not None:
            await inbox.release(keys, claim.token)

    return await settle(inbox.claim(keys, ttl=ttl), undo=give_back)

"""The dedup and checkpoint store shared by the webhook receiver and the poller.

A result key is *claimed* by whoever is about to handle it and becomes *done* once the work
succeeded. A claim expires after its ``ttl`` so the work of a crashed worker is taken over;
*done* is permanent. Checkpoints are named strings (the poller's position) with an optional
fence that keeps a deposed leader from moving a checkpoint back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import secrets
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Protocol, Self, TypeVar, runtime_checkable

import attrs

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError

__all__ = ["Claim", "ClaimState", "Inbox", "MemoryInbox", "claim_settled", "settle"]

T = TypeVar("T")


class ClaimState(enum.Enum):
    """What ``Inbox.claim`` found: the key is now yours, someone else's, or already handled."""

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
        """True when the caller now owns the key and must ``complete`` or ``release`` it."""
        return self.state is ClaimState.CLAIMED


@runtime_checkable
class Inbox(Protocol):
    """Dedup (claim / complete / release per result key) and checkpoint storage.

    Every method is safe to call from concurrent coroutines. Backends: ``MemoryInbox``,
    ``SQLiteInbox``; a backend is closed with ``close()`` or by leaving ``async with``.
    """

    async def claim(self, key: str, *, ttl: float = 300.0) -> Claim:
        """Atomically take ``key`` for ``ttl`` seconds: DONE if it was handled, IN_PROGRESS if
        another unexpired claim holds it, else CLAIMED with a fresh token (an expired claim is
        taken over)."""
        ...

    async def complete(self, key: str, token: str) -> None:
        """Mark ``key`` done for good; a stale token (the claim was taken over) still marks it
        done, because the work did happen."""
        ...

    async def release(self, key: str, token: str) -> None:
        """Drop the claim so the key can be claimed again, only if ``token`` still owns it;
        called when the work failed."""
        ...

    async def is_done(self, key: str) -> bool:
        """Whether ``key`` was completed (by any path)."""
        ...

    async def get_checkpoint(self, name: str) -> str | None:
        """The value last stored under ``name``, or None."""
        ...

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """Store ``value`` under ``name`` and return True; with ``fence``, refuse (return False)
        when a higher fence was already stored for ``name``."""
        ...

    async def close(self) -> None:
        """Release the backend's resources; further calls raise ``ConfigurationError``."""
        ...

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


@attrs.frozen(slots=True)
class _Entry:
    done: bool
    token: str | None = None
    expires_at: float = 0.0


class MemoryInbox(Inbox):
    """An in-process ``Inbox``: for tests and single-process apps that may forget on restart.

    ``clock`` (monotonic seconds by default) is injectable so tests can expire claims.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._checkpoints: dict[str, tuple[str, int | None]] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._entries)} keys"
        return f"MemoryInbox({state})"

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this inbox is closed")

    async def claim(self, key: str, *, ttl: float = 300.0) -> Claim:
        """See ``Inbox.claim``."""
        self._check_open()
        _check_ttl(ttl)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry.done:
            return Claim(ClaimState.DONE)
        if entry is not None and entry.expires_at > now:
            return Claim(ClaimState.IN_PROGRESS)
        token = _new_token()
        self._entries[key] = _Entry(done=False, token=token, expires_at=now + ttl)
        return Claim(ClaimState.CLAIMED, token)

    async def complete(self, key: str, token: str) -> None:
        """See ``Inbox.complete``."""
        self._check_open()
        self._entries[key] = _Entry(done=True)

    async def release(self, key: str, token: str) -> None:
        """See ``Inbox.release``."""
        self._check_open()
        entry = self._entries.get(key)
        if entry is not None and not entry.done and entry.token == token:
            del self._entries[key]

    async def is_done(self, key: str) -> bool:
        """See ``Inbox.is_done``."""
        self._check_open()
        entry = self._entries.get(key)
        return entry is not None and entry.done

    async def get_checkpoint(self, name: str) -> str | None:
        """See ``Inbox.get_checkpoint``."""
        self._check_open()
        stored = self._checkpoints.get(name)
        return None if stored is None else stored[0]

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """See ``Inbox.set_checkpoint``."""
        self._check_open()
        accepted, new_fence = _fence_after(self._checkpoints.get(name, ("", None))[1], fence)
        if accepted:
            self._checkpoints[name] = (value, new_fence)
        return accepted

    async def close(self) -> None:
        """See ``Inbox.close``; the memory is dropped."""
        self._closed = True
        self._entries.clear()
        self._checkpoints.clear()


def _new_token() -> str:
    return secrets.token_hex(16)


def _check_ttl(ttl: float) -> None:
    if not is_positive_number(ttl):
        raise ValueError("ttl must be a positive number of seconds")


def _fence_after(stored: int | None, given: int | None) -> tuple[bool, int | None]:
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


async def claim_settled(inbox: Inbox, key: str, ttl: float) -> Claim:
    """``inbox.claim`` that gives the claim back when the caller is cancelled meanwhile, so a
    cancelled caller never leaves a result held until its claim expires."""

    async def give_back(claim: Claim) -> None:
        if claim.token is not None:
            await inbox.release(key, claim.token)

    return await settle(inbox.claim(key, ttl=ttl), undo=give_back)

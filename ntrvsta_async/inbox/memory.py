"""``MemoryInbox``: the in-process ``Inbox``, for tests and single-process apps."""

from __future__ import annotations

import time
from collections.abc import Callable

import attrs

from ntrvsta_async.inbox.base import (
    Claim,
    ClaimState,
    Inbox,
    ResultKeys,
    check_checkpoint,
    check_open,
    check_ttl,
    fence_after,
    new_token,
    result_keys,
)

__all__ = ["MemoryInbox"]


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
        check_open(self._closed)

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """See ``Inbox.claim``."""
        self._check_open()
        ids = result_keys(keys)
        check_ttl(ttl)
        now = self._clock()
        entries = [self._entries.get(key) for key in ids]
        if any(entry is not None and entry.done for entry in entries):
            for key in ids:
                self._entries[key] = _Entry(done=True)
            return Claim(ClaimState.DONE)
        if any(entry is not None and entry.expires_at > now for entry in entries):
            return Claim(ClaimState.IN_PROGRESS)
        token = new_token()
        for key in ids:
            self._entries[key] = _Entry(done=False, token=token, expires_at=now + ttl)
        return Claim(ClaimState.CLAIMED, token)

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """See ``Inbox.renew``."""
        self._check_open()
        ids = result_keys(keys)
        check_ttl(ttl)
        now = self._clock()
        entries = [self._entries.get(key) for key in ids]
        if not all(e is not None and not e.done and e.token == token for e in entries):
            return False
        for key in ids:
            self._entries[key] = _Entry(done=False, token=token, expires_at=now + ttl)
        return True

    async def complete(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.complete``."""
        self._check_open()
        for key in result_keys(keys):
            self._entries[key] = _Entry(done=True)

    async def release(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.release``."""
        self._check_open()
        for key in result_keys(keys):
            entry = self._entries.get(key)
            if entry is not None and not entry.done and entry.token == token:
                del self._entries[key]

    async def is_done(self, keys: ResultKeys) -> bool:
        """See ``Inbox.is_done``."""
        self._check_open()
        return any(
            (entry := self._entries.get(key)) is not None and entry.done
            for key in result_keys(keys)
        )

    async def get_checkpoint(self, name: str) -> str | None:
        """See ``Inbox.get_checkpoint``."""
        self._check_open()
        check_checkpoint(name)
        stored = self._checkpoints.get(name)
        return None if stored is None else stored[0]

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """See ``Inbox.set_checkpoint``."""
        self._check_open()
        check_checkpoint(name, value, fence)
        accepted, new_fence = fence_after(self._checkpoints.get(name, ("", None))[1], fence)
        if accepted:
            self._checkpoints[name] = (value, new_fence)
        return accepted

    async def close(self) -> None:
        """See ``Inbox.close``; the memory is dropped."""
        self._closed = True
        self._entries.clear()
        self._checkpoints.clear()

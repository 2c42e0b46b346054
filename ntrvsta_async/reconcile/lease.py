"""The leadership protocol: with several replicas only the holder of a lease polls."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import secrets
import time
from types import TracebackType
from typing import Final, Protocol, Self, runtime_checkable

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.inbox.base import check_open

__all__ = ["Lease", "RenewingLease"]

logger = logging.getLogger("ntrvsta_async.reconcile")


@runtime_checkable
class Lease(Protocol):
    """A named, expiring lock held by one replica at a time, with a fencing token.

    ``epoch`` grows every time the lease changes hands; checkpoints written with it as their
    fence cannot be overwritten by a replica that lost the lease.
    """

    @property
    def epoch(self) -> int | None:
        """The fencing token of the current holding, or None while not held."""
        ...

    async def acquire(self) -> bool:
        """Take the lease if it is free (or keep it if held); True when this replica holds it."""
        ...

    async def release(self) -> None:
        """Give the lease up so another replica can take it at once."""
        ...

    async def close(self) -> None:
        """Release the lease and the resources behind it."""
        ...


#: Share of ``ttl`` by which the local view of a holding ends before the store's expiry,
#: so that clock-rate differences never let a replica believe it holds an expired lease.
_DRIFT: Final = 0.01


class RenewingLease(abc.ABC):
    """A ``Lease`` kept by renewing it in the background every ``ttl / 3`` seconds.

    The store (Redis, PostgreSQL) expires a holding ``ttl`` seconds after its last renewal
    on its own clock; this side believes it holds the lease only until slightly before that.
    A holding that could not be renewed in time is dropped (``epoch`` turns None) and
    taken again, with a new epoch, by a later ``acquire()``. Subclasses implement the
    four store operations below.
    """

    def __init__(self, name: object, ttl: object) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError("the lease name must be a non-empty string")
        if not is_positive_number(ttl):
            raise ConfigurationError("ttl must be a positive number of seconds")
        self.name = name
        self.ttl = float(ttl)
        self._token = secrets.token_hex(16)
        self._epoch: int | None = None
        self._valid_until = 0.0
        self._renewer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @abc.abstractmethod
    async def _take(self, token: str) -> int:
        """Take the lease for ``token`` when free, or extend it when ``token`` holds it;
        the epoch of the holding, or 0 when another holds it."""

    @abc.abstractmethod
    async def _extend(self, token: str, epoch: int) -> bool:
        """Extend the holding ``epoch`` of ``token``; False when it is no longer held."""

    @abc.abstractmethod
    async def _give_up(self, token: str) -> None:
        """Free the lease when ``token`` holds it."""

    @abc.abstractmethod
    async def _close_store(self) -> None:
        """Close the connection to the store."""

    @abc.abstractmethod
    def _where(self) -> str:
        """The store, without any password, for reprs."""

    def _check_open(self) -> None:
        check_open(self._closed, "lease")

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        else:
            epoch = self.epoch
            state = "not held" if epoch is None else f"held, epoch {epoch}"
        return (
            f"{type(self).__name__}({self._where()!r}, name={self.name!r}, ttl={self.ttl:g},"
            f" {state})"
        )

    @property
    def epoch(self) -> int | None:
        """The fencing token of the current holding, or None while not held (or lost)."""
        if self._epoch is None or time.monotonic() >= self._valid_until:
            return None
        return self._epoch

    @property
    def held(self) -> bool:
        """True while this replica holds the lease, as far as it can tell."""
        return self.epoch is not None

    def _holding_ends(self, sent: float) -> float:
        return sent + self.ttl * (1 - _DRIFT)

    async def acquire(self) -> bool:
        """Take the lease if it is free, or extend it if this replica holds it; True when held.

        Raises ``InboxError`` when the store cannot be reached (the holding, if any, is kept
        until it runs out).
        """
        async with self._lock:
            self._check_open()
            sent = time.monotonic()
            epoch = await self._take(self._token)
            if epoch == 0:
                if self._epoch is not None:
                    self._lose("another replica holds it now")
                return False
            if epoch != self.epoch:
                logger.info("lease %s acquired (epoch %d)", self.name, epoch)
            self._epoch = epoch
            self._valid_until = self._holding_ends(sent)
            if self._renewer is None or self._renewer.done():
                self._renewer = asyncio.create_task(
                    self._renew_loop(), name=f"ntrvsta-lease-{self.name}"
                )
            return self.epoch is not None

    def _lose(self, why: str) -> None:
        if self._epoch is not None:
            logger.warning("lease %s lost (epoch %d): %s", self.name, self._epoch, why)
        self._epoch = None

    async def _renew_loop(self) -> None:
        every = self.ttl / 3
        delay = every
        failing = False
        while True:
            await asyncio.sleep(delay)
            epoch = self._epoch
            if epoch is None:
                return
            if time.monotonic() >= self._valid_until:
                self._lose("it could not be renewed in time")
                return
            sent = time.monotonic()
            try:
                self._check_open()
                renewed = await self._extend(self._token, epoch)
            except ConfigurationError:
                return
            except Exception as exc:
                if not failing:
                    logger.warning("lease %s: renewal failed, retrying: %s", self.name, exc)
                failing = True
                delay = every / 2
                continue
            if failing:
                logger.info("lease %s: renewal works again", self.name)
            failing = False
            delay = every
            if self._epoch != epoch:
                continue  # released, or taken again meanwhile: renew whatever is held now
            if not renewed:
                self._lose("it expired and was taken or removed")
                return
            self._valid_until = self._holding_ends(sent)

    async def _stop_renewing(self) -> None:
        task, self._renewer = self._renewer, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def release(self) -> None:
        """Give the lease up so another replica can take it at once (a no-op when not held).

        Raises ``InboxError`` when the store cannot be reached; the lease then expires on
        its own.
        """
        async with self._lock:
            await self._stop_renewing()
            epoch, self._epoch = self._epoch, None
            if epoch is None or self._closed:
                return
            await self._give_up(self._token)
            logger.info("lease %s released (epoch %d)", self.name, epoch)

    async def close(self) -> None:
        """Release the lease (best effort) and close the connection; further use raises
        ``ConfigurationError``."""
        if self._closed:
            return
        try:
            await self.release()
        except Exception as exc:
            logger.warning("lease %s: could not release it on close: %s", self.name, exc)
        async with self._lock:
            self._closed = True
            await self._close_store()

    async def __aenter__(self) -> Self:
        """Use the lease as an async context manager that closes it on exit."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the lease (releasing it if held)."""
        await self.close()

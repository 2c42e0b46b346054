"""``RedisLease``: one poller at a time among the replicas, with a fencing token.

The lease is a Redis hash (holder token and epoch) that expires after ``ttl`` on the
server's clock unless its holder renews it; a background task renews it every ``ttl / 3``.
Each new holding gets a larger epoch, the fence the poller writes its checkpoints with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.reconcile.lease import Lease
from ntrvsta_async.reconcile.redis_inbox import (
    DEFAULT_PREFIX,
    _call,
    _check_prefix,
    _check_url,
    _import_redis,
    _millis,
    _new_client,
    _redact_url,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisLease"]

logger = logging.getLogger("ntrvsta_async.reconcile")

#: Share of ``ttl`` by which the local view of a holding ends before the server's expiry,
#: so that clock-rate differences never let this replica believe it holds an expired lease.
_DRIFT: Final = 0.01

# The epoch is the larger of the last epoch plus one and the server's time in
# milliseconds: it grows on every new holding, and keeps growing even when Redis lost the
# counter (a restart without persistence), so fences written before stay below it.
_ACQUIRE_SCRIPT: Final = """
local holder = redis.call('HGET', KEYS[1], 'token')
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'epoch'))
end
if holder then return 0 end
local now = redis.call('TIME')
local millis = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
local epoch = string.format('%d', math.max(last + 1, millis))
redis.call('SET', KEYS[2], epoch)
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return tonumber(epoch)
"""

_RENEW_SCRIPT: Final = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1]
    and redis.call('HGET', KEYS[1], 'epoch') == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE_SCRIPT: Final = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


class RedisLease(Lease):
    """A ``Lease`` on Redis: among replicas sharing ``name``, only the holder polls.

    ``acquire()`` takes the lease when it is free and starts renewing it in the background
    every ``ttl / 3`` seconds; a replica that dies stops renewing and another one takes
    over after at most ``ttl`` seconds. A holding that could not be renewed in time is
    dropped (``epoch`` turns None) and taken again, with a new epoch, by a later
    ``acquire()``.
    """

    def __init__(
        self,
        url: str,
        name: str = "poller",
        ttl: float = 30.0,
        *,
        prefix: str = DEFAULT_PREFIX,
        socket_timeout: float | None = None,
    ) -> None:
        _import_redis()
        self._url = _check_url(url, "RedisLease")
        self._where = _redact_url(url)
        if not isinstance(name, str) or not name:
            raise ConfigurationError("the lease name must be a non-empty string")
        if not is_positive_number(ttl):
            raise ConfigurationError("ttl must be a positive number of seconds")
        if socket_timeout is not None and not is_positive_number(socket_timeout):
            raise ConfigurationError("socket_timeout must be a positive number of seconds, or None")
        self.name = name
        self.ttl = float(ttl)
        self._prefix = _check_prefix(prefix)
        self._key = f"{self._prefix}lease:{name}"
        self._epoch_key = f"{self._key}:epoch"
        self._socket_timeout = (
            socket_timeout if socket_timeout is not None else min(5.0, max(0.1, self.ttl / 3))
        )
        self._token = secrets.token_hex(16)
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._epoch: int | None = None
        self._valid_until = 0.0
        self._renewer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        if self._closed:
            state = "closed"
        else:
            epoch = self.epoch
            state = "not held" if epoch is None else f"held, epoch {epoch}"
        return f"RedisLease({self._where!r}, name={self.name!r}, ttl={self.ttl:g}, {state})"

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

    def _script(self, name: str) -> AsyncScript:
        if self._closed:
            raise ConfigurationError("this lease is closed")
        if self._client is None:
            self._client = _new_client(
                self._url, socket_timeout=self._socket_timeout, retries=2, backoff_cap=0.1
            )
            for script_name, source in (
                ("acquire", _ACQUIRE_SCRIPT),
                ("renew", _RENEW_SCRIPT),
                ("release", _RELEASE_SCRIPT),
            ):
                self._scripts[script_name] = self._client.register_script(source)
        return self._scripts[name]

    def _holding_ends(self, sent: float) -> float:
        return sent + self.ttl * (1 - _DRIFT)

    async def acquire(self) -> bool:
        """Take the lease if it is free, or extend it if this replica holds it; True when held.

        Raises ``InboxError`` when Redis cannot be reached (the holding, if any, is kept
        until it runs out).
        """
        async with self._lock:
            script = self._script("acquire")
            sent = time.monotonic()
            answer = await _call(
                self._where,
                script(keys=[self._key, self._epoch_key], args=[self._token, _millis(self.ttl)]),
            )
            epoch = int(answer)
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
                renewed = await _call(
                    self._where,
                    self._script("renew")(
                        keys=[self._key], args=[self._token, _millis(self.ttl), str(epoch)]
                    ),
                )
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
            if not int(renewed):
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

        Raises ``InboxError`` when Redis cannot be reached; the lease then expires on its own.
        """
        async with self._lock:
            await self._stop_renewing()
            epoch, self._epoch = self._epoch, None
            if epoch is None or self._closed:
                return
            script = self._script("release")
            await _call(self._where, script(keys=[self._key], args=[self._token]))
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
            client, self._client = self._client, None
            self._scripts.clear()
            if client is not None:
                await client.aclose()

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

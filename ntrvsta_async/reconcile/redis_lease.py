"""``RedisLease``: one poller at a time among the replicas, with a fencing token.

The lease is a Redis hash (holder token and epoch) that expires after ``ttl`` on the
server's clock unless its holder renews it; a background task renews it every ``ttl / 3``.
Each new holding gets a larger epoch, the fence the poller writes its checkpoints with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async._redact import redact_url
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.inbox.redis import (
    DEFAULT_PREFIX,
    call_redis,
    check_prefix,
    check_redis_url,
    import_redis,
    millis,
    new_redis_client,
)
from ntrvsta_async.reconcile.lease import RenewingLease

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["RedisLease"]

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


class RedisLease(RenewingLease):
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
        import_redis()
        self._url = check_redis_url(url, "RedisLease")
        self._redacted = redact_url(url)
        super().__init__(name, ttl)
        if socket_timeout is not None and not is_positive_number(socket_timeout):
            raise ConfigurationError("socket_timeout must be a positive number of seconds, or None")
        self._prefix = check_prefix(prefix)
        self._key = f"{self._prefix}lease:{name}"
        self._epoch_key = f"{self._key}:epoch"
        self._socket_timeout = (
            socket_timeout if socket_timeout is not None else min(5.0, max(0.1, self.ttl / 3))
        )
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}

    def _where(self) -> str:
        return self._redacted

    def _script(self, name: str) -> AsyncScript:
        self._check_open()
        if self._client is None:
            self._client = new_redis_client(
                self._url, socket_timeout=self._socket_timeout, retries=2, backoff_cap=0.1
            )
            for script_name, source in (
                ("acquire", _ACQUIRE_SCRIPT),
                ("renew", _RENEW_SCRIPT),
                ("release", _RELEASE_SCRIPT),
            ):
                self._scripts[script_name] = self._client.register_script(source)
        return self._scripts[name]

    async def _take(self, token: str) -> int:
        script = self._script("acquire")
        answer = await call_redis(
            self._redacted,
            script(keys=[self._key, self._epoch_key], args=[token, millis(self.ttl)]),
        )
        return int(answer)

    async def _extend(self, token: str, epoch: int) -> bool:
        script = self._script("renew")
        renewed = await call_redis(
            self._redacted,
            script(keys=[self._key], args=[token, millis(self.ttl), str(epoch)]),
        )
        return bool(int(renewed))

    async def _give_up(self, token: str) -> None:
        script = self._script("release")
        await call_redis(self._redacted, script(keys=[self._key], args=[token]))

    async def _close_store(self) -> None:
        client, self._client = self._client, None
        self._scripts.clear()
        if client is not None:
            await client.aclose()

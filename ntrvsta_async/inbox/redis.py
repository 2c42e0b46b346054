"""``RedisInbox``: the ``Inbox`` on a Redis server, shared by every replica of a service.

Each result key is one Redis string under the prefix: ``claimed:<token>`` with the claim's
expiry set by Redis itself (``PX``), or ``done``. Checkpoints are hashes holding the value
and the highest fence written. Every check-then-write runs as one Lua script, so replicas
never race and their clocks never matter.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ntrvsta_async._checks import is_count, is_positive_number
from ntrvsta_async._redact import redact_url, url_password
from ntrvsta_async.errors import ConfigurationError, InboxError, InvalidArgumentError
from ntrvsta_async.inbox.base import (
    Claim,
    ClaimState,
    Inbox,
    ResultKeys,
    check_checkpoint,
    check_open,
    check_ttl,
    new_token,
    result_keys,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_PREFIX", "RedisInbox"]

T = TypeVar("T")

#: The key prefix of ``RedisInbox`` and ``RedisLease`` unless another is given.
DEFAULT_PREFIX: Final = "ntrvsta:"

_DONE: Final = "done"
_CLAIMED: Final = "claimed:"
_FENCE_LIMIT: Final = 2**53  # Lua numbers are doubles: fences compare exactly below this

# KEYS are the ids of one result; ARGV[1] is 'claimed:<token>'. A done id marks the others
# done too (ARGV[3] is the done marks' expiry in ms, or ''), an unexpired claim by another
# token on any id means in progress, else every id is claimed for ARGV[2] ms.
_CLAIM_SCRIPT: Final = """
local busy = false
for _, key in ipairs(KEYS) do
  local current = redis.call('GET', key)
  if current == 'done' then
    for _, other in ipairs(KEYS) do
      if ARGV[3] == '' then redis.call('SET', other, 'done')
      else redis.call('SET', other, 'done', 'PX', ARGV[3]) end
    end
    return 'done'
  end
  if current and current ~= ARGV[1] then busy = true end
end
if busy then return 'in_progress' end
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return 'claimed'
"""

_RENEW_SCRIPT: Final = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) ~= ARGV[1] then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, ARGV[2]) end
return 1
"""

_COMPLETE_SCRIPT: Final = """
for _, key in ipairs(KEYS) do
  if ARGV[1] == '' then redis.call('SET', key, 'done')
  else redis.call('SET', key, 'done', 'PX', ARGV[1]) end
end
return 1
"""

_RELEASE_SCRIPT: Final = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""

_CHECKPOINT_SCRIPT: Final = """
if ARGV[2] == '' then
  redis.call('HSET', KEYS[1], 'value', ARGV[1])
  return 1
end
local stored = redis.call('HGET', KEYS[1], 'fence')
if stored and tonumber(stored) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'value', ARGV[1], 'fence', ARGV[2])
return 1
"""


def import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise ConfigurationError(
            "RedisInbox and RedisLease need the redis package: pip install 'ntrvsta-async[redis]'"
        ) from None
    return redis


def check_redis_url(url: object, owner: str) -> str:
    """``url`` when redis-py can read it; else ``ConfigurationError`` naming it without its
    password."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(f"{owner} needs a redis:// or rediss:// URL")
    from redis.asyncio.connection import parse_url

    try:
        parse_url(url)
    except (ValueError, TypeError) as exc:
        reason = str(exc)
        password = url_password(url)
        if password:
            reason = reason.replace(password, "***")
        raise ConfigurationError(
            f"{owner}: cannot read the redis URL {redact_url(url)!r}: {reason}"
        ) from None
    return url


def check_prefix(prefix: object) -> str:
    if not isinstance(prefix, str):
        raise ConfigurationError("prefix must be a string such as 'ntrvsta:'")
    return prefix


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def millis(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def new_redis_client(url: str, *, socket_timeout: float, retries: int, backoff_cap: float) -> Redis:
    """A decoding ``redis.asyncio`` client that retries connection errors briefly.

    Retrying is safe because every command and script here is idempotent for one token.
    """
    redis = import_redis()
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialWithJitterBackoff

    client: Redis = redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        retry=Retry(ExponentialWithJitterBackoff(base=0.02, cap=backoff_cap), retries),
    )
    return client


async def call_redis(where: str, call: Awaitable[T]) -> T:
    """Await a Redis call, turning Redis and socket failures into ``InboxError``."""
    redis = import_redis()
    try:
        return await call
    except (redis.RedisError, OSError) as exc:
        detail = str(exc) or type(exc).__name__
        raise InboxError(f"redis at {where}: {detail}") from exc


class RedisInbox(Inbox):
    """An ``Inbox`` on Redis: every replica of a service shares its claims, done marks and
    checkpoints, so each result key is handled once in effect across all of them.

    Keys live under ``prefix`` so several apps can share one Redis. Done marks are kept
    forever unless ``done_ttl`` (seconds) is given; see the README before setting it. It is
    as durable as the server: enable AOF persistence, or a Redis restart forgets done marks.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        done_ttl: float | None = None,
        socket_timeout: float = 5.0,
        retries: int = 3,
    ) -> None:
        self._redis_module = import_redis()
        self._url = check_redis_url(url, "RedisInbox")
        self._where = redact_url(url)
        self._prefix = check_prefix(prefix)
        if done_ttl is not None and not is_positive_number(done_ttl):
            raise ConfigurationError("done_ttl must be a positive number of seconds, or None")
        if not is_positive_number(socket_timeout) or not is_count(retries, minimum=0):
            raise ConfigurationError("socket_timeout must be positive and retries not negative")
        self._done_ttl_ms = None if done_ttl is None else millis(done_ttl)
        self._socket_timeout = socket_timeout
        self._retries = retries
        self._client: Redis | None = None
        self._scripts: dict[str, AsyncScript] = {}
        self._closed = False

    @property
    def prefix(self) -> str:
        """The prefix of every key this inbox writes."""
        return self._prefix

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._client else "not opened")
        return f"RedisInbox({self._where!r}, prefix={self._prefix!r}, {state})"

    def _redis(self) -> Redis:
        check_open(self._closed)
        if self._client is None:
            self._client = new_redis_client(
                self._url,
                socket_timeout=self._socket_timeout,
                retries=self._retries,
                backoff_cap=0.5,
            )
            for name, source in (
                ("claim", _CLAIM_SCRIPT),
                ("renew", _RENEW_SCRIPT),
                ("complete", _COMPLETE_SCRIPT),
                ("release", _RELEASE_SCRIPT),
                ("checkpoint", _CHECKPOINT_SCRIPT),
            ):
                self._scripts[name] = self._client.register_script(source)
        return self._client

    def _script(self, name: str) -> AsyncScript:
        self._redis()
        return self._scripts[name]

    def _key(self, key: str) -> str:
        return f"{self._prefix}inbox:{key}"

    def _checkpoint_key(self, name: str) -> str:
        return f"{self._prefix}checkpoint:{name}"

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """See ``Inbox.claim``; the claim expires on the Redis server's clock."""
        ids = result_keys(keys)
        check_ttl(ttl)
        token = new_token()
        answer = _text(
            await self._run("claim", ids, _CLAIMED + token, millis(ttl), self._done_ttl_arg())
        )
        if answer == "claimed":
            return Claim(ClaimState.CLAIMED, token)
        if answer == _DONE:
            return Claim(ClaimState.DONE)
        return Claim(ClaimState.IN_PROGRESS)

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """See ``Inbox.renew``."""
        ids = result_keys(keys)
        check_ttl(ttl)
        return bool(int(await self._run("renew", ids, _CLAIMED + token, millis(ttl))))

    async def complete(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.complete``; the done mark expires only when ``done_ttl`` was given."""
        await self._run("complete", result_keys(keys), self._done_ttl_arg())

    async def release(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.release``."""
        await self._run("release", result_keys(keys), _CLAIMED + token)

    async def is_done(self, keys: ResultKeys) -> bool:
        """See ``Inbox.is_done``."""
        client = self._redis()
        values = await call_redis(
            self._where, client.mget([self._key(k) for k in result_keys(keys)])
        )
        return any(_text(value) == _DONE for value in values)

    async def _run(self, script: str, ids: tuple[str, ...], *args: str | int) -> Any:
        """Run one of the inbox's scripts over the Redis keys of ``ids``."""
        call = self._script(script)(keys=[self._key(key) for key in ids], args=list(args))
        return await call_redis(self._where, call)

    def _done_ttl_arg(self) -> str:
        return "" if self._done_ttl_ms is None else str(self._done_ttl_ms)

    async def get_checkpoint(self, name: str) -> str | None:
        """See ``Inbox.get_checkpoint``."""
        check_checkpoint(name)
        client = self._redis()
        return _text(
            await call_redis(self._where, client.hget(self._checkpoint_key(name), "value"))
        )

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """See ``Inbox.set_checkpoint``; ``fence`` must lie within ±2**53."""
        check_checkpoint(name, value, fence)
        if fence is not None and not -_FENCE_LIMIT < fence < _FENCE_LIMIT:
            raise InvalidArgumentError("fence must lie within ±2**53")
        script = self._script("checkpoint")
        stored = await call_redis(
            self._where,
            script(
                keys=[self._checkpoint_key(name)],
                args=[value, "" if fence is None else str(int(fence))],
            ),
        )
        return bool(int(stored))

    async def close(self) -> None:
        """See ``Inbox.close``; the state stays in Redis for the other replicas."""
        self._closed = True
        client, self._client = self._client, None
        self._scripts.clear()
        if client is not None:
            await client.aclose()

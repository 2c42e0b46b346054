"""``PostgresLease``: one poller at a time among the replicas, on the service's PostgreSQL.

The lease is a row (holder token, epoch, expiry on the database server's clock) of the
``leases`` table of ``PostgresInbox``'s schema; a background task renews it every
``ttl / 3``. The row is never deleted, so its epoch, the fence the poller writes its
checkpoints with, grows on every new holding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.inbox.postgres import Connection, Database
from ntrvsta_async.reconcile.lease import RenewingLease

if TYPE_CHECKING:
    import asyncpg

__all__ = ["PostgresLease"]


class PostgresLease(RenewingLease):
    """A ``Lease`` in PostgreSQL: among replicas sharing ``name``, only the holder polls.

    ``dsn_or_pool`` is a ``postgresql://`` URL (the lease then keeps a pool of two
    connections) or an ``asyncpg.Pool``; give the lease a pool of its own, or enough
    connections, so that busy handlers never delay its renewal. ``acquire()`` takes the
    lease when it is free and renews it in the background every ``ttl / 3`` seconds; a
    replica that dies or is paused stops renewing and another takes over after at most
    ``ttl`` seconds: each statement commits on its own, so a paused holder locks nothing.
    Each new holding gets a larger ``epoch``. ``schema`` and ``table_prefix`` must match
    those of the ``PostgresInbox`` when the tables were created ahead by a DBA.
    """

    def __init__(
        self,
        dsn_or_pool: str | asyncpg.Pool[Any],
        name: str = "poller",
        ttl: float = 30.0,
        *,
        schema: str = "public",
        table_prefix: str = "ntrvsta_",
        timeout: float | None = None,
    ) -> None:
        self._db = Database(
            dsn_or_pool,
            "PostgresLease",
            schema=schema,
            table_prefix=table_prefix,
            max_connections=2,
        )
        super().__init__(name, ttl)
        if timeout is not None and not is_positive_number(timeout):
            raise ConfigurationError("timeout must be a positive number of seconds, or None")
        self._timeout = timeout if timeout is not None else min(5.0, max(0.1, self.ttl / 3))
        leases = self._db.tables.leases
        self._sql_take = (
            f"INSERT INTO {leases} AS l (name, token, epoch, expires_at)"  # noqa: S608 - identifiers checked
            " VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3))"
            " ON CONFLICT (name) DO UPDATE SET"
            " epoch = CASE WHEN l.token = EXCLUDED.token AND l.expires_at > clock_timestamp()"
            " THEN l.epoch ELSE l.epoch + 1 END,"
            " token = EXCLUDED.token, expires_at = EXCLUDED.expires_at"
            " WHERE l.token IS NULL OR l.token = EXCLUDED.token"
            " OR l.expires_at <= clock_timestamp()"
            " RETURNING epoch"
        )
        self._sql_extend = (
            f"UPDATE {leases} SET expires_at = clock_timestamp() + make_interval(secs => $4)"  # noqa: S608 - identifiers checked
            " WHERE name = $1 AND token = $2 AND epoch = $3 AND expires_at > clock_timestamp()"
            " RETURNING epoch"
        )
        self._sql_give_up = (
            f"UPDATE {leases} SET token = NULL, expires_at = NULL"  # noqa: S608 - identifiers checked
            " WHERE name = $1 AND token = $2"
        )

    def _where(self) -> str:
        return self._db.where

    async def _take(self, token: str) -> int:
        async def work(conn: Connection) -> int:
            epoch = await conn.fetchval(
                self._sql_take, self.name, token, self.ttl, timeout=self._timeout
            )
            return 0 if epoch is None else int(epoch)

        return await self._db.run(work, acquire_timeout=self._timeout)

    async def _extend(self, token: str, epoch: int) -> bool:
        async def work(conn: Connection) -> bool:
            renewed = await conn.fetchval(
                self._sql_extend, self.name, token, epoch, self.ttl, timeout=self._timeout
            )
            return renewed is not None

        return await self._db.run(work, acquire_timeout=self._timeout)

    async def _give_up(self, token: str) -> None:
        async def work(conn: Connection) -> None:
            await conn.execute(self._sql_give_up, self.name, token, timeout=self._timeout)

        await self._db.run(work, acquire_timeout=self._timeout)

    async def _close_store(self) -> None:
        await self._db.close()

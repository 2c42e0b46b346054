"""``PostgresInbox``: the ``Inbox`` in the service's own PostgreSQL database (asyncpg).

Claims and done marks are rows of one table, checkpoints rows of another; the schema is
created on first use (``schema_sql()`` prints it for a DBA). Every check-then-write takes
transaction-level advisory locks on the result's ids, so replicas never race and their
clocks never matter (expiry uses the server's clock).

In transactional mode (the default) a handler runs inside the database transaction that
also writes its result's done mark, and reaches that transaction through
``current_connection()``: its own rows and the done mark commit together or not at all.
While it runs, its claim is the advisory lock held by that open transaction, so a
holder that dies releases it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

import attrs

from ntrvsta_async._checks import is_count, is_positive_number
from ntrvsta_async._redact import redact_url, url_password
from ntrvsta_async.errors import ConfigurationError, InboxError
from ntrvsta_async.inbox.base import (
    Claim,
    ClaimState,
    Inbox,
    ResultKeys,
    check_checkpoint,
    check_open,
    check_ttl,
    is_own_cancellation,
    new_token,
    result_keys,
    settle,
)

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "AlreadyHandledError",
    "PostgresInbox",
    "current_connection",
    "schema_sql",
]

T = TypeVar("T")

logger = logging.getLogger("ntrvsta_async.reconcile")

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")
_DONE: Final = "done"
_CLAIMED: Final = "claimed"
_MIN_IDLE_LIMIT: Final = 2.0  # seconds idle in a short transaction: far past any normal stall
_SCHEMA_IDLE_LIMIT: Final = 10.0  # seconds a paused replica may hold the schema lock

Work = Callable[[], Awaitable[object]]
Connection: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
"""An asyncpg connection, or the proxy of one that a pool lends."""


class AlreadyHandledError(InboxError):
    """``PostgresInbox.mark_done_in`` found the result already handled: the caller's
    transaction must roll back, so that its work does not take effect twice."""


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise ConfigurationError(
            "PostgresInbox and PostgresLease need the asyncpg package:"
            " pip install 'ntrvsta-async[postgres]'"
        ) from None
    return asyncpg


@attrs.frozen(slots=True)
class Tables:
    """The quoted, schema-qualified names of the tables of one ``schema`` and ``prefix``."""

    schema: str
    prefix: str

    @classmethod
    def of(cls, schema: object, prefix: object) -> Tables:
        """Check ``schema`` and ``prefix`` (plain SQL identifiers) and name the tables."""
        if not isinstance(schema, str) or not _IDENTIFIER.fullmatch(schema):
            raise ConfigurationError("schema must be a plain SQL identifier such as 'public'")
        if not isinstance(prefix, str) or not (prefix == "" or _IDENTIFIER.fullmatch(prefix)):
            raise ConfigurationError(
                "table_prefix must be a plain SQL identifier such as 'ntrvsta_'"
            )
        return cls(schema, prefix)

    def _name(self, table: str) -> str:
        return f'"{self.schema}"."{self.prefix}{table}"'

    @property
    def inbox(self) -> str:
        """Claims and done marks, one row per result id."""
        return self._name("inbox")

    @property
    def checkpoints(self) -> str:
        """Named checkpoints with their fences."""
        return self._name("checkpoints")

    @property
    def leases(self) -> str:
        """Leases (``PostgresLease``) with their epochs."""
        return self._name("leases")

    @property
    def lock_space(self) -> str:
        """What advisory-lock keys of this inbox start with, so other inboxes never collide."""
        return f"{self.schema}.{self.prefix}inbox:"

    def ddl(self) -> list[str]:
        """The statements that create the schema; each may run again without effect."""
        return [
            f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"',
            f"""CREATE TABLE IF NOT EXISTS {self.inbox} (
    key text PRIMARY KEY,
    state text NOT NULL CHECK (state IN ('claimed', 'done')),
    token text,
    expires_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
)""",
            f"""CREATE TABLE IF NOT EXISTS {self.checkpoints} (
    name text PRIMARY KEY,
    value text NOT NULL,
    fence bigint,
    updated_at timestamptz NOT NULL DEFAULT now()
)""",
            f"""CREATE TABLE IF NOT EXISTS {self.leases} (
    name text PRIMARY KEY,
    token text,
    epoch bigint NOT NULL,
    expires_at timestamptz
)""",
        ]


def schema_sql(*, schema: str = "public", table_prefix: str = "ntrvsta_") -> str:
    """The SQL that ``PostgresInbox`` and ``PostgresLease`` run on first use, for a DBA who
    creates the tables ahead (idempotent: every statement is ``IF NOT EXISTS``)."""
    return "".join(f"{statement};\n" for statement in Tables.of(schema, table_prefix).ddl())


@attrs.define
class _Current:
    connection: Connection | None
    inbox: PostgresInbox
    marked_done: bool = False


_CURRENT: contextvars.ContextVar[_Current] = contextvars.ContextVar("ntrvsta_pg_transaction")


def current_connection() -> Connection:
    """The asyncpg connection of the transaction the running handler is part of.

    A handler called by ``ResultPoller`` or the webhook receiver on a transactional
    ``PostgresInbox`` writes its rows through it; they commit together with the result's
    done mark, or not at all. Raises ``ConfigurationError`` anywhere else.
    """
    current = _CURRENT.get(None)
    if current is None or current.connection is None:
        raise ConfigurationError(
            "current_connection() is only available inside a handler run by a"
            " transactional PostgresInbox"
        )
    return current.connection


def _check_dsn(dsn: str, owner: str) -> str:
    """``dsn`` when it is a postgresql:// URL; else ``ConfigurationError`` without its
    password."""
    if not dsn.startswith(("postgresql://", "postgres://")):
        raise ConfigurationError(
            f"{owner} needs a postgresql:// URL or an asyncpg pool, not {redact_url(dsn)!r}"
        )
    return dsn


class Database:
    """The connection pool, schema and error mapping shared by ``PostgresInbox`` and
    ``PostgresLease``: a pool made from a DSN is owned (closed on ``close()``), a pool
    given is only borrowed."""

    def __init__(
        self,
        dsn_or_pool: str | asyncpg.Pool[Any],
        owner: str,
        *,
        schema: str,
        table_prefix: str,
        max_connections: int,
    ) -> None:
        self.asyncpg = _import_asyncpg()
        self.tables = Tables.of(schema, table_prefix)
        if not is_count(max_connections):
            raise ConfigurationError("max_connections must be a positive integer")
        self._max_connections = max_connections
        self._dsn: str | None = None
        self._pool: asyncpg.Pool[Any] | None = None
        if isinstance(dsn_or_pool, str):
            self._dsn = _check_dsn(dsn_or_pool, owner)
            self.where = redact_url(dsn_or_pool)
            self._secret = url_password(dsn_or_pool)
        elif isinstance(dsn_or_pool, self.asyncpg.Pool):
            self._pool = dsn_or_pool
            self.where = "a given asyncpg pool"
            self._secret = None
        else:
            raise ConfigurationError(f"{owner} needs a postgresql:// URL or an asyncpg.Pool")
        self._ready = False
        self._lock = asyncio.Lock()
        self.closed = False

    @property
    def opened(self) -> bool:
        """True once the pool exists and the schema is in place."""
        return self._ready and not self.closed

    async def pool(self) -> asyncpg.Pool[Any]:
        """The pool, created (from the DSN) and the schema ensured on first use."""
        check_open(self.closed, "PostgreSQL inbox or lease")
        if self._ready and self._pool is not None:
            return self._pool
        async with self._lock, self.errors():
            if self._pool is None:
                self._pool = await self.asyncpg.create_pool(
                    self._dsn, min_size=1, max_size=self._max_connections
                )
            if not self._ready:
                async with self._pool.acquire() as conn, _transaction(conn, _SCHEMA_IDLE_LIMIT):
                    # Serialises schema creation across processes: concurrent CREATE TABLE
                    # IF NOT EXISTS of one table can still collide in the catalog.
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtextextended('ntrvsta-async schema', 0))"
                    )
                    for statement in self.tables.ddl():
                        await conn.execute(statement)
                self._ready = True
        assert self._pool is not None
        return self._pool

    @contextlib.asynccontextmanager
    async def errors(self) -> AsyncIterator[None]:
        """Turn driver and socket failures into ``InboxError``, without the DSN's password."""
        try:
            yield
        except (self.asyncpg.PostgresError, self.asyncpg.InterfaceError, OSError) as exc:
            detail = self._scrub(exc)
            cause = exc if detail == (str(exc) or type(exc).__name__) else None
            raise InboxError(f"postgres at {self.where}: {detail}") from cause
        except TimeoutError as exc:
            raise InboxError(f"postgres at {self.where}: timed out") from exc

    def _scrub(self, exc: BaseException) -> str:
        detail = str(exc) or type(exc).__name__
        if self._secret:
            detail = detail.replace(self._secret, "***")
        return detail

    async def run(
        self,
        work: Callable[[Connection], Awaitable[T]],
        *,
        acquire_timeout: float | None = None,
        transaction_idle_limit: float | None = None,
    ) -> T:
        """``work`` on a pooled connection, carried to its end even when the caller is
        cancelled; ``acquire_timeout`` bounds the wait for the connection.

        Without ``transaction_idle_limit``, ``work`` sends one statement, which commits on
        its own: a process paused (SIGSTOP, a frozen VM) right after it holds no lock that
        would stall the other replicas. With it, ``work`` runs in one transaction
        (committed when it returns, rolled back when it raises) that the server rolls
        back once the client leaves it idle that many seconds (two at least, so an
        ordinary stall never ends it): a paused process holds its locks no longer.
        """

        async def whole() -> T:
            pool = await self.pool()
            async with self.errors(), pool.acquire(timeout=acquire_timeout) as conn:
                if transaction_idle_limit is None:
                    return await work(conn)
                async with _transaction(conn, transaction_idle_limit):
                    return await work(conn)

        return await settle(whole())

    async def close(self) -> None:
        """Close the pool when this object made it; a given pool stays open."""
        self.closed = True
        pool, self._pool = self._pool, None
        if pool is not None and self._dsn is not None:
            await pool.close()


class PostgresInbox(Inbox):
    """An ``Inbox`` in PostgreSQL: replicas share it, and in transactional mode (the
    default) each handler's own writes commit with its result's done mark.

    ``dsn_or_pool`` is a ``postgresql://`` URL (the inbox then owns a pool of up to
    ``max_connections``) or the service's own ``asyncpg.Pool``. The tables
    (``<table_prefix>inbox``, ``<table_prefix>checkpoints``, ``<table_prefix>leases``) live
    in ``schema`` and are created on first use. With ``transactional=False`` handlers run
    outside any transaction, under renewed claims, as with the other backends.

    In transactional mode a claim row (the webhook receiver's, taken while it answers the
    request) only bridges the moment until its handler's transaction holds the lock: it
    lasts at most ``handoff_ttl`` seconds, however long the ``ttl`` asked, so a process
    killed in between holds up a redelivery no longer than that. Exactly-once does not
    depend on it: every handler runs under the lock, after checking that its result is
    not done.
    """

    def __init__(
        self,
        dsn_or_pool: str | asyncpg.Pool[Any],
        *,
        schema: str = "public",
        table_prefix: str = "ntrvsta_",
        transactional: bool = True,
        handoff_ttl: float = 10.0,
        max_connections: int = 10,
    ) -> None:
        if not is_positive_number(handoff_ttl):
            raise ConfigurationError("handoff_ttl must be a positive number of seconds")
        self.handoff_ttl = float(handoff_ttl)
        self._db = Database(
            dsn_or_pool,
            "PostgresInbox",
            schema=schema,
            table_prefix=table_prefix,
            max_connections=max_connections,
        )
        self.transactional = bool(transactional)
        inbox = self._db.tables.inbox
        self._lock_space = self._db.tables.lock_space
        self._sql_try_lock = (
            "SELECT bool_and(pg_try_advisory_xact_lock(hashtextextended($2 || k, 0)))"
            " FROM unnest($1::text[]) AS k"
        )
        # Waiting locks are taken in one order everywhere, so two waiters never deadlock.
        self._sql_wait_lock = (
            "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT"
            " hashtextextended($2 || k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS o"
        )
        self._sql_state = (
            f"SELECT state, token, expires_at > clock_timestamp() AS live FROM {inbox}"  # noqa: S608 - identifiers checked
            " WHERE key = ANY($1::text[])"
        )
        self._sql_done = (
            f"INSERT INTO {inbox} AS i (key, state, token, expires_at, updated_at)"  # noqa: S608 - identifiers checked
            " SELECT k, 'done', NULL, NULL, clock_timestamp() FROM unnest($1::text[]) AS k"
            " ORDER BY k ON CONFLICT (key) DO UPDATE SET state = 'done', token = NULL,"
            " expires_at = NULL, updated_at = EXCLUDED.updated_at"
        )
        self._sql_done_once = self._sql_done + " WHERE i.state <> 'done' RETURNING key"
        self._sql_claim = (
            f"INSERT INTO {inbox} (key, state, token, expires_at, updated_at)"  # noqa: S608 - identifiers checked
            " SELECT k, 'claimed', $2, clock_timestamp() + make_interval(secs => $3),"
            " clock_timestamp() FROM unnest($1::text[]) AS k ORDER BY k"
            " ON CONFLICT (key) DO UPDATE SET state = 'claimed', token = EXCLUDED.token,"
            " expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at"
        )
        self._sql_renew = (
            f"UPDATE {inbox} SET expires_at = clock_timestamp() + make_interval(secs => $3),"  # noqa: S608 - identifiers checked
            " updated_at = clock_timestamp()"
            " WHERE key = ANY($1::text[]) AND state = 'claimed' AND token = $2 RETURNING key"
        )
        self._sql_release = (
            f"DELETE FROM {inbox} WHERE key = ANY($1::text[])"  # noqa: S608 - identifiers checked
            " AND state = 'claimed' AND token = $2"
        )
        self._sql_is_done = (
            f"SELECT EXISTS (SELECT 1 FROM {inbox} WHERE key = ANY($1::text[])"  # noqa: S608 - identifiers checked
            " AND state = 'done')"
        )
        checkpoints = self._db.tables.checkpoints
        self._sql_get_checkpoint = f"SELECT value FROM {checkpoints} WHERE name = $1"  # noqa: S608 - identifiers checked
        # fence_after's rule in one statement, so a writer paused after it holds no row lock
        self._sql_set_checkpoint = (
            f"INSERT INTO {checkpoints} AS c (name, value, fence) VALUES ($1, $2, $3)"  # noqa: S608 - identifiers checked
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value,"
            " fence = COALESCE(EXCLUDED.fence, c.fence), updated_at = now()"
            " WHERE EXCLUDED.fence IS NULL OR c.fence IS NULL OR c.fence <= EXCLUDED.fence"
            " RETURNING name"
        )

    def __repr__(self) -> str:
        state = "closed" if self._db.closed else ("open" if self._db.opened else "not opened")
        mode = "transactional" if self.transactional else "not transactional"
        return (
            f"PostgresInbox({self._db.where!r}, schema={self._db.tables.schema!r},"
            f" table_prefix={self._db.tables.prefix!r}, {mode}, {state})"
        )

    # -- claims ----------------------------------------------------------------------------

    async def _states(
        self, conn: Connection, ids: Sequence[str]
    ) -> list[tuple[str, str | None, bool]]:
        rows = await conn.fetch(self._sql_state, list(ids))
        return [(row["state"], row["token"], bool(row["live"])) for row in rows]

    async def _locked_state(
        self, conn: Connection, ids: tuple[str, ...], *, wait: bool
    ) -> tuple[ClaimState | None, list[tuple[str, str | None, bool]]]:
        """Lock the result (inside the open transaction), then say DONE (marking every id
        done), IN_PROGRESS (another holds the lock), or None with the rows to decide on."""
        if wait:
            await conn.execute(self._sql_wait_lock, list(ids), self._lock_space)
        elif not await conn.fetchval(self._sql_try_lock, list(ids), self._lock_space):
            return ClaimState.IN_PROGRESS, []
        rows = await self._states(conn, ids)
        if any(state == _DONE for state, _, _ in rows):
            await conn.execute(self._sql_done, sorted(ids))
            return ClaimState.DONE, rows
        return None, rows

    def _row_ttl(self, ttl: float) -> float:
        return min(float(ttl), self.handoff_ttl) if self.transactional else float(ttl)

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """See ``Inbox.claim``; the claim expires on the database server's clock (after at
        most ``handoff_ttl`` in transactional mode), and a running transactional handler's
        lock counts as a claim too. A process paused while claiming holds the result no
        longer than that ttl (two seconds at least)."""
        ids = result_keys(keys)
        check_ttl(ttl)
        row_ttl = self._row_ttl(ttl)

        async def work(conn: Connection) -> Claim:
            state, rows = await self._locked_state(conn, ids, wait=False)
            if state is not None:
                return Claim(state)
            if any(live for _, _, live in rows):
                return Claim(ClaimState.IN_PROGRESS)
            token = new_token()
            await conn.execute(self._sql_claim, sorted(ids), token, row_ttl)
            return Claim(ClaimState.CLAIMED, token)

        async def undo(claim: Claim) -> None:
            if claim.token is not None:
                await self.release(ids, claim.token)

        return await settle(self._db.run(work, transaction_idle_limit=row_ttl), undo=undo)

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """See ``Inbox.renew``."""
        ids = result_keys(keys)
        check_ttl(ttl)

        async def work(conn: Connection) -> bool:
            renewed = await conn.fetch(self._sql_renew, sorted(ids), token, self._row_ttl(ttl))
            # the ids still held were extended too: harmless, the holder releases them
            return len(renewed) == len(ids)

        return await self._db.run(work)

    async def complete(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.complete``."""
        ids = sorted(result_keys(keys))

        async def work(conn: Connection) -> None:
            await conn.execute(self._sql_done, ids)

        await self._db.run(work)

    async def release(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.release``."""
        ids = sorted(result_keys(keys))

        async def work(conn: Connection) -> None:
            await conn.execute(self._sql_release, ids, token)

        await self._db.run(work)

    async def is_done(self, keys: ResultKeys) -> bool:
        """See ``Inbox.is_done``."""
        ids = list(result_keys(keys))
        pool = await self._db.pool()
        async with self._db.errors():
            return bool(await pool.fetchval(self._sql_is_done, ids))

    async def mark_done_in(self, connection: Connection, keys: ResultKeys) -> None:
        """Record the result as handled inside a transaction the caller opened on its own
        asyncpg ``connection`` (for instance the one under a SQLAlchemy ``AsyncSession``),
        so that the caller's writes and the done mark commit together.

        Raises ``AlreadyHandledError`` when any of the ids was already done (the caller's
        transaction must then roll back), ``ConfigurationError`` outside a transaction.
        """
        ids = sorted(result_keys(keys))
        if not connection.is_in_transaction():
            raise ConfigurationError("mark_done_in needs a connection inside a transaction")
        await self._db.pool()  # the tables exist
        async with self._db.errors():
            marked = await connection.fetch(self._sql_done_once, ids)
        if len(marked) < len(ids):
            raise AlreadyHandledError(f"result {ids[0]} was already handled")
        current = _CURRENT.get(None)
        if current is not None and current.inbox is self:
            current.marked_done = True  # the running handler's own mark: not a lost claim

    # -- transactional handling ------------------------------------------------------------

    async def handle(
        self, keys: ResultKeys, work: Work, *, ttl: float = 300.0
    ) -> tuple[ClaimState, BaseException | None]:
        """See ``Inbox.handle``; in transactional mode ``work`` runs inside the transaction
        that writes the done mark, and the claim is that transaction's lock (no ttl)."""
        if not self.transactional:
            return await super().handle(keys, work, ttl=ttl)
        ids = result_keys(keys)
        check_ttl(ttl)
        return await self._run_locked(ids, work, ttl, wait=False)

    async def run_claimed(
        self, keys: ResultKeys, token: str, work: Work, *, ttl: float = 300.0
    ) -> BaseException | None:
        """See ``Inbox.run_claimed``; in transactional mode ``work`` runs inside the
        transaction that writes the done mark.

        The claim row ``token`` (taken by ``claim()``, as the webhook receiver does while
        answering the request) is dropped first and the transaction's lock takes over, so a
        process killed while ``work`` runs leaves nothing that blocks a redelivery.
        """
        if not self.transactional:
            return await super().run_claimed(keys, token, work, ttl=ttl)
        ids = result_keys(keys)
        check_ttl(ttl)
        await settle(self.release(ids, token))
        _, error = await self._run_locked(ids, work, ttl, wait=True)
        return error

    async def _run_locked(
        self, ids: tuple[str, ...], work: Work, ttl: float, *, wait: bool
    ) -> tuple[ClaimState, BaseException | None]:
        """Lock the result in a new transaction; when it is not done (nor, unless
        ``wait``, claimed by a row), run ``work`` in that transaction and commit it with
        the done mark."""
        pool = await self._db.pool()
        async with self._db.errors():
            conn = await pool.acquire()
        try:
            transaction = conn.transaction()
            async with self._db.errors():
                await transaction.start()
            try:
                async with self._db.errors():
                    state, rows = await self._locked_state(conn, ids, wait=wait)
                if state is None and not wait and any(live for _, _, live in rows):
                    state = ClaimState.IN_PROGRESS  # claimed by a receiver about to run it
                if state is not None:
                    async with self._db.errors():
                        await settle(transaction.commit())
                    return state, None
                error = await self._run_watched(conn, ids, work, ttl)
                if error is not None:
                    await _quietly(transaction.rollback())
                    return ClaimState.CLAIMED, error
                async with self._db.errors():
                    await conn.execute(self._sql_done, sorted(ids))
                    await settle(transaction.commit())
                return ClaimState.CLAIMED, None
            except BaseException:
                await _quietly(transaction.rollback())
                raise
        finally:
            await _quietly(pool.release(conn))

    async def _run_watched(
        self, conn: Connection, ids: tuple[str, ...], work: Work, ttl: float
    ) -> BaseException | None:
        """Run ``work`` with ``conn`` as its ``current_connection()``; return what it raised
        (a handler's own ``CancelledError`` included), re-raising the caller's cancellation.

        Every ``ttl / 3`` seconds the result is checked: when another holder marked it done
        meanwhile (a ``complete()`` outside this lock), ``work`` is cancelled and its
        transaction rolled back rather than committed beside the other's.
        """
        current = _Current(conn, self)
        reset = _CURRENT.set(current)
        try:
            job = asyncio.ensure_future(work())
        finally:
            _CURRENT.reset(reset)
        watcher = asyncio.create_task(self._watch(ids, ttl, job, current))
        try:
            await job
        except BaseException as exc:
            if not job.done():
                job.cancel()
                await asyncio.wait([job])
            if is_own_cancellation(exc) or not isinstance(exc, Exception | asyncio.CancelledError):
                raise
            return exc
        finally:
            current.connection = None  # a task the handler left behind cannot use it later
            watcher.cancel()
            await asyncio.wait([watcher])
        return None

    async def _watch(
        self, ids: tuple[str, ...], ttl: float, job: asyncio.Future[object], current: _Current
    ) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                taken = not current.marked_done and await self.is_done(ids)
            except Exception as exc:
                logger.warning("could not check the claim on result %s: %s", ids[0], exc)
                continue
            if taken:
                logger.warning(
                    "result %s was marked done by another holder; cancelling its handler", ids[0]
                )
                job.cancel()
                return

    # -- checkpoints -----------------------------------------------------------------------

    async def get_checkpoint(self, name: str) -> str | None:
        """See ``Inbox.get_checkpoint``."""
        check_checkpoint(name)
        pool = await self._db.pool()
        async with self._db.errors():
            value = await pool.fetchval(self._sql_get_checkpoint, name)
        return None if value is None else str(value)

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """See ``Inbox.set_checkpoint``."""
        check_checkpoint(name, value, fence)

        async def work(conn: Connection) -> bool:
            return await conn.fetchval(self._sql_set_checkpoint, name, value, fence) is not None

        return await self._db.run(work)

    async def close(self) -> None:
        """See ``Inbox.close``; the rows stay for the other replicas, and a pool that was
        given stays open."""
        await self._db.close()


@contextlib.asynccontextmanager
async def _transaction(conn: Connection, idle_limit: float) -> AsyncIterator[None]:
    """A transaction that the server rolls back, closing ``conn``, when the client leaves it
    idle ``idle_limit`` seconds (two at least): a paused process holds its locks no longer."""
    milliseconds = round(max(idle_limit, _MIN_IDLE_LIMIT) * 1000)
    async with conn.transaction():
        await conn.execute(f"SET LOCAL idle_in_transaction_session_timeout = {milliseconds}")
        yield


async def _quietly(call: Awaitable[object]) -> None:
    """Await a rollback or a connection release that may fail on a broken connection."""
    with contextlib.suppress(Exception):
        await settle(call)

"""``SQLiteInbox``: the embedded, durable ``Inbox`` (one SQLite file in WAL mode)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async.errors import ConfigurationError, InboxError
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
    settle,
)

if TYPE_CHECKING:
    import aiosqlite

__all__ = ["SQLiteInbox"]

T = TypeVar("T")

_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = (
    """CREATE TABLE IF NOT EXISTS ntrvsta_inbox (
        key TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        token TEXT,
        expires_at REAL,
        updated_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS ntrvsta_checkpoints (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        fence INTEGER,
        updated_at REAL NOT NULL
    )""",
)
_DONE: Final = "done"
_CLAIMED: Final = "claimed"


def _import_aiosqlite() -> Any:
    try:
        import aiosqlite
    except ImportError:
        raise ConfigurationError(
            "SQLiteInbox needs the aiosqlite package: pip install 'ntrvsta-async[sqlite]'"
        ) from None
    return aiosqlite


class SQLiteInbox(Inbox):
    """An ``Inbox`` in a SQLite file: survives restarts, shared safely by this process's coroutines.

    The file and its tables are created on first use (WAL journal, one connection). Other
    processes may open the same file; claims are taken in ``BEGIN IMMEDIATE`` transactions.
    ``clock`` (Unix seconds by default) is injectable so tests can expire claims.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout: float = 5.0,
    ) -> None:
        self._aiosqlite = _import_aiosqlite()
        if not isinstance(path, str | os.PathLike) or not is_positive_number(busy_timeout):
            raise ConfigurationError(
                "SQLiteInbox needs a file path and a positive busy_timeout in seconds"
            )
        self._path = os.fspath(path)
        self._clock = clock
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._conn else "not opened")
        return f"SQLiteInbox({self._path!r}, {state})"

    async def _connection(self) -> aiosqlite.Connection:
        check_open(self._closed)
        if self._conn is None:
            conn: aiosqlite.Connection = await self._aiosqlite.connect(
                self._path, isolation_level=None
            )
            try:
                await conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
                await self._use_wal(conn)
                await conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def _use_wal(self, conn: aiosqlite.Connection) -> None:
        # Switching the journal mode can fail with "database is locked" without waiting for
        # the busy timeout while another connection opens the same new file.
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                async with conn.execute("PRAGMA journal_mode = WAL") as cursor:
                    row = await cursor.fetchone()
            except self._aiosqlite.OperationalError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.01)
                continue
            if row is not None and str(row[0]).lower() not in ("wal", "memory"):
                raise ConfigurationError(f"could not switch {self._path!r} to WAL journaling")
            return

    async def _transaction(
        self,
        work: Callable[[aiosqlite.Connection], Awaitable[T]],
        *,
        undo: Callable[[T], Awaitable[None]] | None = None,
    ) -> T:
        """Run ``work`` in one transaction that a cancelled caller cannot leave half-done.

        The transaction always runs to its end; when the caller was cancelled meanwhile,
        ``undo`` gets the committed result (a claim nobody will use is released).
        """
        return await settle(self._run_transaction(work), undo=undo)

    async def _run_transaction(self, work: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        async with self._lock, self._store_errors():
            conn = await self._connection()
            await conn.execute("BEGIN IMMEDIATE")
            try:
                result = await work(conn)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            return result

    async def _query_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        async with self._lock, self._store_errors():
            conn = await self._connection()
            async with conn.execute(sql, params) as cursor:
                return await cursor.fetchone()

    @contextlib.asynccontextmanager
    async def _store_errors(self) -> AsyncIterator[None]:
        """Turn SQLite and file-system failures (a file locked by another process, a full
        disk) into ``InboxError``."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise InboxError(f"sqlite inbox {self._path!r}: {exc}") from exc

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """See ``Inbox.claim``."""
        ids = result_keys(keys)
        check_ttl(ttl)

        async def work(conn: aiosqlite.Connection) -> Claim:
            now = self._clock()
            rows = await self._rows(conn, ids)
            if any(state == _DONE for state, _, _ in rows):
                await self._mark_done(conn, ids, now)
                return Claim(ClaimState.DONE)
            if any(expires is not None and expires > now for _, _, expires in rows):
                return Claim(ClaimState.IN_PROGRESS)
            token = new_token()
            await conn.executemany(
                "INSERT OR REPLACE INTO ntrvsta_inbox (key, state, token, expires_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [(key, _CLAIMED, token, now + ttl, now) for key in ids],
            )
            return Claim(ClaimState.CLAIMED, token)

        async def undo(claim: Claim) -> None:
            if claim.token is not None:
                await self.release(ids, claim.token)

        return await self._transaction(work, undo=undo)

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """See ``Inbox.renew``."""
        ids = result_keys(keys)
        check_ttl(ttl)

        async def work(conn: aiosqlite.Connection) -> bool:
            now = self._clock()
            rows = await self._rows(conn, ids)
            if len(rows) < len(ids) or any(
                state != _CLAIMED or owner != token for state, owner, _ in rows
            ):
                return False
            await conn.executemany(
                "UPDATE ntrvsta_inbox SET expires_at = ?, updated_at = ? WHERE key = ?",
                [(now + ttl, now, key) for key in ids],
            )
            return True

        return await self._transaction(work)

    async def complete(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.complete``."""
        ids = result_keys(keys)

        async def work(conn: aiosqlite.Connection) -> None:
            await self._mark_done(conn, ids, self._clock())

        await self._transaction(work)

    async def release(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.release``."""
        ids = result_keys(keys)

        async def work(conn: aiosqlite.Connection) -> None:
            await conn.executemany(
                "DELETE FROM ntrvsta_inbox WHERE key = ? AND state = ? AND token = ?",
                [(key, _CLAIMED, token) for key in ids],
            )

        await self._transaction(work)

    async def is_done(self, keys: ResultKeys) -> bool:
        """See ``Inbox.is_done``."""
        ids = result_keys(keys)
        marks = ", ".join("?" * len(ids))
        row = await self._query_one(
            f"SELECT 1 FROM ntrvsta_inbox WHERE state = ? AND key IN ({marks}) LIMIT 1",  # noqa: S608 - placeholders only
            (_DONE, *ids),
        )
        return row is not None

    @staticmethod
    async def _rows(
        conn: aiosqlite.Connection, ids: tuple[str, ...]
    ) -> list[tuple[str, str | None, float | None]]:
        """(state, token, expires_at) of the stored rows among ``ids``."""
        marks = ", ".join("?" * len(ids))
        async with conn.execute(
            f"SELECT state, token, expires_at FROM ntrvsta_inbox WHERE key IN ({marks})",  # noqa: S608 - placeholders only
            ids,
        ) as cursor:
            return [(row[0], row[1], row[2]) for row in await cursor.fetchall()]

    @staticmethod
    async def _mark_done(conn: aiosqlite.Connection, ids: tuple[str, ...], now: float) -> None:
        await conn.executemany(
            "INSERT OR REPLACE INTO ntrvsta_inbox (key, state, token, expires_at, updated_at)"
            " VALUES (?, ?, NULL, NULL, ?)",
            [(key, _DONE, now) for key in ids],
        )

    def __del__(self) -> None:
        if getattr(self, "_conn", None) is not None and not self._closed:
            warnings.warn(
                f"{self!r} was never closed; use 'async with SQLiteInbox(...)' or"
                " 'await inbox.close()'",
                ResourceWarning,
                stacklevel=2,
            )

    async def get_checkpoint(self, name: str) -> str | None:
        """See ``Inbox.get_checkpoint``."""
        check_checkpoint(name)
        row = await self._query_one("SELECT value FROM ntrvsta_checkpoints WHERE name = ?", (name,))
        return None if row is None else str(row[0])

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """See ``Inbox.set_checkpoint``."""
        check_checkpoint(name, value, fence)

        async def work(conn: aiosqlite.Connection) -> bool:
            async with conn.execute(
                "SELECT fence FROM ntrvsta_checkpoints WHERE name = ?", (name,)
            ) as cursor:
                row = await cursor.fetchone()
            accepted, new_fence = fence_after(None if row is None else row[0], fence)
            if accepted:
                await conn.execute(
                    "INSERT OR REPLACE INTO ntrvsta_checkpoints (name, value, fence, updated_at)"
                    " VALUES (?, ?, ?, ?)",
                    (name, value, new_fence, self._clock()),
                )
            return accepted

        return await self._transaction(work)

    async def close(self) -> None:
        """See ``Inbox.close``; the file keeps every state for the next ``SQLiteInbox``."""
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                await conn.close()

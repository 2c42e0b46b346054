"""Results stored with SQLAlchemy (async, asyncpg), exactly once.

The handler writes its ORM rows in its own ``AsyncSession`` and records the result as
handled in that same transaction with ``PostgresInbox.mark_done_in``, through the asyncpg
connection under the session: the rows and the done mark commit together or not at all.
If another run handled the result first, ``mark_done_in`` raises ``AlreadyHandledError``
and the session rolls back, so a row never lands twice. Run it from cron:

    NTRVSTA_API_KEY=... python examples/sqlalchemy_results.py postgresql://app:pw@db/app
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import String
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ntrvsta_async import NtrvstaClient, ResultSummary
from ntrvsta_async.reconcile import PostgresInbox, ReconcileReport, ResultPoller


class Base(DeclarativeBase):
    """The service's own models."""


class Score(Base):
    """One row per handled result: nothing in the table itself prevents a second one; the
    done mark written in the same transaction does."""

    __tablename__ = "scores"

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[str] = mapped_column(String, index=True)
    overall_score: Mapped[float | None]
    email: Mapped[str | None]


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection under ``session``, inside the session's transaction."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


def store_scores(
    sessions: async_sessionmaker[AsyncSession], inbox: PostgresInbox
) -> Callable[[ResultSummary], Awaitable[None]]:
    """The poller's handler: the result's row and its done mark in one transaction."""

    async def store(result: ResultSummary) -> None:
        async with sessions.begin() as session:
            email = result.candidate.email if result.candidate is not None else None
            session.add(
                Score(result_id=result.key, overall_score=result.overall_score, email=email)
            )
            await session.flush()
            await inbox.mark_done_in(await driver_connection(session), result.keys)

    return store


async def reconcile(client: NtrvstaClient, dsn: str) -> ReconcileReport:
    """Create the table if needed and run one pass into it."""
    engine = create_async_engine(make_url(dsn).set(drivername="postgresql+asyncpg"))
    try:
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        sessions = async_sessionmaker(engine, expire_on_commit=False)
        async with PostgresInbox(dsn) as inbox:
            poller = ResultPoller(client, store_scores(sessions, inbox), inbox=inbox)
            return await poller.run_once()
    finally:
        await engine.dispose()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; the key and base URL default to NTRVSTA_API_KEY and
    NTRVSTA_BASE_URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dsn", help="postgresql:// URL of the service's database")
    parser.add_argument("--api-key")
    parser.add_argument("--base-url")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> ReconcileReport:
    """Connect, reconcile once and print the pass's figures."""
    async with NtrvstaClient(api_key=args.api_key, base_url=args.base_url) as client:
        report = await reconcile(client, args.dsn)
    print(f"handled={report.handled} duplicates={report.skipped_duplicates} error={report.error}")
    return report


if __name__ == "__main__":
    sys.exit(0 if asyncio.run(run(parse_args())).ok else 1)

"""``ResultPoller``: pages the results endpoint to recover every result a webhook missed.

Each result key is claimed in the inbox before its handler runs and marked done after it
returns, so the webhook receiver and the poller handle a result once in effect. Progress
is a checkpoint per partition that only moves past results whose handlers finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self, TypeVar

import attrs

from ntrvsta_async._checks import is_coroutine_callable, is_count, is_positive_number
from ntrvsta_async.errors import (
    APIStatusError,
    AuthenticationError,
    ConfigurationError,
    NtrvstaError,
)
from ntrvsta_async.inbox.base import ClaimState, Inbox, is_own_cancellation, settle
from ntrvsta_async.models import Page, ResultSummary
from ntrvsta_async.reconcile.checkpoint import Checkpoint
from ntrvsta_async.reconcile.lease import Lease
from ntrvsta_async.reconcile.report import ReconcileReport

if TYPE_CHECKING:
    from aiohttp import web

    from ntrvsta_async.client import NtrvstaClient

__all__ = ["Partition", "ResultHandler", "ResultPoller", "poller_context"]

logger = logging.getLogger("ntrvsta_async.reconcile")

ResultHandler = Callable[[ResultSummary], Awaitable[object]]
"""What the poller calls for each new result; an exception leaves it for the next run."""

#: Statuses with which a server may refuse a saved cursor it no longer honours (OP-8).
STALE_CURSOR_STATUSES: Final = frozenset({400, 404, 410, 422})

ReportCallback = Callable[[ReconcileReport], object]
"""``on_report(report)``, sync or async: called with the report of every pass."""

T = TypeVar("T")


@attrs.frozen
class Partition:
    """A slice of results polled on its own: one template, one posting, or (neither) all."""

    template_id: str | None = None
    external_posting_id: str | None = None

    @property
    def name(self) -> str:
        """A stable name, used for the partition's checkpoint."""
        if self.template_id is not None:
            return f"template:{self.template_id}"
        if self.external_posting_id is not None:
            return f"posting:{self.external_posting_id}"
        return "all"


@attrs.define
class _Tally:
    pages: int = 0
    seen: int = 0
    new: int = 0
    handled: int = 0
    failed: int = 0
    duplicates: int = 0
    in_progress: int = 0
    newest_seen: datetime | None = None
    full_sweep: bool = False
    auth_failed: bool = False
    malformed: int = 0
    store_error: str | None = None
    store_skipped: int = 0
    errors: list[str] = attrs.Factory(list)

    def store_failed(self, exc: Exception) -> None:
        """Note an inbox failure; the first one stops the pass, the rest are only counted."""
        if self.store_error is None:
            self.store_error = f"inbox: {exc}"
        else:
            self.store_skipped += 1


@attrs.define
class _Pass:
    """Bookkeeping of one pass over a partition."""

    bound: datetime | None
    sweep: bool
    newest_finished: datetime | None = None
    oldest_unfinished: datetime | None = None
    unfinished_undated: bool = False
    cursor_frozen: bool = False
    server_now: datetime | None = None


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


class ResultPoller:
    """Reconciles completed results into ``handler``, once in effect, resumable after a crash.

    ``run_once()`` makes one pass; ``start()`` / ``stop()`` or ``async with`` run passes in
    the background every ``interval`` seconds (with jitter). Handlers run at most
    ``concurrency`` at a time across all ``partitions`` (template ids, or ``Partition``
    objects for posting ids; None polls everything as one partition). ``on_report``
    receives the ``ReconcileReport`` of every pass, from ``run_once()`` or the background.
    """

    def __init__(
        self,
        client: NtrvstaClient,
        handler: ResultHandler,
        *,
        inbox: Inbox,
        interval: float = 60.0,
        concurrency: int = 8,
        partitions: Sequence[str | Partition] | None = None,
        lookback: timedelta = timedelta(minutes=10),
        start_from: datetime | None = None,
        lease: Lease | None = None,
        full_sweep_every: timedelta | None = timedelta(hours=24),
        jitter: float = 0.1,
        claim_ttl: float = 300.0,
        page_size: int | None = None,
        on_report: ReportCallback | None = None,
        name: str = "default",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not is_coroutine_callable(handler):
            raise ConfigurationError(
                "handler must be a coroutine function (async def) taking a ResultSummary"
            )
        if not is_count(concurrency):
            raise ConfigurationError("concurrency must be a positive integer")
        if (
            not is_positive_number(interval)
            or not is_positive_number(claim_ttl)
            or not (isinstance(jitter, int | float) and 0 <= jitter < 1)
        ):
            raise ConfigurationError("interval and claim_ttl must be positive, jitter in [0, 1)")
        if lookback < timedelta(0):
            raise ConfigurationError("lookback must not be negative")
        if start_from is not None and start_from.tzinfo is None:
            raise ConfigurationError("start_from must be timezone-aware")
        self._client = client
        self._handler = handler
        self._inbox = inbox
        self.interval = interval
        self.concurrency = concurrency
        self.partitions: tuple[Partition, ...] = tuple(
            p if isinstance(p, Partition) else Partition(template_id=p)
            for p in (partitions or [Partition()])
        )
        if len({p.name for p in self.partitions}) != len(self.partitions):
            raise ConfigurationError("partitions must be distinct")
        self.lookback = lookback
        self.start_from = start_from
        self._lease = lease
        self.full_sweep_every = full_sweep_every
        self.jitter = jitter
        self.claim_ttl = claim_ttl
        self.page_size = page_size
        self._on_report = on_report
        self.name = name
        self._clock = clock or (lambda: datetime.now(UTC))
        self._limit = asyncio.Semaphore(concurrency)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._run_lock = asyncio.Lock()
        self.last_report: ReconcileReport | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"ResultPoller(name={self.name!r}, partitions={len(self.partitions)}, {state})"

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> ReconcileReport:
        """Poll every partition once and hand each new result to the handler.

        The report is returned and also handed to ``on_report``, as for background passes.
        """
        report = await self._reconcile()
        await self._emit(report)
        return report

    async def _reconcile(self) -> ReconcileReport:
        async with self._run_lock:
            started = time.monotonic()
            fence: int | None = None
            if self._lease is not None:
                try:
                    leader = await self._lease.acquire()
                except Exception as exc:
                    logger.error("reconcile %s: lease unavailable: %s", self.name, exc)
                    return self._finish(
                        ReconcileReport(leader=False, error=f"lease: {exc}"), started
                    )
                if not leader:
                    return self._finish(ReconcileReport(leader=False), started)
                fence = self._lease.epoch
                if fence is None:  # the lease ran out between acquire() and now
                    return self._finish(ReconcileReport(leader=False), started)
            tally = _Tally()
            await asyncio.gather(*(self._poll(p, tally, fence) for p in self.partitions))
            if tally.store_error is not None:
                skipped = f" ({tally.store_skipped} more results not claimed)"
                tally.errors.append(tally.store_error + (skipped if tally.store_skipped else ""))
            now = self._clock()
            report = ReconcileReport(
                pages=tally.pages,
                seen=tally.seen,
                new=tally.new,
                handled=tally.handled,
                failed=tally.failed,
                skipped_duplicates=tally.duplicates,
                in_progress=tally.in_progress,
                partitions=len(self.partitions),
                full_sweep=tally.full_sweep,
                lag=(now - tally.newest_seen) if tally.newest_seen else None,
                error="; ".join(tally.errors) or None,
                auth_failed=tally.auth_failed,
                malformed=tally.malformed,
            )
            return self._finish(report, started)

    def _finish(self, report: ReconcileReport, started: float) -> ReconcileReport:
        report = attrs.evolve(report, duration=timedelta(seconds=time.monotonic() - started))
        self.last_report = report
        logger.info(
            "reconcile %s: leader=%s pages=%d seen=%d new=%d handled=%d failed=%d "
            "duplicates=%d in_progress=%d lag=%s duration=%.2fs%s",
            self.name,
            report.leader,
            report.pages,
            report.seen,
            report.new,
            report.handled,
            report.failed,
            report.skipped_duplicates,
            report.in_progress,
            f"{report.lag.total_seconds():.1f}s" if report.lag is not None else "-",
            report.duration.total_seconds(),
            f" error={report.error}" if report.error else "",
            extra={"ntrvsta_report": attrs.asdict(report)},
        )
        return report

    def _checkpoint_name(self, partition: Partition) -> str:
        return f"poller:{self.name}:{partition.name}"

    async def _poll(self, partition: Partition, tally: _Tally, fence: int | None) -> None:
        name = self._checkpoint_name(partition)
        try:
            saved = Checkpoint.loads(await self._inbox.get_checkpoint(name))
        except Exception as exc:
            tally.store_failed(exc)
            return
        try:
            await self._pass(partition, saved, tally, fence)
        except AuthenticationError as exc:
            tally.errors.append(f"{partition.name}: {exc}")
            tally.auth_failed = True
        except NtrvstaError as exc:
            tally.errors.append(f"{partition.name}: {exc}")
        except Exception as exc:
            logger.exception("reconcile %s: partition %s failed", self.name, partition.name)
            tally.errors.append(f"{partition.name}: {type(exc).__name__}: {exc}")

    def _sweep_due(self, saved: Checkpoint, now: datetime) -> bool:
        if saved.after is None:
            return True
        if self.full_sweep_every is None:
            return False
        if saved.last_sweep is None:
            return True
        spread = 1 + self.jitter * (2 * random.random() - 1)  # noqa: S311 - not security
        return now - saved.last_sweep >= self.full_sweep_every * spread

    async def _pass(
        self, partition: Partition, saved: Checkpoint, tally: _Tally, fence: int | None
    ) -> None:
        now = self._clock()
        cursor: str | None = None
        if saved.cursor is not None:
            state = _Pass(bound=saved.pass_after, sweep=saved.pass_sweep)
            state.newest_finished = saved.pass_newest
            cursor = saved.cursor
        else:
            state = self._fresh_pass(saved, now)
        tally.full_sweep = tally.full_sweep or state.sweep

        self._check_fence(partition, fence)
        try:
            page = await self._fetch(partition, state.bound, cursor)
        except APIStatusError as exc:
            if cursor is None or exc.status not in STALE_CURSOR_STATUSES:
                raise
            logger.warning(
                "reconcile %s: saved cursor of %s refused (HTTP %d); re-listing by time",
                self.name,
                partition.name,
                exc.status,
            )
            state = self._fresh_pass(attrs.evolve(saved, last_sweep=None), now, resumed=True)
            tally.full_sweep = tally.full_sweep or state.sweep
            page = await self._fetch(partition, state.bound, None)

        seen_cursors: set[str] = set()
        while True:
            tally.pages += 1
            state.server_now = page.server_time or state.server_now
            more = page.next_cursor is not None
            if more and page.next_cursor in seen_cursors:
                logger.warning("reconcile %s: the server repeated a page cursor", self.name)
                more = False
            next_page: asyncio.Task[Page[ResultSummary]] | None = None
            if more and page.next_cursor is not None and not self._stopping.is_set():
                seen_cursors.add(page.next_cursor)
                next_page = asyncio.ensure_future(
                    self._fetch(partition, state.bound, page.next_cursor)
                )
            try:
                tally.malformed += len(page.skipped)
                if not await self._handle_page(page.items, state, tally, partition, fence):
                    state.cursor_frozen = True
                if tally.store_error is not None:
                    more = False  # the inbox is down: stop here, the next pass resumes
                elif more and not state.cursor_frozen:
                    await self._save(
                        partition,
                        attrs.evolve(
                            saved,
                            cursor=page.next_cursor,
                            pass_after=state.bound,
                            pass_newest=state.newest_finished,
                            pass_sweep=state.sweep,
                        ),
                        fence,
                    )
                if more:
                    self._check_fence(partition, fence)
            except BaseException:
                if next_page is not None:
                    next_page.cancel()
                raise
            if not more:
                if next_page is not None:
                    next_page.cancel()
                break
            if next_page is None or self._stopping.is_set():
                if next_page is not None:
                    next_page.cancel()
                return  # stopping: the saved cursor resumes this pass on the next run
            page = await next_page

        if tally.store_error is not None:
            return
        if state.unfinished_undated:
            after = None
        else:
            after = _later(saved.after, state.newest_finished)
            after = _earlier(after, state.oldest_unfinished)
            after = _earlier(after, (state.server_now or self._clock()) - self.lookback)
        await self._save(
            partition,
            Checkpoint(after=after, last_sweep=now if state.sweep else saved.last_sweep),
            fence,
        )

    def _fresh_pass(self, saved: Checkpoint, now: datetime, *, resumed: bool = False) -> _Pass:
        """A pass listing from the time bound: the whole history (or ``start_from``) on a
        sweep or without a checkpoint, else ``lookback`` behind the checkpoint."""
        sweep = (saved.after is None) if resumed else self._sweep_due(saved, now)
        bound = self.start_from if sweep or saved.after is None else saved.after - self.lookback
        return _Pass(bound=bound, sweep=sweep)

    def _check_fence(self, partition: Partition, fence: int | None) -> None:
        """Stop the pass when this replica no longer holds the lease it started under."""
        if self._lease is not None and self._lease.epoch != fence:
            raise _LeaseLost(f"{partition.name}: the lease was lost; stopping this pass")

    async def _fetch(
        self, partition: Partition, bound: datetime | None, cursor: str | None
    ) -> Page[ResultSummary]:
        return await self._client.results.list_page(
            cursor=cursor,
            template_id=partition.template_id,
            external_posting_id=partition.external_posting_id,
            completed_after=bound,
            limit=self.page_size,
        )

    async def _save(self, partition: Partition, checkpoint: Checkpoint, fence: int | None) -> None:
        stored = await settle(
            self._inbox.set_checkpoint(
                self._checkpoint_name(partition), checkpoint.dumps(), fence=fence
            )
        )
        if not stored:
            raise _LeaseLost(f"{partition.name}: checkpoint refused: the lease moved on")

    async def _handle_page(
        self,
        items: Sequence[ResultSummary],
        state: _Pass,
        tally: _Tally,
        partition: Partition,
        fence: int | None,
    ) -> bool:
        """Handle a page's results concurrently; True when every one of them is finished."""
        tally.seen += len(items)
        for item in items:
            tally.newest_seen = _later(tally.newest_seen, item.completed_datetime)
        outcomes = await asyncio.gather(
            *(self._handle(item, tally, partition, fence) for item in items)
        )
        now = state.server_now or self._clock()
        for item, finished in zip(items, outcomes, strict=True):
            completed = item.completed_datetime
            if finished:
                state.newest_finished = _later(state.newest_finished, completed)
            elif completed is None or completed > now:
                # no time, or a skewed one: nothing says where it stands, so it holds the
                # checkpoint back entirely until it is handled
                state.unfinished_undated = True
            else:
                state.oldest_unfinished = _earlier(state.oldest_unfinished, completed)
        return all(outcomes)

    async def _handle(
        self, item: ResultSummary, tally: _Tally, partition: Partition, fence: int | None
    ) -> bool:
        """Claim, handle and complete one result; True when it is done (now or before)."""
        async with self._limit:
            if tally.store_error is not None:
                tally.store_skipped += 1
                return False
            try:
                self._check_fence(partition, fence)
            except _LeaseLost:
                return False
            try:
                state, error = await self._inbox.handle(
                    item.keys, functools.partial(self._handler, item), ttl=self.claim_ttl
                )
            except Exception as exc:
                tally.store_failed(exc)
                return False
            if state is ClaimState.DONE:
                tally.duplicates += 1
                return True
            if state is ClaimState.IN_PROGRESS:
                tally.in_progress += 1
                return False
            tally.new += 1
            if error is not None:
                tally.failed += 1
                logger.error(
                    "reconcile %s: handler failed for result %s; it is retried on a later pass",
                    self.name,
                    item.key,
                    exc_info=error,
                )
                return False
            tally.handled += 1
            return True

    # -- background ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the background loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run passes in the background every ``interval`` seconds until ``stop()``.

        A plain method: it schedules the loop on the running event loop and returns.
        """
        if self.running:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name=f"ntrvsta-poller-{self.name}")

    async def stop(self, drain_timeout: float = 30.0) -> None:
        """Stop the background loop, letting in-flight handlers finish within ``drain_timeout``
        seconds; past that they are cancelled (their results are retried on a later run)."""
        self._stopping.set()
        task, self._task = self._task, None
        try:
            if task is not None and not task.done():
                await self._drain(task, drain_timeout)
        finally:
            if task is None or task.done():
                self._stopping.clear()
            if self._lease is not None:
                try:
                    await self._lease.release()
                except Exception as exc:
                    logger.warning("reconcile %s: could not release the lease: %s", self.name, exc)

    async def _drain(self, task: asyncio.Task[None], drain_timeout: float) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(task), drain_timeout)
        except TimeoutError:
            logger.warning(
                "reconcile %s: handlers still running after %.0fs; cancelling",
                self.name,
                drain_timeout,
            )
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        except asyncio.CancelledError:
            task.cancel()
            await asyncio.wait([task])
            raise

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                report = await self.run_once()
            except Exception:
                logger.exception("reconcile %s: run failed; trying again next pass", self.name)
            except asyncio.CancelledError as exc:
                if is_own_cancellation(exc):
                    raise
                logger.exception("reconcile %s: run cancelled from inside; going on", self.name)
            else:
                if report.auth_failed:
                    logger.error(
                        "reconcile %s: the API rejected the key; fix it, the poller keeps trying",
                        self.name,
                    )
            delay = self.interval * (1 + self.jitter * (2 * random.random() - 1))  # noqa: S311
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _emit(self, report: ReconcileReport) -> None:
        if self._on_report is None:
            return
        try:
            result = self._on_report(report)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("reconcile %s: on_report callback failed", self.name)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class _LeaseLost(NtrvstaError):
    """A checkpoint write was fenced off: another replica holds the lease now."""


def poller_context(poller: ResultPoller) -> Callable[[web.Application], AsyncIterator[None]]:
    """An aiohttp ``cleanup_ctx`` entry that runs ``poller`` for the life of the app.

    ``app.cleanup_ctx.append(poller_context(poller))`` starts it with the app and stops it,
    draining handlers, on shutdown.
    """

    async def context(app: web.Application) -> AsyncIterator[None]:
        poller.start()
        yield
        await poller.stop()

    return context

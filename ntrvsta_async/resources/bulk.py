"""Fanning out invitation requests: bounded concurrency, lazy input, one outcome per input."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sized,
)
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import attrs

from ntrvsta_async._checks import is_count, is_positive_number
from ntrvsta_async.errors import ConfigurationError, InvalidArgumentError
from ntrvsta_async.models import CandidateLike, Invitation
from ntrvsta_async.transport import RateController

__all__ = [
    "BulkOutcome",
    "BulkResult",
    "BulkRun",
    "InvitationRequest",
    "ProgressCallback",
    "RetryHook",
    "Room",
    "RoomFor",
]

ProgressCallback = Callable[[int, int | None], object]
"""``on_progress(done, total)``; ``total`` is None for an input of unknown length."""


class _Creates(Protocol):
    """What a run fans out through: ``client.invitations`` or one on a wider pool."""

    async def create(
        self,
        *,
        template_id: str,
        candidate: CandidateLike,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Invitation: ...


RetryHook = Callable[[BaseException, float], None]
"""Told of each retry (the error and the wait) before its wait, in the retrying task."""


@attrs.frozen
class Room:
    """What a run creates through, and whether it caps the requests in flight itself (its
    own pool), so that a request waiting to retry may leave its place to a stand-in."""

    creates: _Creates
    stand_ins: bool


RoomFor = Callable[[int, RetryHook], AbstractAsyncContextManager[Room]]
"""Given the requests a run keeps in flight and a hook for its retries, a context holding
the ``Room`` of the run."""


@attrs.frozen
class InvitationRequest:
    """One invitation to create: the same arguments as ``client.invitations.create``."""

    template_id: str
    candidate: CandidateLike
    extra_body: Mapping[str, Any] | None = None

    @classmethod
    def coerce(cls, value: object) -> InvitationRequest:
        """An ``InvitationRequest`` from itself or a mapping with the same keys."""
        if isinstance(value, InvitationRequest):
            return value
        if isinstance(value, Mapping):
            unknown = sorted(
                str(k) for k in value if k not in ("template_id", "candidate", "extra_body")
            )
            if unknown or "template_id" not in value or "candidate" not in value:
                raise InvalidArgumentError(
                    "an invitation request needs template_id and candidate "
                    f"(and optionally extra_body){f'; unknown keys {unknown}' if unknown else ''}"
                )
            return cls(value["template_id"], value["candidate"], value.get("extra_body"))
        raise InvalidArgumentError(
            f"expected an InvitationRequest or a mapping, not {type(value).__name__}"
        )


@attrs.frozen
class BulkOutcome:
    """What became of one input: ``invitation`` on success, else ``error``.

    ``index`` is the input's position (0-based); ``request`` is the input itself, coerced to
    an ``InvitationRequest`` when it could be.
    """

    index: int
    request: InvitationRequest | object
    invitation: Invitation | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the invitation was created or reused."""
        return self.error is None


@attrs.frozen
class BulkResult:
    """Every outcome of a fan-out, split by success; each input is in exactly one list."""

    succeeded: tuple[BulkOutcome, ...]
    failed: tuple[BulkOutcome, ...]

    @property
    def total(self) -> int:
        """How many inputs there were."""
        return len(self.succeeded) + len(self.failed)


_CREW_CAP = 2
"""Workers a run may have, in multiples of its concurrency, stand-ins included."""


class _Source:
    """Hands out ``(index, item)`` pairs from a sync or async iterable, one at a time.

    A sync iterable is read with ``take()``, which awaits nothing, so workers cannot
    interleave inside it; an async one with ``next()``, under a lock. When reading the
    input raises, the source ends and keeps the exception in ``error``, so the requests
    already in flight still finish and report before it is raised.
    """

    def __init__(self, items: Iterable[Any] | AsyncIterable[Any]) -> None:
        self.sync = isinstance(items, Iterable)
        self._sync: Iterator[Any] | None = iter(items) if isinstance(items, Iterable) else None
        self._async = aiter(items) if not isinstance(items, Iterable) else None
        self._lock = asyncio.Lock()
        self._index = 0
        self.exhausted = False
        self.error: BaseException | None = None

    def take(self) -> tuple[int, Any] | None:
        """The next pair of a sync iterable, or None at its end."""
        if self.exhausted:
            return None
        assert self._sync is not None
        try:
            item = next(self._sync)
        except StopIteration:
            self.exhausted = True
            return None
        except Exception as exc:
            self._fail(exc)
            return None
        index = self._index
        self._index = index + 1
        return index, item

    async def next(self) -> tuple[int, Any] | None:
        """The next pair of an async iterable, or None at its end."""
        async with self._lock:
            if self.exhausted:
                return None
            assert self._async is not None
            try:
                item = await anext(self._async)
            except StopAsyncIteration:
                self.exhausted = True
                return None
            except asyncio.CancelledError as exc:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this run is being cancelled
                error = RuntimeError("reading the requests raised CancelledError")
                error.__cause__ = exc
                self._fail(error)
                return None
            except Exception as exc:
                self._fail(exc)
                return None
            return self._numbered(item)

    def _fail(self, error: BaseException) -> None:
        self.exhausted = True
        self.error = error

    def _numbered(self, item: Any) -> tuple[int, Any]:
        index, self._index = self._index, self._index + 1
        return index, item


class BulkRun:
    """A fan-out in waiting: ``await`` it for a ``BulkResult``, or ``async for`` its outcomes.

    Outcomes arrive as they complete. Iterating holds at most about ``concurrency`` outcomes
    in memory and reads the input lazily; it can be consumed once.
    """

    def __init__(
        self,
        room: RoomFor,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        concurrency: int,
        rate_limit: float | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        if not isinstance(requests, Iterable | AsyncIterable) or isinstance(
            requests, str | bytes | Mapping
        ):
            raise InvalidArgumentError("requests must be an iterable or async iterable of requests")
        if not is_count(concurrency):
            raise InvalidArgumentError("concurrency must be a positive integer")
        if rate_limit is not None and not is_positive_number(rate_limit):
            raise InvalidArgumentError(
                "rate_limit must be a positive number of requests per second"
            )
        if on_progress is not None and not callable(on_progress):
            raise InvalidArgumentError("on_progress must be callable")
        self._room = room
        self._requests = requests
        self._total = len(requests) if isinstance(requests, Sized) else None
        self._concurrency = concurrency
        self._rate_limit = rate_limit
        self._on_progress = on_progress
        self._consumed = False

    def __await__(self) -> Generator[Any, None, BulkResult]:
        return self._collect().__await__()

    async def _collect(self) -> BulkResult:
        succeeded: list[BulkOutcome] = []
        failed: list[BulkOutcome] = []
        async for outcome in self:
            (succeeded if outcome.ok else failed).append(outcome)
        return BulkResult(
            succeeded=tuple(sorted(succeeded, key=lambda o: o.index)),
            failed=tuple(sorted(failed, key=lambda o: o.index)),
        )

    def __aiter__(self) -> AsyncGenerator[BulkOutcome, None]:
        if self._consumed:
            raise ConfigurationError("this create_many() run was already consumed")
        self._consumed = True
        return self._run()

    async def _run(self) -> AsyncGenerator[BulkOutcome, None]:
        # A run's own cap, below the client's pace (which every request also waits for).
        limiter = None if self._rate_limit is None else RateController(self._rate_limit)
        source = _Source(self._requests)
        # Outcomes on their way to the consumer, with None for the end of the run; a full
        # queue holds the workers back until the consumer catches up.
        outcomes: asyncio.Queue[BulkOutcome | None] = asyncio.Queue(self._concurrency)
        failure: list[BaseException] = []
        reader_gone = asyncio.Event()  # the consumer stopped reading: nobody awaits the end
        crew: set[asyncio.Task[None]] = set()
        waiting: set[asyncio.Task[None]] = set()  # workers whose request waits to be retried
        group = asyncio.TaskGroup()
        stand_ins = False

        def on_retry(_: BaseException, __: float) -> None:
            """A worker's request waits to be retried: a stand-in takes the next input."""
            task = asyncio.current_task()
            if task not in crew or task in waiting:
                return
            waiting.add(task)
            if stand_ins and not source.exhausted and len(crew) < _CREW_CAP * self._concurrency:
                with contextlib.suppress(RuntimeError):  # the run is ending: no stand-in
                    crew.add(group.create_task(worker(invitations)))

        async def worker(invitations: _Creates) -> None:
            me = asyncio.current_task()
            try:
                while (pair := source.take() if source.sync else await source.next()) is not None:
                    await outcomes.put(await self._create(invitations, limiter, *pair))
                    waiting.discard(me)
                    if len(crew) - len(waiting) > self._concurrency:
                        return  # a stand-in no longer needed
            finally:
                crew.discard(me)

        async def workers() -> None:
            try:
                async with group:
                    for _ in range(self._concurrency):
                        crew.add(group.create_task(worker(invitations)))
            except BaseExceptionGroup as failed:
                failure.append(failed.exceptions[0])
            except BaseException as exc:  # cancelled, or KeyboardInterrupt in a worker
                failure.append(exc)
                raise
            finally:
                if source.error is not None:
                    failure.append(source.error)
                if not reader_gone.is_set():
                    await outcomes.put(None)

        # Never a pool of 0 connections, which aiohttp takes for no limit at all (an input
        # may say it is empty and still yield).
        wanted = min(self._concurrency, self._total) if self._total else self._concurrency
        async with self._room(wanted, on_retry) as room:
            invitations, stand_ins = room.creates, room.stand_ins
            task = asyncio.create_task(workers())
            done = 0
            try:
                while (outcome := await outcomes.get()) is not None:
                    done += 1
                    if self._on_progress is not None:
                        self._on_progress(done, self._total)
                    yield outcome
                if failure:
                    raise failure[0]
            finally:
                reader_gone.set()
                if not task.done():
                    task.cancel()
                    await asyncio.wait([task])

    @staticmethod
    async def _create(
        invitations: _Creates, limiter: RateController | None, index: int, raw: Any
    ) -> BulkOutcome:
        """The outcome of one input: its invitation, or the error that stopped it."""
        request: InvitationRequest | None = None
        try:
            request = raw if isinstance(raw, InvitationRequest) else InvitationRequest.coerce(raw)
            if limiter is not None:
                await limiter.acquire()
            invitation = await invitations.create(
                template_id=request.template_id,
                candidate=request.candidate,
                extra_body=request.extra_body,
            )
        except Exception as exc:
            return BulkOutcome(index, raw if request is None else request, None, exc)
        return BulkOutcome(index, request, invitation)

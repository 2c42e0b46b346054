"""For the webhook receiver tests: an ``on_event`` that records, holds and fails on request, and
a pause that lets the tasks a delivery started run."""

from __future__ import annotations

import asyncio

from ntrvsta_async import ResultCompletedEvent

__all__ = ["Recorder", "settle"]


class Recorder:
    """An ``on_event`` that records each call, can be held at ``gate``, and can fail its first
    ``failures`` calls. ``called`` is set when a call starts and ``ended`` when one returns or
    raises; ``finished`` lists the keys of the calls that succeeded."""

    def __init__(self, *, failures: int = 0) -> None:
        self.events: list[ResultCompletedEvent] = []
        self.finished: list[str] = []
        self.failures = failures
        self.gate = asyncio.Event()
        self.gate.set()
        self.called = asyncio.Event()
        self.ended = asyncio.Event()

    async def __call__(self, event: ResultCompletedEvent) -> None:
        self.events.append(event)
        self.called.set()
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            self.ended.set()
            raise RuntimeError("downstream is down")
        self.finished.append(event.key)
        self.ended.set()

    @property
    def keys(self) -> list[str]:
        """The result keys of every call, in order."""
        return [event.key for event in self.events]


async def settle() -> None:
    """Let the tasks a delivery started run to their next wait."""
    for _ in range(20):
        await asyncio.sleep(0)

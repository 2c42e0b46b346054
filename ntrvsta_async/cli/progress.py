"""Progress for long work: a rich bar on a terminal, a plain line every few seconds otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["ProgressReporter", "progress_reporter"]


class ProgressReporter(Protocol):
    """Receives ``update(done, total)`` as work advances; ``total`` may be unknown (None)."""

    def update(self, done: int, total: int | None = None) -> None:
        """Record that ``done`` items of ``total`` are finished."""
        ...

    def echo(self, message: str) -> None:
        """Print one line on stderr above the progress display, never through it."""
        ...


def _stderr_line(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


class _Silent:
    def update(self, done: int, total: int | None = None) -> None:
        pass

    def echo(self, message: str) -> None:
        _stderr_line(message)


class _Plain:
    """A line on stderr at most every ``every`` seconds, and one at the end."""

    def __init__(self, description: str, total: int | None, every: float) -> None:
        self._description = description
        self._every = every
        self._done = 0
        self._total = total
        self._last = time.monotonic()
        self._printed: int | None = None

    def update(self, done: int, total: int | None = None) -> None:
        self._done = done
        self._total = total if total is not None else self._total
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._print()

    def _print(self) -> None:
        if self._printed == self._done:
            return
        self._printed = self._done
        of = f"/{self._total}" if self._total is not None else ""
        sys.stderr.write(f"{self._description}: {self._done}{of}\n")
        sys.stderr.flush()

    def echo(self, message: str) -> None:
        _stderr_line(message)

    def finish(self) -> None:
        self._print()


class _Rich:
    def __init__(self, progress: Progress, task: TaskID) -> None:
        self._progress = progress
        self._task = task

    def update(self, done: int, total: int | None = None) -> None:
        if total is not None:
            self._progress.update(self._task, completed=done, total=total)
        else:
            self._progress.update(self._task, completed=done)

    def echo(self, message: str) -> None:
        # The progress console clears the bar, prints the line and draws the bar again.
        self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def progress_reporter(
    description: str,
    total: int | None,
    *,
    enabled: bool = True,
    tty: bool | None = None,
    every: float = 2.0,
) -> Iterator[ProgressReporter]:
    """A reporter drawing a rich bar when stderr is a terminal, else periodic plain lines.

    ``enabled=False`` reports nothing; ``tty`` overrides the terminal check.
    """
    if not enabled:
        yield _Silent()
        return
    if not (sys.stderr.isatty() if tty is None else tty):
        plain = _Plain(description, total, every)
        try:
            yield plain
        finally:
            plain.finish()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(description, total=total)
        yield _Rich(progress, task)

"""Progress for long work: a rich bar on a terminal, a plain line every few seconds otherwise.

Given the client doing the work, both also show its pace while its requests are paced.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from ntrvsta_async.transport.pacing import shown_rate

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

__all__ = ["Paced", "ProgressReporter", "progress_reporter"]


class Paced(Protocol):
    """What the display reads of the client doing the work (an ``NtrvstaClient`` is one)."""

    @property
    def pace(self) -> float | None:
        """Requests per second while requests are paced, else None."""
        ...

    @property
    def throttled(self) -> bool:
        """True while the pace comes from the server's 429s."""
        ...


def _pace_text(paced: Paced | None) -> str | None:
    """``paced at ~N req/s`` (and why) while ``paced`` paces its requests, else None."""
    if paced is None or (pace := paced.pace) is None:
        return None
    reason = " (server throttling)" if paced.throttled else ""
    return f"paced at ~{shown_rate(pace)} req/s{reason}"


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

    def __init__(
        self, description: str, total: int | None, every: float, paced: Paced | None
    ) -> None:
        self._description = description
        self._paced = paced
        self._every = every
        self._done = 0
        self._total = total
        self._last = time.monotonic()
        self._printed: str | None = None

    def update(self, done: int, total: int | None = None) -> None:
        self._done = done
        self._total = total if total is not None else self._total
        now = time.monotonic()
        if now - self._last >= self._every:
            self._last = now
            self._print()

    def _print(self) -> None:
        of = f"/{self._total}" if self._total is not None else ""
        pace = _pace_text(self._paced)
        line = f"{self._description}: {self._done}{of}" + (f" · {pace}" if pace else "")
        if self._printed == line:
            return
        self._printed = line
        _stderr_line(line)

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
    paced: Paced | None = None,
) -> Iterator[ProgressReporter]:
    """A reporter drawing a rich bar when stderr is a terminal, else periodic plain lines.

    ``enabled=False`` reports nothing; ``tty`` overrides the terminal check. ``paced`` (the
    client doing the work) adds its pace to the bar and the lines while it paces requests.
    """
    if not enabled:
        yield _Silent()
        return

    if not (sys.stderr.isatty() if tty is None else tty):
        plain = _Plain(description, total, every, paced)
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
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Column
    from rich.text import Text

    class PaceColumn(ProgressColumn):
        """The pace as of each redraw, so a pause with no progress still shows it."""

        def render(self, task: Task) -> Text:
            return Text(_pace_text(paced) or "")

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        PaceColumn(table_column=Column(no_wrap=True)),  # the bar narrows, the text stays whole
        console=Console(stderr=True),
    ) as progress:
        task = progress.add_task(description, total=total)
        yield _Rich(progress, task)

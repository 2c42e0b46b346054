"""``ntrvsta reconcile``: run the ``ResultPoller`` on an inbox into a file or a command."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import IO, Any

import attrs
import click

from ntrvsta_async.cli.common import (
    EXIT_AUTH,
    EXIT_FAILURE,
    EXIT_OK,
    CliState,
    connection_options,
    echo_json,
    run_async,
)
from ntrvsta_async.cli.inbox_cmd import (
    INBOX_HELP,
    check_inbox_location,
    describe_inbox,
    open_inbox,
)
from ntrvsta_async.models import ResultSummary
from ntrvsta_async.reconcile import ReconcileReport, ResultPoller

__all__ = ["CommandHandler", "HandlerFailed", "JsonlHandler", "reconcile", "report_dict"]


class HandlerFailed(Exception):
    """The ``--exec`` command failed for a result; the poller offers it again next pass."""


class JsonlHandler:
    """Appends each result's JSON (``to_dict()``) as one line to a file, synced to disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._lock = asyncio.Lock()

    async def __call__(self, result: ResultSummary) -> None:
        """Write ``result`` and return once it is on disk."""
        line = json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
        async with self._lock:
            await asyncio.to_thread(self._write, line)

    def _write(self, line: str) -> None:
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(line)
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None


class CommandHandler:
    """Runs a command per result with the result's JSON on stdin; non-zero exit fails it.

    The command's output goes to stderr; ``NTRVSTA_RESULT_KEY`` in its environment names
    the result.
    """

    def __init__(self, argv: list[str], *, timeout: float) -> None:
        self.argv = argv
        self.timeout = timeout

    async def __call__(self, result: ResultSummary) -> None:
        """Run the command for ``result``; raise ``HandlerFailed`` unless it exits 0."""
        body = (json.dumps(result.to_dict(), ensure_ascii=False) + "\n").encode("utf-8")
        process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=_stderr_fd(),
            env={**os.environ, "NTRVSTA_RESULT_KEY": result.key},
        )
        try:
            async with asyncio.timeout(self.timeout):
                await process.communicate(body)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise HandlerFailed(
                f"{self.argv[0]} took longer than {self.timeout:g} s for result {result.key}"
            ) from None
        except BaseException:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode != 0:
            raise HandlerFailed(
                f"{self.argv[0]} exited with {process.returncode} for result {result.key}"
            )


def _stderr_fd() -> int | None:
    try:
        return sys.stderr.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return None


def report_dict(report: ReconcileReport) -> dict[str, Any]:
    """A report as JSON-ready data (durations and lag in seconds)."""
    data = attrs.asdict(report)
    data["duration"] = report.duration.total_seconds()
    data["lag"] = report.lag.total_seconds() if report.lag is not None else None
    data["ok"] = report.ok
    return data


def _report_line(report: ReconcileReport) -> str:
    text = (
        f"seen {report.seen} · handled {report.handled} · failed {report.failed}"
        f" · already handled {report.skipped_duplicates} · in progress {report.in_progress}"
        f" · pages {report.pages} · {report.duration.total_seconds():.2f} s"
    )
    if report.error:
        text += f" · error: {report.error}"
    return text


def _print_report(report: ReconcileReport, as_json: bool) -> None:
    if as_json:
        echo_json(report_dict(report))
    else:
        click.echo(_report_line(report))


def _exit_code(report: ReconcileReport) -> int:
    if report.auth_failed:
        return EXIT_AUTH
    return EXIT_OK if report.ok else EXIT_FAILURE


async def _reconcile(
    state: CliState,
    handler: JsonlHandler | CommandHandler,
    *,
    inbox_path: str,
    once: bool,
    interval: float,
    concurrency: int,
    partitions: tuple[str, ...],
    as_json: bool,
) -> int:
    async with state.client() as client, open_inbox(inbox_path) as inbox:
        auth_failed = asyncio.Event()

        def on_report(report: ReconcileReport) -> None:
            _print_report(report, as_json)
            if report.auth_failed:
                auth_failed.set()

        poller = ResultPoller(
            client,
            handler,
            inbox=inbox,
            interval=interval,
            concurrency=concurrency,
            partitions=list(partitions) or None,
            on_report=None if once else on_report,
            name="cli",
        )
        if once:
            report = await poller.run_once()
            _print_report(report, as_json)
            if report.error:
                click.echo(f"error: {report.error}", err=True)
            elif report.failed:
                click.echo(
                    f"error: {report.failed} result(s) failed; the next run retries them",
                    err=True,
                )
            return _exit_code(report)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        if not as_json:
            click.echo(
                f"reconciling every {interval:g} s into {describe_inbox(inbox_path)}; Ctrl-C stops",
                err=True,
            )
        async with poller:
            stopped = asyncio.ensure_future(stop.wait())
            rejected = asyncio.ensure_future(auth_failed.wait())
            await asyncio.wait({stopped, rejected}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stopped, rejected):
                waiter.cancel()
            await asyncio.gather(stopped, rejected, return_exceptions=True)
            if not as_json:
                click.echo("stopping: letting running handlers finish", err=True)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        if auth_failed.is_set():
            click.echo("error: the API rejected the key; stopped", err=True)
            return EXIT_AUTH
        return EXIT_OK


@click.command("reconcile")
@click.option("--once", is_flag=True, help="Run one pass, print its report and exit (0 if ok).")
@click.option(
    "--inbox",
    "inbox_path",
    default="ntrvsta-inbox.sqlite3",
    show_default=True,
    help=INBOX_HELP,
)
@click.option(
    "--exec",
    "command",
    metavar="CMD",
    help="Run CMD for each new result, its JSON on stdin; a non-zero exit retries it later.",
)
@click.option(
    "--jsonl",
    "jsonl_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append each new result as one JSON line to this file.",
)
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Seconds between passes.",
)
@click.option(
    "--concurrency",
    default=8,
    show_default=True,
    type=click.IntRange(min=1),
    metavar="N",
    help="Results handled at once.",
)
@click.option(
    "--exec-timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Seconds --exec's command may run for one result.",
)
@click.option(
    "--template",
    "partitions",
    multiple=True,
    metavar="ID",
    help="Only this template's results (repeat for several, polled side by side).",
)
@click.option("--json", "as_json", is_flag=True, help="Reports as JSON lines.")
@connection_options(on_group=False)
@click.pass_obj
def reconcile(
    state: CliState,
    once: bool,
    inbox_path: str,
    command: str | None,
    jsonl_path: Path | None,
    interval: float,
    concurrency: int,
    exec_timeout: float,
    partitions: tuple[str, ...],
    as_json: bool,
) -> None:
    """Hand every completed result not handled yet to --exec CMD or --jsonl FILE.

    The inbox remembers what was handled, so each result is handled once across runs
    (and alongside a webhook receiver sharing the inbox). A failed result is retried on
    the next pass. Without --once, passes repeat every --interval until Ctrl-C or SIGTERM.
    """
    if (command is None) == (jsonl_path is None):
        raise click.UsageError("give exactly one of --exec CMD or --jsonl FILE")
    check_inbox_location(inbox_path)
    handler: JsonlHandler | CommandHandler
    if command is not None:
        argv = shlex.split(command)
        if not argv:
            raise click.BadParameter("the command is empty", param_hint="--exec")
        if shutil.which(argv[0]) is None:
            raise click.BadParameter(f"command not found: {argv[0]}", param_hint="--exec")
        handler = CommandHandler(argv, timeout=exec_timeout)
    else:
        assert jsonl_path is not None
        handler = JsonlHandler(jsonl_path)
    try:
        code = run_async(
            lambda: _reconcile(
                state,
                handler,
                inbox_path=inbox_path,
                once=once,
                interval=interval,
                concurrency=concurrency,
                partitions=partitions,
                as_json=as_json,
            )
        )
    finally:
        if isinstance(handler, JsonlHandler):
            handler.close()
    if code:
        raise click.exceptions.Exit(code)

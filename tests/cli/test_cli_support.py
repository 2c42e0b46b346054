"""Helpers for the CLI tests: run ``python -m ntrvsta_async`` against a threaded sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ntrvsta_async.sandbox import ThreadedSandbox

CLI = [sys.executable, "-m", "ntrvsta_async"]


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without NTRVSTA_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NTRVSTA_")}
    env["PYTHONWARNINGS"] = "always::ResourceWarning"
    env.update(extra)
    return env


def sandbox_env(sandbox: ThreadedSandbox, **extra: str) -> dict[str, str]:
    """An environment pointing the CLI at ``sandbox``."""
    return clean_env(NTRVSTA_BASE_URL=sandbox.base_url, NTRVSTA_API_KEY=sandbox.api_key, **extra)


def run_cli(
    *args: str,
    env: dict[str, str],
    stdin: str | bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
    traceback_ok: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run the real entry point; no traceback or resource warning may reach stderr."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run(  # noqa: S603
        [*CLI, *args],
        input=data,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
    result = subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )
    assert "ResourceWarning" not in result.stderr, result.stderr
    assert "Task was destroyed" not in result.stderr, result.stderr
    if not traceback_ok:
        assert "Traceback" not in result.stderr, result.stderr
    return result


@contextmanager
def running_sandbox(**options: Any) -> Iterator[ThreadedSandbox]:
    """A sandbox served from a background thread for the duration of the block."""
    with ThreadedSandbox(**options) as sandbox:
        yield sandbox


def error_lines(stderr: str) -> list[str]:
    """The ``error:`` lines of a command's stderr."""
    return [line for line in stderr.splitlines() if line.startswith("error:")]

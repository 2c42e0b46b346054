"""The ``ntrvsta`` command line (also ``python -m ntrvsta_async``); needs the ``[cli]`` extra.

``main()`` imports click only when called, so the package works without the extra and a
missing extra is reported in one line instead of a traceback. The command group lives in
``ntrvsta_async.cli.app``; each command lives in a module of its own next to it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]

_CLI_REQUIREMENTS = frozenset({"click", "rich"})


def main(argv: Sequence[str] | None = None) -> None:
    """Run the ``ntrvsta`` command with ``argv`` (default: the process arguments)."""
    try:
        from ntrvsta_async.cli.app import cli
    except ImportError as exc:
        if exc.name not in _CLI_REQUIREMENTS:
            raise
        sys.stderr.write(
            f"ntrvsta: the command line needs the 'cli' extra ({exc.name} is missing); "
            "install it with: pip install 'ntrvsta-async[cli]'\n"
        )
        raise SystemExit(2) from None
    cli.main(args=list(argv) if argv is not None else None, prog_name="ntrvsta")

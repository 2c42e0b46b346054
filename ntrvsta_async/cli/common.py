"""What every ``ntrvsta`` command shares: options state, the client, exit codes, output."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar, get_args

import attrs
import click

from ntrvsta_async._version import __version__
from ntrvsta_async.assumptions import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_WEBHOOK_SECRET,
    WEBHOOK_TOLERANCE,
    Contract,
)
from ntrvsta_async.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidArgumentError,
    NtrvstaError,
)
from ntrvsta_async.transport import AuthScheme

if TYPE_CHECKING:
    from ntrvsta_async.client import NtrvstaClient
    from ntrvsta_async.doctor import SavedContract

__all__ = [
    "API_KEY_WARNING",
    "EXIT_AUTH",
    "EXIT_CODES_HELP",
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "AuthError",
    "CliError",
    "CliState",
    "ConfigError",
    "NtrvstaGroup",
    "aclose",
    "cancel_on_signals",
    "configure_logging",
    "connection_options",
    "describe",
    "echo_json",
    "exit_code_for",
    "quiet_retries",
    "run_async",
    "stderr_is_tty",
    "stdout_is_tty",
    "warn",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK: Final = 0
"""Success."""
EXIT_FAILURE: Final = 1
"""An operation failed: an API error, failed or invalid rows, lost results."""
EXIT_USAGE: Final = 2
"""The command line itself was wrong (click's usage errors)."""
EXIT_CONFIG: Final = 3
"""Configuration error: no API key, unreadable key file, unsafe base URL."""
EXIT_AUTH: Final = 4
"""The API rejected the key (HTTP 401)."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted with Ctrl-C before the command finished."""

EXIT_CODES_HELP: Final = (
    "\b\nExit codes:\n"
    "  0    success\n"
    "  1    operation failed (API error, failed or invalid rows, lost results)\n"
    "  2    usage error (bad option or argument)\n"
    "  3    configuration error (no API key, unreadable key file, unsafe base URL)\n"
    "  4    authentication rejected by the API (HTTP 401)\n"
    "  130  interrupted (Ctrl-C); reconcile and sandbox, which run until stopped,\n"
    "       exit 0 when stopped with Ctrl-C or SIGTERM"
)

API_KEY_WARNING: Final = (
    "--api-key puts the key in your shell history and the process list; "
    f"prefer {ENV_API_KEY} or --api-key-file"
)


class CliError(click.ClickException):
    """A failure reported as one ``error: ...`` line on stderr with a documented exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        # click declares exit_code as a class default; an instance value overrides it.
        self.exit_code = exit_code  # type: ignore[misc]

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``error: <message>`` to stderr."""
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class ConfigError(CliError):
    """A configuration error (no key, unreadable key file, unsafe base URL): exit code 3."""

    def __init__(self, message: str, exit_code: int = EXIT_CONFIG) -> None:
        super().__init__(message, exit_code)


class AuthError(CliError):
    """The API rejected the key: exit code 4."""

    def __init__(self, message: str, exit_code: int = EXIT_AUTH) -> None:
        super().__init__(message, exit_code)


@attrs.define
class CliState:
    """The group's options, handed to every command through the click context."""

    base_url: str | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    api_key_file: Path | None = None
    contract_file: Path | None = None
    auth_scheme: str | None = None
    allow_insecure_http: bool = False
    debug: bool = False

    def resolve_api_key(self) -> str:
        """The key from ``--api-key``, ``--api-key-file`` or ``NTRVSTA_API_KEY``, in that order."""
        if self.api_key:
            return self.api_key
        if self.api_key_file is not None:
            try:
                key = self.api_key_file.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise ConfigError(
                    f"cannot read the API key file {self.api_key_file}: {reason}"
                ) from None
            if not key:
                raise ConfigError(f"the API key file {self.api_key_file} is empty")
            return key
        key = os.environ.get(ENV_API_KEY, "").strip()
        if not key:
            raise ConfigError(f"no API key: set {ENV_API_KEY} or pass --api-key-file PATH")
        return key

    def saved_contract(self) -> SavedContract | None:
        """What ``--contract FILE`` holds (overrides and auth scheme), or None without one."""
        if self.contract_file is None:
            return None
        from ntrvsta_async.doctor import read_contract_file

        try:
            return read_contract_file(self.contract_file)
        except ConfigurationError as exc:
            raise ConfigError(str(exc)) from None

    def contract(self) -> Contract | None:
        """The contract overrides of ``--contract FILE``, or None for the default contract."""
        saved = self.saved_contract()
        return saved.contract if saved is not None else None

    def resolved_auth_scheme(self) -> str:
        """``--auth-scheme`` (or its variable), else the contract file's scheme, else api-key."""
        if self.auth_scheme is not None:
            return self.auth_scheme
        saved = self.saved_contract()
        return (saved.auth_scheme if saved is not None else None) or "api-key"

    def client(self, **options: Any) -> NtrvstaClient:
        """A new ``NtrvstaClient`` from these options (use it with ``async with``)."""
        from ntrvsta_async.client import NtrvstaClient

        options.setdefault("contract", self.contract())
        options.setdefault("auth_scheme", self.resolved_auth_scheme())
        return NtrvstaClient(
            api_key=self.resolve_api_key(),
            base_url=self.base_url,
            user_agent=f"ntrvsta-cli/{__version__}",
            allow_insecure_http=self.allow_insecure_http,
            **options,
        )


AUTH_SCHEME_ENV: Final = "NTRVSTA_AUTH_SCHEME"


def _set_state(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Apply a connection option given after the subcommand to the shared ``CliState``."""
    if value is None:
        return
    state = ctx.find_object(CliState)
    if state is None:
        state = ctx.ensure_object(CliState)
    assert param.name is not None
    setattr(state, param.name, value)


def connection_options(*, on_group: bool) -> Callable[[F], F]:
    """``--base-url``, ``--api-key-file``, ``--contract`` and ``--auth-scheme``.

    On the group they read their variables and reach the command as arguments; on a
    subcommand (so they may follow it too) they override the group's values in ``CliState``.
    """
    extra: dict[str, Any] = {} if on_group else {"expose_value": False, "callback": _set_state}

    def env(name: str) -> dict[str, Any]:
        return {"envvar": name} if on_group else {}

    def also(text: str) -> str:
        return text if on_group else text.split(" [env", 1)[0] + " (also before the command)."

    options = [
        click.option(
            "--base-url",
            metavar="URL",
            help=also(
                f"API base URL, stage path included [env {ENV_BASE_URL}; default: production]."
            ),
            **env(ENV_BASE_URL),
            **extra,
        ),
        click.option(
            "--api-key-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help=also("Read the API key from this file [env NTRVSTA_API_KEY_FILE]."),
            **env("NTRVSTA_API_KEY_FILE"),
            **extra,
        ),
        click.option(
            "--contract",
            "contract_file",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE",
            help=also(
                "Contract overrides and auth scheme (JSON, as `doctor --save-contract` writes"
                " them) for every command that calls the API [env NTRVSTA_CONTRACT_FILE]."
            ),
            **env("NTRVSTA_CONTRACT_FILE"),
            **extra,
        ),
        click.option(
            "--auth-scheme",
            type=click.Choice(get_args(AuthScheme)),
            help=also(
                "How the key is sent: X-Ntrvsta-Api-Key (api-key) or Authorization: Bearer"
                f" (bearer) [env {AUTH_SCHEME_ENV}; default: the contract file's, else api-key]."
            ),
            **env(AUTH_SCHEME_ENV),
            **extra,
        ),
    ]

    def decorate(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for an exception that ended a command."""
    if isinstance(exc, AuthenticationError):
        return EXIT_AUTH
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIG
    if isinstance(exc, InvalidArgumentError):
        return EXIT_USAGE
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    return EXIT_FAILURE


def describe(exc: BaseException) -> str:
    """A one-line description of ``exc`` for an ``error:`` line."""
    if isinstance(exc, NtrvstaError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        text = f"{exc.strerror}{':' if where else ''}{where}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split()) or type(exc).__name__


class NtrvstaGroup(click.Group):
    """A click group that turns any exception into one ``error:`` line and an exit code.

    With ``--debug`` the traceback is printed first.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the chosen command, mapping its failures to the documented exit codes."""
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise
        except click.ClickException as exc:
            if _debug(ctx) and exc.__cause__ is not None:
                traceback.print_exception(exc.__cause__, file=sys.stderr)
            raise
        except KeyboardInterrupt:
            click.echo("\nerror: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if _debug(ctx):
                traceback.print_exception(exc, file=sys.stderr)
            message = describe(exc)
            if not isinstance(exc, NtrvstaError | OSError) and not _debug(ctx):
                message += " (run with --debug for the traceback)"
            raise CliError(message, exit_code_for(exc)) from None


def _debug(ctx: click.Context) -> bool:
    state = ctx.find_object(CliState)
    return state is not None and state.debug


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time of each record."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


class _OneLineFormatter(logging.Formatter):
    """``warning: message (Error: reason)``: never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            text += f" ({describe(record.exc_info[1])})"
        return text


def configure_logging(debug: bool, *, verbose: bool = False) -> None:
    """Warnings as one line each on stderr; ``verbose`` adds info lines; ``debug`` logs
    everything, with tracebacks."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    if verbose and not debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        handler.setLevel(logging.INFO)
        root.setLevel(logging.INFO)
    elif debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.setLevel(logging.DEBUG)
        root.setLevel(logging.DEBUG)
    else:
        handler.setFormatter(_OneLineFormatter())
        handler.setLevel(logging.WARNING)
        # Malformed HTTP from peers is answered by aiohttp itself; no traceback on the terminal.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    root.addHandler(handler)


class _RetryNotices(logging.Filter):
    """Drops the SDK's per-retry warnings (the outcome is reported by the command)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "ntrvsta_async.retry"


def quiet_retries() -> None:
    """Hide the SDK's per-retry warnings unless ``--debug``: for bulk commands that report
    failures themselves."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _StderrHandler) and handler.level > logging.DEBUG:
            handler.addFilter(_RetryNotices())


@contextlib.contextmanager
def cancel_on_signals() -> Iterator[Callable[[], bool]]:
    """Cancel the running task on SIGINT or SIGTERM, so it can stop cleanly and say where;
    yields a function telling whether a signal came."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    received: list[int] = []

    def on_signal(signum: int) -> None:
        received.append(signum)
        if task is not None:
            task.cancel()

    installed: list[signal.Signals] = []
    for wanted in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(wanted, on_signal, wanted)
            installed.append(wanted)
    try:
        yield lambda: bool(received)
    finally:
        for done in installed:
            loop.remove_signal_handler(done)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run ``main()`` on a fresh event loop and return its result."""
    return asyncio.run(main())


async def aclose(iterator: object) -> None:
    """Close an async generator (or anything with ``aclose``) early, running its cleanup."""
    close: Callable[[], Awaitable[object]] | None = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


def warn(message: str) -> None:
    """Print ``warning: <message>`` on stderr."""
    click.echo(f"warning: {message}", err=True)


def echo_json(data: Any) -> None:
    """Print ``data`` as one JSON line on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, default=str))


def stdout_is_tty() -> bool:
    """True when stdout is a terminal (tables instead of plain lines)."""
    return sys.stdout.isatty()


def stderr_is_tty() -> bool:
    """True when stderr is a terminal (progress bars instead of periodic lines)."""
    return sys.stderr.isatty()


WEBHOOK_SECRET_ENV: Final = ENV_WEBHOOK_SECRET

webhook_secrets_option = click.option(
    "--secret",
    "secrets",
    multiple=True,
    help="Signing secret; repeat, or separate by commas, while rotating"
    f" [env {WEBHOOK_SECRET_ENV}: commas and/or whitespace between secrets].",
)
"""The ``--secret`` option of the webhook commands (several while a secret rotates)."""


def _age_limit(ctx: click.Context, param: click.Parameter, value: int) -> int | None:
    return value or None


webhook_tolerance_option = click.option(
    "--tolerance",
    default=WEBHOOK_TOLERANCE,
    show_default=True,
    type=click.IntRange(min=0),
    metavar="SECONDS",
    callback=_age_limit,
    help="Maximum age in seconds of a signed timestamp for the SDK's verdict; 0 skips the"
    " age check (old captured bodies).",
)
"""The ``--tolerance`` option of the webhook commands: the SDK's default age limit, and 0
(passed on as None) for none."""


def require_secrets(secrets: tuple[str, ...]) -> list[str]:
    """The secrets of ``--secret``, else of ``NTRVSTA_WEBHOOK_SECRET``, read in the one format
    ``WebhookVerifier.from_env`` reads; none is a usage error naming both ways to pass one."""
    from ntrvsta_async.webhooks.signing import parse_secrets

    found = [secret for value in secrets for secret in parse_secrets(value)]
    if not secrets:
        found = list(parse_secrets(os.environ.get(WEBHOOK_SECRET_ENV, "")))
    if not found:
        raise click.UsageError(f"no secret: pass --secret or set {WEBHOOK_SECRET_ENV}")
    return found

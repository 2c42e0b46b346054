"""A throwaway PostgreSQL cluster for the test session (``initdb`` + ``pg_ctl`` on a free
loopback port in a temporary directory), and a fresh database per test.

Import the fixtures into a test module (``from tests.postgres_support import postgres_dsn``).
Without the server binaries the tests skip, except under CI (``CI`` set), where they fail.
PostgreSQL refuses to run as root: as root the cluster runs as the ``postgres`` user that
Debian's package creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

__all__ = ["Freezer", "PostgresCluster", "postgres_cluster", "postgres_dsn", "start_cluster"]

USER = "ntrvsta"
PASSWORD = "pg-s3cret-password"
_HOW_TO = (
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql"
    " package (.ci/run does) to run these tests"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: the PATH, then Debian's versioned directories."""
    on_path = shutil.which("pg_ctl")
    if on_path is not None and shutil.which("initdb") is not None:
        return Path(os.path.realpath(on_path)).parent
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    return Path(debian[-1]).parent if debian else None


def bindir_or_skip() -> Path:
    """The server binaries' directory; skips the test without them (fails it under CI)."""
    found = find_bindir()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{_HOW_TO}, and CI must run the PostgreSQL tests")
        pytest.skip(_HOW_TO)
    return found


class PostgresCluster:
    """One PostgreSQL server in its own temporary directory, reachable on 127.0.0.1."""

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable
        self.port = 0
        self.home = Path(tempfile.mkdtemp(prefix="ntrvsta-pg-"))
        self._runas: list[str] = []
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    "PostgreSQL refuses to run as root and there is no 'postgres' user"
                ) from None
            self._runas = ["runuser", "-u", "postgres", "--"]
        self._databases = itertools.count(1)

    @property
    def data(self) -> Path:
        return self.home / "data"

    def dsn(self, database: str = "postgres", *, password: str = PASSWORD) -> str:
        """A URL for ``database`` as the cluster's superuser."""
        return f"postgresql://{USER}:{password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        subprocess.run(  # noqa: S603 - fixed arguments
            [*self._runas, *command], check=True, capture_output=True, timeout=120
        )

    def init(self) -> None:
        """``initdb`` with a password for the superuser, as the server's user."""
        (self.home / "pw").write_text(PASSWORD + "\n")
        if self._owner is not None:
            os.chown(self.home, self._owner.pw_uid, self._owner.pw_gid)
            os.chown(self.home / "pw", self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={self.home / 'pw'}",
            "--auth=scram-sha-256",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        """Start the server on a free port and wait until it accepts connections."""
        self.port = _free_port()
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.home}",
            "-c max_connections=300",
        ]
        if not self.durable:
            settings += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.home / "server.log"),
            "-o",
            " ".join(settings),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        if self.data.exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
                )
        shutil.rmtree(self.home, ignore_errors=True)

    async def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"test_{os.getpid()}_{next(self._databases)}"
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.dsn(name)


def start_cluster(bindir: Path, *, durable: bool = False) -> PostgresCluster:
    """A started cluster; a port taken in between is retried on another."""
    cluster = PostgresCluster(bindir, durable=durable)
    try:
        cluster.init()
        for attempt in range(3):
            try:
                cluster.start()
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
                continue
            return cluster
    except BaseException:
        cluster.stop()
        raise
    raise AssertionError("unreachable")


_SHARED: list[PostgresCluster] = []


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's cluster, started on first use (shared by every module that imports
    this fixture) and stopped at the end of the session."""
    bindir = bindir_or_skip()
    if not _SHARED:
        _SHARED.append(start_cluster(bindir))
    yield _SHARED[0]
    while _SHARED:
        _SHARED.pop().stop()


@pytest.fixture
async def postgres_dsn(postgres_cluster: PostgresCluster) -> str:
    """The URL of a fresh, empty database for this test."""
    return await postgres_cluster.new_database()


class Freezer:
    """A pool whose connections stop, as a SIGSTOPped process would, right after the first
    statement containing ``arm(fragment)`` returns, until ``thaw()``: what that process
    still holds in the database is then what the other replicas meet."""

    def __init__(self) -> None:
        self.fragment: str | None = None
        self.frozen = asyncio.Event()
        self._thawed = asyncio.Event()

    def arm(self, fragment: str) -> None:
        self.fragment = fragment

    def thaw(self) -> None:
        self._thawed.set()

    async def after(self, query: str) -> None:
        if self.fragment is not None and self.fragment in query:
            self.fragment = None
            self.frozen.set()
            await self._thawed.wait()

    @contextlib.asynccontextmanager
    async def pool(self, dsn: str) -> AsyncIterator[asyncpg.Pool]:
        freezer = self

        class Freezing(asyncpg.Connection):
            async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
                status = await super().execute(query, *args, **kwargs)
                await freezer.after(query)
                return status

            async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
                rows = await super().fetch(query, *args, **kwargs)
                await freezer.after(query)
                return rows

            async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
                value = await super().fetchval(query, *args, **kwargs)
                await freezer.after(query)
                return value

        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, connection_class=Freezing)
        try:
            yield pool
        finally:
            self.thaw()
            await pool.close()

"""Pytest plugin for testing integrations against the embedded sandbox.

Installed with the package and loaded automatically (entry point ``pytest11``). It offers
the ``ntrvsta_sandbox`` fixture: a running ``SandboxServer`` and an ``NtrvstaClient``
connected to it, both closed after the test. Configure it per test with
``@pytest.mark.ntrvsta_sandbox(**options)`` or for a whole module or project by
overriding the ``ntrvsta_sandbox_options`` fixture. ``options`` are ``SandboxServer``'s
keyword arguments plus ``client_options`` (keyword arguments for ``NtrvstaClient``).
The fixture is async and needs pytest-asyncio (the ``testing`` extra brings it): a test
that uses it is marked ``asyncio`` by this plugin, so it runs in pytest-asyncio's default
strict mode too, with no ``@pytest.mark.asyncio`` and no ``asyncio_mode`` setting.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import pytest

if TYPE_CHECKING:
    from ntrvsta_async.client import NtrvstaClient
    from ntrvsta_async.sandbox import CompletedResult, SandboxServer

__all__ = ["MARKER", "SandboxFixture", "ntrvsta_sandbox", "ntrvsta_sandbox_options"]

#: The marker that passes options to the ``ntrvsta_sandbox`` fixture.
MARKER = "ntrvsta_sandbox"
_FIXTURE = "ntrvsta_sandbox"

_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture(func: _F) -> _F:
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - depends on the user's plugins
        return cast("_F", pytest.fixture(func))
    return cast("_F", pytest_asyncio.fixture(func))


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ntrvsta_sandbox`` marker so ``--strict-markers`` accepts it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): options for the ntrvsta_sandbox fixture "
        "(SandboxServer keyword arguments, plus client_options for NtrvstaClient)",
    )


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_pycollect_makeitem(
    collector: pytest.Module | pytest.Class, name: str, obj: object
) -> Generator[None, Any, None]:
    """Mark each coroutine test that uses ``ntrvsta_sandbox`` (directly or through another
    fixture) as an asyncio test, before pytest-asyncio decides how to run it."""
    outcome = yield
    if not collector.config.pluginmanager.hasplugin("asyncio"):
        return
    result = outcome.get_result()
    for item in result if isinstance(result, list) else [result]:
        if (
            isinstance(item, pytest.Function)
            and inspect.iscoroutinefunction(item.obj)
            and _FIXTURE in item.fixturenames
            and item.get_closest_marker("asyncio") is None
        ):
            item.add_marker(pytest.mark.asyncio)


@attrs.frozen
class SandboxFixture:
    """What ``ntrvsta_sandbox`` yields: the running ``server`` and a connected ``client``."""

    server: SandboxServer
    client: NtrvstaClient

    @property
    def base_url(self) -> str:
        """The sandbox's base URL."""
        return self.server.base_url

    @property
    def api_key(self) -> str:
        """The sandbox's API key (the one ``client`` uses)."""
        return self.server.api_key

    async def complete(self, invitation_id: str, **options: Any) -> CompletedResult:
        """Finish an interview; see ``SandboxServer.complete``."""
        return await self.server.complete(invitation_id, **options)


@pytest.fixture
def ntrvsta_sandbox_options() -> dict[str, Any]:
    """Default options for ``ntrvsta_sandbox``; override this fixture to change them."""
    return {}


@_async_fixture
async def ntrvsta_sandbox(
    request: pytest.FixtureRequest, ntrvsta_sandbox_options: dict[str, Any]
) -> AsyncIterator[SandboxFixture]:
    """A running sandbox and an ``NtrvstaClient`` connected to it, closed after the test."""
    from ntrvsta_async.client import NtrvstaClient
    from ntrvsta_async.sandbox import SandboxServer

    options = dict(ntrvsta_sandbox_options)
    for marker in reversed(list(request.node.iter_markers(MARKER))):
        options.update(marker.kwargs)
    client_options = dict(options.pop("client_options", None) or {})
    async with SandboxServer(**options) as server:
        client = NtrvstaClient(api_key=server.api_key, base_url=server.base_url, **client_options)
        async with client:
            yield SandboxFixture(server=server, client=client)

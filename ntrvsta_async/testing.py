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

import asyncio
import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs
import pytest

from ntrvsta_async.errors import ConfigurationError, InvalidArgumentError
from ntrvsta_async.inbox import Claim, ClaimState, Inbox
from ntrvsta_async.inbox.base import fence_after

if TYPE_CHECKING:
    from ntrvsta_async.client import NtrvstaClient
    from ntrvsta_async.sandbox import CompletedResult, SandboxServer

__all__ = [
    "MARKER",
    "Elapse",
    "InboxContract",
    "SandboxFixture",
    "ntrvsta_sandbox",
    "ntrvsta_sandbox_options",
]

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


# -- the Inbox conformance suite ------------------------------------------------------------

Elapse = Callable[[float], Awaitable[None]]
"""``await elapse(seconds)``: lets time pass for an inbox's clock and the event loop."""

_RID = "res_1"
_URL = "https://app.ntrvsta.test/results/res_1"


class InboxContract:
    """The ``Inbox`` contract as a test class: claims, the two ids of one result, renewal,
    handling and checkpoints, as every backend must do them.

    Test your own backend by subclassing it in a test module and providing two fixtures:
    ``inbox`` (an opened backend, closed after the test) and ``elapse``
    (``await elapse(seconds)`` lets that much time pass for the backend's clock and for the
    event loop: a fake clock moved forward, or ``asyncio.sleep`` for a server's clock)::

        class TestMyInbox(InboxContract):
            @pytest.fixture
            async def inbox(self):
                async with MyInbox(...) as opened:
                    yield opened

            @pytest.fixture
            def elapse(self):
                return asyncio.sleep
    """

    async def test_every_call_after_close_is_a_configuration_error(self, inbox: Inbox) -> None:
        await inbox.claim(_RID)
        await inbox.close()
        calls: list[Callable[[], Awaitable[object]]] = [
            lambda: inbox.claim(_RID),
            lambda: inbox.renew(_RID, "token"),
            lambda: inbox.complete(_RID, "token"),
            lambda: inbox.release(_RID, "token"),
            lambda: inbox.is_done(_RID),
            lambda: inbox.get_checkpoint("cursor"),
            lambda: inbox.set_checkpoint("cursor", "c1"),
        ]
        for call in calls:
            with pytest.raises(ConfigurationError, match="is closed"):
                await call()
        await inbox.close()  # closing again is harmless

    async def test_backend_is_an_inbox(self, inbox: Inbox) -> None:
        assert isinstance(inbox, Inbox)

    async def test_first_claim_wins_then_in_progress_then_done(self, inbox: Inbox) -> None:
        first = await inbox.claim("res_1")
        assert first.state is ClaimState.CLAIMED
        assert first.acquired
        assert first.token

        assert await inbox.claim("res_1") == Claim(ClaimState.IN_PROGRESS, None)
        assert not await inbox.is_done("res_1")

        await inbox.complete("res_1", first.token)
        assert await inbox.is_done("res_1")
        assert await inbox.claim("res_1") == Claim(ClaimState.DONE, None)
        assert (await inbox.claim("res_2")).state is ClaimState.CLAIMED

    async def test_release_lets_the_result_be_claimed_again(self, inbox: Inbox) -> None:
        claim = await inbox.claim("k")
        assert claim.token is not None
        await inbox.release("k", "not-the-token")
        assert (await inbox.claim("k")).state is ClaimState.IN_PROGRESS

        await inbox.release("k", claim.token)
        again = await inbox.claim("k")
        assert again.state is ClaimState.CLAIMED
        assert again.token != claim.token

    async def test_expired_claim_is_taken_over(self, inbox: Inbox, elapse: Elapse) -> None:
        crashed = await inbox.claim("k", ttl=0.4)
        assert crashed.token is not None
        assert (await inbox.claim("k", ttl=0.4)).state is ClaimState.IN_PROGRESS
        await elapse(0.5)
        taker = await inbox.claim("k", ttl=10)
        assert taker.state is ClaimState.CLAIMED
        assert taker.token not in (None, crashed.token)

        await inbox.release("k", crashed.token)
        assert (await inbox.claim("k")).state is ClaimState.IN_PROGRESS
        assert not await inbox.renew("k", crashed.token, ttl=10)

    async def test_stale_token_completion_still_marks_done(
        self, inbox: Inbox, elapse: Elapse
    ) -> None:
        slow = await inbox.claim("k", ttl=0.3)
        await elapse(0.4)
        taker = await inbox.claim("k", ttl=10)
        assert slow.token is not None
        assert taker.token is not None

        await inbox.complete("k", slow.token)
        assert await inbox.is_done("k")
        await inbox.release("k", taker.token)
        assert await inbox.is_done("k")

    async def test_done_is_permanent(self, inbox: Inbox, elapse: Elapse) -> None:
        claim = await inbox.claim("k", ttl=0.2)
        assert claim.token is not None
        await inbox.complete("k", claim.token)
        await inbox.release("k", claim.token)
        await elapse(0.3)
        assert (await inbox.claim("k", ttl=0.2)).state is ClaimState.DONE

    async def test_concurrent_claims_have_exactly_one_winner(self, inbox: Inbox) -> None:
        claims = await asyncio.gather(*(inbox.claim("same") for _ in range(50)))
        states = [c.state for c in claims]
        assert states.count(ClaimState.CLAIMED) == 1
        assert states.count(ClaimState.IN_PROGRESS) == 49

    async def test_checkpoints_store_values_and_respect_fences(self, inbox: Inbox) -> None:
        assert await inbox.get_checkpoint("cursor") is None
        assert await inbox.set_checkpoint("cursor", "a")
        assert await inbox.get_checkpoint("cursor") == "a"

        assert await inbox.set_checkpoint("cursor", "b", fence=5)
        assert not await inbox.set_checkpoint("cursor", "stale", fence=4)
        assert await inbox.get_checkpoint("cursor") == "b"
        assert await inbox.set_checkpoint("cursor", "c", fence=5)
        assert await inbox.set_checkpoint("cursor", "d")
        assert not await inbox.set_checkpoint("cursor", "stale", fence=4)
        assert await inbox.get_checkpoint("cursor") == "d"
        assert await inbox.set_checkpoint("cursor", "e", fence=6)
        assert await inbox.get_checkpoint("cursor") == "e"

        assert await inbox.set_checkpoint("other", "x", fence=1)
        assert await inbox.get_checkpoint("other") == "x"

    async def test_checkpoint_fences_follow_fence_after_in_every_order(self, inbox: Inbox) -> None:
        """A backend that writes checkpoints in one atomic step (SQL, a script) restates
        ``fence_after``: every order of three writes accepts and keeps what it says."""
        for n, writes in enumerate(itertools.product((None, 1, 2, 3), repeat=3)):
            name, stored = f"order-{n}", None
            for step, fence in enumerate(writes):
                accepted, stored = fence_after(stored, fence)
                assert await inbox.set_checkpoint(name, str(step), fence=fence) is accepted, writes
                if accepted:
                    assert await inbox.get_checkpoint(name) == str(step)

    @pytest.mark.parametrize("ttl", [0, -1, float("nan"), "10", True])
    async def test_bad_ttl_is_an_invalid_argument(self, inbox: Inbox, ttl: object) -> None:
        with pytest.raises(InvalidArgumentError, match="ttl"):
            await inbox.claim("k", ttl=ttl)  # type: ignore[arg-type]

    @pytest.mark.parametrize("keys", [(), "", ("a", ""), (None,), 42])
    async def test_bad_keys_are_an_invalid_argument(self, inbox: Inbox, keys: object) -> None:
        with pytest.raises(InvalidArgumentError, match="keys"):
            await inbox.claim(keys)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("name", "value", "fence"),
        [(7, "v", None), ("c", b"v", None), ("c", "v", "3"), ("c", "v", True)],
    )
    async def test_bad_checkpoint_is_an_invalid_argument(
        self, inbox: Inbox, name: object, value: object, fence: object
    ) -> None:
        with pytest.raises(InvalidArgumentError, match="checkpoint"):
            await inbox.set_checkpoint(name, value, fence=fence)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="checkpoint"):
            await inbox.get_checkpoint(7)  # type: ignore[arg-type]
        assert await inbox.get_checkpoint("c") is None

    # -- the two ids of one result (docs/contract.md#op-8) ---------------------------------

    async def test_webhook_first_then_poller_with_the_url_only(self, inbox: Inbox) -> None:
        webhook = await inbox.claim((_RID, _URL))
        assert webhook.token is not None
        assert (await inbox.claim((_URL,))).state is ClaimState.IN_PROGRESS
        await inbox.complete((_RID, _URL), webhook.token)
        assert (await inbox.claim((_URL,))).state is ClaimState.DONE
        assert await inbox.is_done(_URL)

    async def test_poller_first_with_the_url_only_then_webhook(self, inbox: Inbox) -> None:
        poller = await inbox.claim((_URL,))
        assert poller.token is not None
        assert (await inbox.claim((_RID, _URL))).state is ClaimState.IN_PROGRESS
        await inbox.complete((_URL,), poller.token)
        assert (await inbox.claim((_RID, _URL))).state is ClaimState.DONE
        # the identity was learned: the id alone now names a done result too
        assert (await inbox.claim(_RID)).state is ClaimState.DONE
        assert await inbox.is_done((_RID,))

    async def test_racing_claims_under_either_id_have_one_winner(self, inbox: Inbox) -> None:
        shapes = [(_RID, _URL), (_URL,), (_RID,), (_URL, _RID)] * 10
        claims = await asyncio.gather(*(inbox.claim(keys) for keys in shapes))
        winners = [c for c in claims if c.state is ClaimState.CLAIMED]
        # (_RID,) and (_URL,) alone cannot know each other until a claim names both; the
        # first claim naming both decides, so at most one of the two single-id claims and
        # no two-id claim may win beside a two-id winner.
        two_id_winners = [
            keys for keys, c in zip(shapes, claims, strict=True) if c.acquired and len(keys) == 2
        ]
        assert len(winners) <= 2
        assert len(two_id_winners) <= 1
        if two_id_winners:
            assert len(winners) == 1

    async def test_claiming_both_ids_covers_each_of_them(self, inbox: Inbox) -> None:
        claim = await inbox.claim([_RID, _URL, _RID])
        assert claim.token is not None
        assert (await inbox.claim(_RID)).state is ClaimState.IN_PROGRESS
        assert (await inbox.claim(_URL)).state is ClaimState.IN_PROGRESS
        await inbox.release([_RID, _URL], claim.token)
        assert (await inbox.claim(_URL)).state is ClaimState.CLAIMED

    # -- renewal and handling ------------------------------------------------------------

    async def test_renewed_claim_outlives_its_first_ttl(self, inbox: Inbox, elapse: Elapse) -> None:
        claim = await inbox.claim((_RID, _URL), ttl=0.4)
        assert claim.token is not None
        await elapse(0.3)
        assert await inbox.renew((_RID, _URL), claim.token, ttl=0.4)
        await elapse(0.3)
        assert (await inbox.claim(_URL, ttl=0.4)).state is ClaimState.IN_PROGRESS
        assert not await inbox.renew((_RID, _URL), "another-token", ttl=0.4)
        await inbox.complete((_RID, _URL), claim.token)
        assert not await inbox.renew((_RID, _URL), claim.token, ttl=0.4)

    async def test_a_handler_slower_than_the_ttl_keeps_its_claim(
        self, inbox: Inbox, elapse: Elapse
    ) -> None:
        seen: list[ClaimState] = []

        async def slow() -> None:
            for _ in range(6):
                await elapse(0.15)
                seen.append((await inbox.claim((_URL,), ttl=0.3)).state)

        state, error = await inbox.handle((_RID, _URL), slow, ttl=0.3)
        assert (state, error) == (ClaimState.CLAIMED, None)
        assert seen == [ClaimState.IN_PROGRESS] * 6
        assert await inbox.is_done(_URL)

    @pytest.mark.parametrize("failure", [RuntimeError("boom"), asyncio.CancelledError()])
    async def test_a_failed_handler_costs_its_result_only(
        self, inbox: Inbox, failure: BaseException
    ) -> None:
        async def fails() -> None:
            raise failure

        state, error = await inbox.handle((_RID, _URL), fails)
        assert state is ClaimState.CLAIMED
        assert error is failure
        assert not await inbox.is_done(_RID)
        assert (await inbox.claim(_URL)).state is ClaimState.CLAIMED

    async def test_a_cancelled_caller_gives_the_claim_back(self, inbox: Inbox) -> None:
        started = asyncio.Event()

        async def waits() -> None:
            started.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(inbox.handle((_RID, _URL), waits))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await inbox.is_done(_RID)
        assert (await inbox.claim(_RID)).state is ClaimState.CLAIMED

    async def test_a_handler_whose_claim_is_taken_is_cancelled(self, inbox: Inbox) -> None:
        claim = await inbox.claim((_RID, _URL), ttl=0.3)
        assert claim.token is not None
        ran_to_the_end: list[bool] = []

        async def long() -> None:
            await asyncio.sleep(5)
            ran_to_the_end.append(True)

        run = asyncio.create_task(inbox.run_claimed((_RID, _URL), claim.token, long, ttl=0.3))
        await asyncio.sleep(0.05)
        other = await inbox.claim("unrelated")
        assert other.token is not None
        await inbox.complete((_RID, _URL), other.token)  # another holder finished the result
        error = await asyncio.wait_for(run, 2)
        assert isinstance(error, asyncio.CancelledError)
        assert not ran_to_the_end
        assert await inbox.is_done(_RID)

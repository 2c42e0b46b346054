"""The ``Inbox`` contract every backend must keep, as a test class to subclass.

A backend's test module subclasses ``InboxContract`` and provides two fixtures: ``inbox``
(an opened backend, closed after the test) and ``elapse`` (``await elapse(seconds)`` lets
that much time pass for the backend's clock and for the event loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from ntrvsta_async import InvalidArgumentError
from ntrvsta_async.reconcile import Claim, ClaimState, Inbox

Elapse = Callable[[float], Awaitable[None]]

RID = "res_1"
URL = "https://app.ntrvsta.test/results/res_1"


class InboxContract:
    """Claims, identity, renewal, handling and checkpoints, as every backend must do them."""

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

    @pytest.mark.parametrize("ttl", [0, -1, float("nan"), "10", True])
    async def test_bad_ttl_is_an_invalid_argument(self, inbox: Inbox, ttl: object) -> None:
        with pytest.raises(InvalidArgumentError, match="ttl"):
            await inbox.claim("k", ttl=ttl)  # type: ignore[arg-type]

    @pytest.mark.parametrize("keys", [(), "", ("a", ""), (None,), 42])
    async def test_bad_keys_are_an_invalid_argument(self, inbox: Inbox, keys: object) -> None:
        with pytest.raises(InvalidArgumentError, match="keys"):
            await inbox.claim(keys)  # type: ignore[arg-type]

    # -- the two ids of one result (docs/contract.md#op-8) ----------------------------------------

    async def test_webhook_first_then_poller_with_the_url_only(self, inbox: Inbox) -> None:
        webhook = await inbox.claim((RID, URL))
        assert webhook.token is not None
        assert (await inbox.claim((URL,))).state is ClaimState.IN_PROGRESS
        await inbox.complete((RID, URL), webhook.token)
        assert (await inbox.claim((URL,))).state is ClaimState.DONE
        assert await inbox.is_done(URL)

    async def test_poller_first_with_the_url_only_then_webhook(self, inbox: Inbox) -> None:
        poller = await inbox.claim((URL,))
        assert poller.token is not None
        assert (await inbox.claim((RID, URL))).state is ClaimState.IN_PROGRESS
        await inbox.complete((URL,), poller.token)
        assert (await inbox.claim((RID, URL))).state is ClaimState.DONE
        # the identity was learned: the id alone now names a done result too
        assert (await inbox.claim(RID)).state is ClaimState.DONE
        assert await inbox.is_done((RID,))

    async def test_racing_claims_under_either_id_have_one_winner(self, inbox: Inbox) -> None:
        shapes = [(RID, URL), (URL,), (RID,), (URL, RID)] * 10
        claims = await asyncio.gather(*(inbox.claim(keys) for keys in shapes))
        winners = [c for c in claims if c.state is ClaimState.CLAIMED]
        # (RID,) and (URL,) alone cannot know each other until a claim names both; the
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
        claim = await inbox.claim([RID, URL, RID])
        assert claim.token is not None
        assert (await inbox.claim(RID)).state is ClaimState.IN_PROGRESS
        assert (await inbox.claim(URL)).state is ClaimState.IN_PROGRESS
        await inbox.release([RID, URL], claim.token)
        assert (await inbox.claim(URL)).state is ClaimState.CLAIMED

    # -- renewal and handling ------------------------------------------------------------

    async def test_renewed_claim_outlives_its_first_ttl(self, inbox: Inbox, elapse: Elapse) -> None:
        claim = await inbox.claim((RID, URL), ttl=0.4)
        assert claim.token is not None
        await elapse(0.3)
        assert await inbox.renew((RID, URL), claim.token, ttl=0.4)
        await elapse(0.3)
        assert (await inbox.claim(URL, ttl=0.4)).state is ClaimState.IN_PROGRESS
        assert not await inbox.renew((RID, URL), "another-token", ttl=0.4)
        await inbox.complete((RID, URL), claim.token)
        assert not await inbox.renew((RID, URL), claim.token, ttl=0.4)

    async def test_a_handler_slower_than_the_ttl_keeps_its_claim(
        self, inbox: Inbox, elapse: Elapse
    ) -> None:
        seen: list[ClaimState] = []

        async def slow() -> None:
            for _ in range(6):
                await elapse(0.15)
                seen.append((await inbox.claim((URL,), ttl=0.3)).state)

        state, error = await inbox.handle((RID, URL), slow, ttl=0.3)
        assert (state, error) == (ClaimState.CLAIMED, None)
        assert seen == [ClaimState.IN_PROGRESS] * 6
        assert await inbox.is_done(URL)

    @pytest.mark.parametrize("failure", [RuntimeError("boom"), asyncio.CancelledError()])
    async def test_a_failed_handler_costs_its_result_only(
        self, inbox: Inbox, failure: BaseException
    ) -> None:
        async def fails() -> None:
            raise failure

        state, error = await inbox.handle((RID, URL), fails)
        assert state is ClaimState.CLAIMED
        assert error is failure
        assert not await inbox.is_done(RID)
        assert (await inbox.claim(URL)).state is ClaimState.CLAIMED

    async def test_a_cancelled_caller_gives_the_claim_back(self, inbox: Inbox) -> None:
        started = asyncio.Event()

        async def waits() -> None:
            started.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(inbox.handle((RID, URL), waits))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not await inbox.is_done(RID)
        assert (await inbox.claim(RID)).state is ClaimState.CLAIMED

    async def test_a_handler_whose_claim_is_taken_is_cancelled(self, inbox: Inbox) -> None:
        claim = await inbox.claim((RID, URL), ttl=0.3)
        assert claim.token is not None
        ran_to_the_end: list[bool] = []

        async def long() -> None:
            await asyncio.sleep(5)
            ran_to_the_end.append(True)

        run = asyncio.create_task(inbox.run_claimed((RID, URL), claim.token, long, ttl=0.3))
        await asyncio.sleep(0.05)
        other = await inbox.claim("unrelated")
        assert other.token is not None
        await inbox.complete((RID, URL), other.token)  # another holder finished the result
        error = await asyncio.wait_for(run, 2)
        assert isinstance(error, asyncio.CancelledError)
        assert not ran_to_the_end
        assert await inbox.is_done(RID)

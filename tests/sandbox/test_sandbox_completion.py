"""Completing interviews: by hand with ``complete()`` and automatically after a delay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ntrvsta_async import Candidate, ResultCompletedEvent, ResultSummary
from ntrvsta_async.client import NtrvstaClient
from ntrvsta_async.sandbox import SandboxServer
from ntrvsta_async.testing import SandboxFixture


async def _invite(client: NtrvstaClient, count: int, posting: str = "p") -> list[str]:
    template = await client.templates.create(title="T", external_posting_id=posting)
    ids = []
    for n in range(count):
        invitation = await client.invitations.create(
            template_id=template.template_id, candidate=Candidate(email=f"c{n}@x.io")
        )
        ids.append(invitation.invitation_id)
    return ids


async def test_complete_returns_summary_and_payload(ntrvsta_sandbox: SandboxFixture) -> None:
    (invitation_id,) = await _invite(ntrvsta_sandbox.client, 1)
    done = await ntrvsta_sandbox.complete(invitation_id, overall_score=72.5, integrity_warning=True)
    assert isinstance(done.summary, ResultSummary)
    assert isinstance(done.event, ResultCompletedEvent)
    assert done.summary == ResultSummary.from_dict(dict(done.summary_json))
    assert done.event == ResultCompletedEvent.from_dict(dict(done.payload))
    assert done.overall_score == done.summary.overall_score == 72.5
    assert done.event.result_id == done.summary.result_id == done.result_id
    assert done.event.event_id == done.event_id
    assert done.event.ai_analysis is not None
    assert done.event.ai_analysis.integrity_warning is True
    assert done.event.invitation_id == invitation_id
    assert ntrvsta_sandbox.server.results == (done,)


async def test_completion_marks_the_invitation_completed(ntrvsta_sandbox: SandboxFixture) -> None:
    client = ntrvsta_sandbox.client
    template = await client.templates.create(title="T")
    first = await client.invitations.create(
        template_id=template.template_id, candidate={"email": "done@x.io"}
    )
    await ntrvsta_sandbox.complete(first.invitation_id)
    again = await client.invitations.create(
        template_id=template.template_id, candidate={"email": "done@x.io"}
    )
    assert again.reused is True
    assert again.status == "completed"


async def test_completing_twice_or_unknown_fails(ntrvsta_sandbox: SandboxFixture) -> None:
    (invitation_id,) = await _invite(ntrvsta_sandbox.client, 1)
    await ntrvsta_sandbox.complete(invitation_id)
    with pytest.raises(ValueError, match="already completed"):
        await ntrvsta_sandbox.complete(invitation_id)
    with pytest.raises(LookupError):
        await ntrvsta_sandbox.complete("inv_missing")
    assert len(ntrvsta_sandbox.server.results) == 1


async def test_backdated_completion_is_still_listed_last(ntrvsta_sandbox: SandboxFixture) -> None:
    client = ntrvsta_sandbox.client
    first, second = await _invite(client, 2)
    await ntrvsta_sandbox.complete(first)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    late = await ntrvsta_sandbox.complete(second, completed_at=old)
    listed = [r async for r in client.results.list()]
    assert [r.result_id for r in listed] == [
        ntrvsta_sandbox.server.results[0].result_id,
        late.result_id,
    ]
    assert listed[1].completed_at == old


async def test_completion_times_never_go_backwards(ntrvsta_sandbox: SandboxFixture) -> None:
    ids = await _invite(ntrvsta_sandbox.client, 20)
    for invitation_id in ids:
        await ntrvsta_sandbox.complete(invitation_id)
    times = [r.summary.completed_at for r in ntrvsta_sandbox.server.results]
    assert all(t is not None for t in times)
    assert times == sorted(times, key=lambda t: t or datetime.min)
    assert len(set(times)) == len(times)


async def _auto_scores(seed: int, count: int) -> list[float]:
    async with (
        SandboxServer(auto_complete=0.01, seed=seed) as server,
        NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        await _invite(client, count)
        async with asyncio.timeout(5):
            await server.wait_for_results(count)
        listed = [r async for r in client.results.list()]
        assert [r.result_id for r in listed] == [r.result_id for r in server.results]
        return [r.overall_score for r in server.results]


async def test_auto_complete_produces_seeded_scores() -> None:
    first, again, other = (
        await _auto_scores(4, 5),
        await _auto_scores(4, 5),
        await _auto_scores(9, 5),
    )
    assert first == again
    assert first != other
    assert all(35.0 <= score <= 98.0 for score in first)


async def test_auto_complete_waits_for_the_delay() -> None:
    async with (
        SandboxServer(auto_complete=0.3) as server,
        NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        (invitation_id,) = await _invite(client, 1)
        await asyncio.sleep(0.1)
        assert server.results == ()
        async with asyncio.timeout(5):
            (done,) = await server.wait_for_results(1)
        assert done.invitation_id == invitation_id


async def test_auto_complete_skips_reused_and_already_completed() -> None:
    async with (
        SandboxServer(auto_complete=0.1) as server,
        NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        template = await client.templates.create(title="T")
        first = await client.invitations.create(
            template_id=template.template_id, candidate={"email": "a@x.io"}
        )
        await client.invitations.create(
            template_id=template.template_id, candidate={"email": "a@x.io"}
        )
        await server.complete(first.invitation_id, overall_score=50)
        await asyncio.sleep(0.3)
        assert [r.overall_score for r in server.results] == [50.0]


async def test_stopping_cancels_pending_auto_completions() -> None:
    async with (
        SandboxServer(auto_complete=30) as server,
        NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        await _invite(client, 3)
    assert server.results == ()

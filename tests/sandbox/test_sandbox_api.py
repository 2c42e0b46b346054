"""The sandbox's ``/v1`` behaviour, exercised through the SDK's own client."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ntrvsta_async import (
    AuthenticationError,
    BadRequestError,
    Candidate,
    NotFoundError,
    UnprocessableEntityError,
)
from ntrvsta_async.client import NtrvstaClient
from ntrvsta_async.sandbox import SandboxServer
from ntrvsta_async.testing import SandboxFixture


async def _invite(sandbox: SandboxFixture, template_id: str, email: str) -> str:
    invitation = await sandbox.client.invitations.create(
        template_id=template_id, candidate=Candidate(email=email)
    )
    return invitation.invitation_id


# Authentication


async def test_both_key_headers_are_accepted(ntrvsta_sandbox: SandboxFixture) -> None:
    server = ntrvsta_sandbox.server
    async with NtrvstaClient(
        api_key=server.api_key, base_url=server.base_url, auth_scheme="bearer"
    ) as bearer:
        via_bearer = await bearer.templates.create(title="Bearer", external_posting_id="auth-1")
    via_header = await ntrvsta_sandbox.client.templates.create(
        title="Header", external_posting_id="auth-1"
    )
    assert via_header.template_id == via_bearer.template_id
    assert via_header.reused is True


@pytest.mark.parametrize("auth_scheme", ["api-key", "bearer"])
async def test_unknown_key_is_rejected_with_401(
    ntrvsta_sandbox: SandboxFixture, auth_scheme: str
) -> None:
    async with NtrvstaClient(
        api_key="sbx_not_a_key", base_url=ntrvsta_sandbox.base_url, auth_scheme=auth_scheme
    ) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.templates.create(title="Nope")
    assert info.value.status == 401
    assert info.value.code == "unauthorized"
    assert "sbx_not_a_key" not in str(info.value)
    assert ntrvsta_sandbox.server.templates == ()


async def test_extra_keys_authenticate_as_the_same_organization() -> None:
    async with SandboxServer(api_keys=["sbx_first", "sbx_second"]) as server:
        assert server.api_keys == ("sbx_first", "sbx_second")
        async with (
            NtrvstaClient(api_key="sbx_first", base_url=server.base_url) as first,
            NtrvstaClient(api_key="sbx_second", base_url=server.base_url) as second,
        ):
            one = await first.templates.create(title="T", external_posting_id="shared")
            two = await second.templates.create(title="T", external_posting_id="shared")
    assert (one.reused, two.reused) == (False, True)
    assert one.template_id == two.template_id


# Templates


async def test_template_create_then_reuse_by_posting_id(ntrvsta_sandbox: SandboxFixture) -> None:
    templates = ntrvsta_sandbox.client.templates
    created = await templates.create(
        title="Backend Engineer",
        description="Distributed systems",
        external_posting_id="ats-1",
        invite_url_expires_in_days=14,
        whiteboard_design=True,
    )
    again = await templates.create(title="Changed title", external_posting_id="ats-1")
    assert created.reused is False
    assert again.reused is True
    assert again.template_id == created.template_id
    # A reuse returns the stored template unchanged (OP-4: no upsert).
    assert again.title == "Backend Engineer"
    assert (created.invite_url_expires_in_days, created.whiteboard_design) == (14, True)
    assert created.created_at is not None
    assert created.created_at.tzinfo is not None


async def test_template_defaults(ntrvsta_sandbox: SandboxFixture) -> None:
    template = await ntrvsta_sandbox.client.templates.create(title="Defaults")
    assert template.invite_url_expires_in_days == 30
    assert template.whiteboard_design is False
    assert template.external_posting_id is None


async def test_templates_without_posting_id_are_always_new(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    templates = ntrvsta_sandbox.client.templates
    first = await templates.create(title="Same")
    second = await templates.create(title="Same")
    assert first.template_id != second.template_id
    assert (first.reused, second.reused) == (False, False)


async def test_posting_ids_are_scoped_to_the_organization(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    other = ntrvsta_sandbox.server.add_organization()
    mine = await ntrvsta_sandbox.client.templates.create(title="A", external_posting_id="p")
    async with NtrvstaClient(api_key=other.api_key, base_url=ntrvsta_sandbox.base_url) as client:
        theirs = await client.templates.create(title="A", external_posting_id="p")
    assert theirs.reused is False
    assert theirs.template_id != mine.template_id


async def test_empty_title_is_422_with_json_error(ntrvsta_sandbox: SandboxFixture) -> None:
    with pytest.raises(UnprocessableEntityError) as info:
        await ntrvsta_sandbox.client.templates.create(title="")
    assert info.value.status == 422
    assert info.value.code == "validation_failed"
    assert info.value.body == {
        "message": "title must not be empty",
        "code": "validation_failed",
        "details": {"field": "title"},
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "title"),
        ({"title": 7}, 400, "title"),
        ({"title": "T", "description": None}, 400, "description"),
        ({"title": "T", "inviteUrlExpiresInDays": "30"}, 400, "inviteUrlExpiresInDays"),
        ({"title": "T", "inviteUrlExpiresInDays": True}, 400, "inviteUrlExpiresInDays"),
        ({"title": "T", "inviteUrlExpiresInDays": 0}, 422, "inviteUrlExpiresInDays"),
        ({"title": "T", "whiteboardDesign": "yes"}, 400, "whiteboardDesign"),
        ({"title": "T", "externalPostingId": 12}, 400, "externalPostingId"),
    ],
)
async def test_invalid_template_bodies(
    ntrvsta_sandbox: SandboxFixture, body: dict[str, object], status: int, field: str
) -> None:
    with pytest.raises(BadRequestError) as info:
        await ntrvsta_sandbox.client.request("POST", "/v1/templates", json=body)
    assert info.value.status == status
    assert info.value.body["details"] == {"field": field}
    assert ntrvsta_sandbox.server.templates == ()


async def test_non_object_body_is_400(ntrvsta_sandbox: SandboxFixture) -> None:
    with pytest.raises(BadRequestError) as info:
        await ntrvsta_sandbox.client.request("POST", "/v1/templates", json=["title"])
    assert info.value.code == "invalid_json"


# Invitations


async def test_invitation_create_then_reuse(ntrvsta_sandbox: SandboxFixture) -> None:
    client = ntrvsta_sandbox.client
    template = await client.templates.create(title="T", invite_url_expires_in_days=7)
    candidate = Candidate(email="jane@example.com", first_name="Jane", last_name="Doe")
    first = await client.invitations.create(template_id=template.template_id, candidate=candidate)
    again = await client.invitations.create(
        template_id=template.template_id, candidate={"email": "JANE@example.com"}
    )
    assert first.reused is False
    assert again.reused is True
    assert again.invitation_id == first.invitation_id
    assert first.candidate == candidate
    assert first.status == "invited"
    assert first.invite_url is not None
    assert first.invitation_id in first.invite_url
    assert first.created_at is not None
    assert first.invite_url_expires_at is not None
    assert first.invite_url_expires_at - first.created_at == timedelta(days=7)


async def test_same_candidate_on_another_template_is_a_new_invitation(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    client = ntrvsta_sandbox.client
    one = await client.templates.create(title="One")
    two = await client.templates.create(title="Two")
    first = await _invite(ntrvsta_sandbox, one.template_id, "sam@example.com")
    second = await _invite(ntrvsta_sandbox, two.template_id, "sam@example.com")
    assert first != second


async def test_another_organizations_template_is_404(ntrvsta_sandbox: SandboxFixture) -> None:
    other = ntrvsta_sandbox.server.add_organization()
    async with NtrvstaClient(api_key=other.api_key, base_url=ntrvsta_sandbox.base_url) as client:
        foreign = await client.templates.create(title="Not yours")
    with pytest.raises(NotFoundError) as info:
        await _invite(ntrvsta_sandbox, foreign.template_id, "a@example.com")
    assert info.value.code == "template_not_found"
    with pytest.raises(NotFoundError):
        await _invite(ntrvsta_sandbox, "tpl_does_not_exist", "a@example.com")
    assert ntrvsta_sandbox.server.invitations == ()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"candidate": {"email": "a@b.io"}}, 400),
        ({"templateId": "TEMPLATE"}, 400),
        ({"templateId": "TEMPLATE", "candidate": "a@b.io"}, 400),
        ({"templateId": "TEMPLATE", "candidate": {"firstName": "A"}}, 400),
        ({"templateId": "TEMPLATE", "candidate": {"email": "a@b.io", "lastName": 3}}, 400),
        ({"templateId": "TEMPLATE", "candidate": {"email": "not-an-email"}}, 422),
    ],
)
async def test_invalid_invitation_bodies(
    ntrvsta_sandbox: SandboxFixture, body: dict[str, object], status: int
) -> None:
    template = await ntrvsta_sandbox.client.templates.create(title="T")
    if body.get("templateId") == "TEMPLATE":
        body["templateId"] = template.template_id
    with pytest.raises(BadRequestError) as info:
        await ntrvsta_sandbox.client.request("POST", "/v1/interview-invitations", json=body)
    assert info.value.status == status
    assert set(info.value.body) >= {"message", "code"}


# Results


async def _completed(sandbox: SandboxFixture, count: int, *, posting: str = "res") -> list[str]:
    template = await sandbox.client.templates.create(title="R", external_posting_id=posting)
    ids = []
    for n in range(count):
        invitation_id = await _invite(sandbox, template.template_id, f"c{n}@{posting}.io")
        ids.append((await sandbox.complete(invitation_id)).result_id)
    return ids


async def test_results_list_reads_every_page_in_completion_order(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    expected = await _completed(ntrvsta_sandbox, 7)
    listed = [r.result_id async for r in ntrvsta_sandbox.client.results.list(limit=3)]
    assert listed == expected
    assert ntrvsta_sandbox.server.request_counts["results"] == 3


async def test_pages_neither_skip_nor_repeat_while_results_arrive(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    results = ntrvsta_sandbox.client.results
    first_batch = await _completed(ntrvsta_sandbox, 4, posting="a")
    page = await results.list_page(limit=3)
    assert [r.result_id for r in page.items] == first_batch[:3]
    assert page.next_cursor is not None
    late = await _completed(ntrvsta_sandbox, 2, posting="b")
    seen = [r.result_id for r in page.items]
    cursor: str | None = page.next_cursor
    while cursor is not None:
        page = await results.list_page(cursor=cursor, limit=3)
        seen.extend(r.result_id for r in page.items)
        cursor = page.next_cursor
    assert seen == first_batch + late


async def test_last_page_has_no_cursor(ntrvsta_sandbox: SandboxFixture) -> None:
    await _completed(ntrvsta_sandbox, 2)
    page = await ntrvsta_sandbox.client.results.list_page(limit=2)
    assert len(page.items) == 2
    assert page.next_cursor is None
    empty = ntrvsta_sandbox.server.add_organization()
    async with NtrvstaClient(api_key=empty.api_key, base_url=ntrvsta_sandbox.base_url) as client:
        nothing = await client.results.list_page()
    assert nothing.items == ()
    assert nothing.next_cursor is None


async def test_summary_fields(ntrvsta_sandbox: SandboxFixture) -> None:
    client = ntrvsta_sandbox.client
    template = await client.templates.create(title="T", external_posting_id="sum-1")
    invitation_id = await _invite(ntrvsta_sandbox, template.template_id, "s@x.io")
    done = await ntrvsta_sandbox.complete(invitation_id, overall_score=88.5)
    (summary,) = [r async for r in client.results.list()]
    assert summary == done.summary
    assert summary.overall_score == 88.5
    assert summary.status == "completed"
    assert (summary.template_id, summary.external_posting_id) == (template.template_id, "sum-1")
    assert summary.invitation_id == invitation_id
    assert summary.result_url is not None
    assert str(summary.result_id) in summary.result_url
    assert summary.candidate is not None
    assert summary.candidate.email == "s@x.io"


@pytest.mark.parametrize("cursor", ["garbage", "e30.AAAA", "x" * 600, "€.€"])
async def test_unknown_cursor_is_400(ntrvsta_sandbox: SandboxFixture, cursor: str) -> None:
    with pytest.raises(BadRequestError) as info:
        await ntrvsta_sandbox.client.results.list_page(cursor=cursor)
    assert info.value.status == 400
    assert info.value.code == "invalid_cursor"


async def test_a_cursor_from_another_organization_is_400(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    await _completed(ntrvsta_sandbox, 3)
    page = await ntrvsta_sandbox.client.results.list_page(limit=1)
    assert page.next_cursor is not None
    other = ntrvsta_sandbox.server.add_organization()
    async with NtrvstaClient(api_key=other.api_key, base_url=ntrvsta_sandbox.base_url) as client:
        with pytest.raises(BadRequestError):
            await client.results.list_page(cursor=page.next_cursor)


async def test_a_cursor_from_another_sandbox_is_400(ntrvsta_sandbox: SandboxFixture) -> None:
    await _completed(ntrvsta_sandbox, 2)
    page = await ntrvsta_sandbox.client.results.list_page(limit=1)
    assert page.next_cursor is not None
    async with (
        SandboxServer(api_keys=ntrvsta_sandbox.api_key) as restarted,
        NtrvstaClient(api_key=restarted.api_key, base_url=restarted.base_url) as client,
    ):
        with pytest.raises(BadRequestError):
            await client.results.list_page(cursor=page.next_cursor)


@pytest.mark.parametrize(("limit", "ok"), [(1, True), (100, True), (101, False)])
async def test_limit_bounds(ntrvsta_sandbox: SandboxFixture, limit: int, ok: bool) -> None:
    await _completed(ntrvsta_sandbox, 2)
    if ok:
        page = await ntrvsta_sandbox.client.results.list_page(limit=limit)
        assert len(page.items) == min(limit, 2)
    else:
        with pytest.raises(BadRequestError):
            await ntrvsta_sandbox.client.results.list_page(limit=limit)


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "ten"}, {"completedAfter": "soon"}])
async def test_bad_query_values_are_400(
    ntrvsta_sandbox: SandboxFixture, params: dict[str, str]
) -> None:
    with pytest.raises(BadRequestError):
        await ntrvsta_sandbox.client.request("GET", "/v1/interview-results", params=params)


async def test_default_page_size_is_50(ntrvsta_sandbox: SandboxFixture) -> None:
    server = ntrvsta_sandbox.server
    template = await ntrvsta_sandbox.client.templates.create(title="Many")
    for n in range(51):
        invitation_id = await _invite(ntrvsta_sandbox, template.template_id, f"m{n}@x.io")
        await server.complete(invitation_id)
    page = await ntrvsta_sandbox.client.results.list_page()
    assert len(page.items) == 50
    assert page.next_cursor is not None


async def test_filters(ntrvsta_sandbox: SandboxFixture) -> None:
    results = ntrvsta_sandbox.client.results
    a = await _completed(ntrvsta_sandbox, 2, posting="alpha")
    b = await _completed(ntrvsta_sandbox, 3, posting="beta")
    by_posting = [r.result_id async for r in results.list(external_posting_id="beta")]
    assert by_posting == b
    template_id = ntrvsta_sandbox.server.results[0].summary.template_id
    assert template_id is not None
    by_template = [r.result_id async for r in results.list(template_id=template_id)]
    assert by_template == a
    third = ntrvsta_sandbox.server.results[2].summary.completed_at
    assert third is not None
    recent = [r.result_id async for r in results.list(completed_after=third)]
    assert recent == b  # "at or after"
    assert [r async for r in results.list(template_id="tpl_unknown")] == []


async def test_results_are_scoped_to_the_organization(ntrvsta_sandbox: SandboxFixture) -> None:
    other = ntrvsta_sandbox.server.add_organization()
    async with NtrvstaClient(api_key=other.api_key, base_url=ntrvsta_sandbox.base_url) as client:
        template = await client.templates.create(title="Theirs")
        invitation = await client.invitations.create(
            template_id=template.template_id, candidate={"email": "t@x.io"}
        )
        await ntrvsta_sandbox.complete(invitation.invitation_id)
        theirs = [r.result_id async for r in client.results.list()]
    mine = await _completed(ntrvsta_sandbox, 1)
    assert [r.result_id async for r in ntrvsta_sandbox.client.results.list()] == mine
    assert len(theirs) == 1
    assert theirs != mine


# Base URL with a stage path


@pytest.mark.ntrvsta_sandbox(path_prefix="/dev")
async def test_stage_path_prefix_is_served_and_required(ntrvsta_sandbox: SandboxFixture) -> None:
    assert ntrvsta_sandbox.base_url.endswith("/dev")
    template = await ntrvsta_sandbox.client.templates.create(title="Staged")
    assert template.reused is False
    root = ntrvsta_sandbox.base_url.removesuffix("/dev")
    async with NtrvstaClient(api_key=ntrvsta_sandbox.api_key, base_url=root) as unstaged:
        with pytest.raises(NotFoundError):
            await unstaged.templates.create(title="Lost")
    assert len(ntrvsta_sandbox.server.templates) == 1

"""Header injection through caller-supplied strings: CR/LF and ``X-Evil:`` in candidate fields,
titles, filters and paths travel only inside the JSON body or percent-encoded in the URL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web

from ntrvsta_async import (
    BadRequestError,
    Candidate,
    ConfigurationError,
    NotFoundError,
    NtrvstaClient,
    NtrvstaError,
)
from ntrvsta_async.sandbox import SandboxServer
from tests.conftest import serve

API_KEY = "ntr_live_inject_0123456789abcdef"
EVIL = "Eve\r\nX-Evil: 1\r\n\r\nGET /admin HTTP/1.1\r\nHost: evil.test"
EVIL_LF = "Mallory\nX-Evil: 2\n"
EVIL_CASES = [EVIL, EVIL_LF, "\u2028X-Evil: 3\u0085", "\x00X-Evil: 4"]


@attrs.define
class Seen:
    """One request as the server received it."""

    raw_headers: list[tuple[bytes, bytes]]
    raw_path: str
    query: dict[str, str]
    body: bytes


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[Seen]]]:
    seen: list[Seen] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(
            Seen(
                raw_headers=list(request.raw_headers),
                raw_path=request.raw_path,
                query=dict(request.query),
                body=await request.read(),
            )
        )
        if request.path.endswith("/interview-results"):
            return web.json_response({"items": [], "nextCursor": None})
        if request.path.endswith("/templates"):
            return web.json_response({"templateId": "tpl_1", "title": "t"}, status=201)
        if request.path.endswith("/interview-invitations"):
            return web.json_response({"invitationId": "inv_1", "templateId": "tpl_1"}, status=201)
        return web.json_response({"message": "no such route"}, status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    async with serve(app) as url:
        yield url, seen


def header_names(seen: Seen) -> list[str]:
    return [name.decode("latin-1").lower() for name, _ in seen.raw_headers]


def assert_no_injected_header(seen: Seen) -> None:
    names = header_names(seen)
    assert not [name for name in names if "evil" in name or name == "get /admin http/1.1"]
    assert names.count("host") == 1
    assert all("evil" not in value.decode("latin-1").lower() for _, value in seen.raw_headers)


@pytest.mark.parametrize("evil", EVIL_CASES)
async def test_candidate_fields_travel_only_inside_the_json_body(
    recorder: tuple[str, list[Seen]], evil: str
) -> None:
    base, seen = recorder
    candidate = Candidate(
        email="eve@example.com", first_name=evil, last_name=evil, external_candidate_id=evil
    )
    async with NtrvstaClient(api_key=API_KEY, base_url=base) as client:
        await client.invitations.create(
            template_id="tpl_1", candidate=candidate, extra_body={evil: evil}
        )
        await client.templates.create(title=evil, description=evil, external_posting_id=evil)

    assert len(seen) == 2
    for request in seen:
        assert_no_injected_header(request)
    invitation = json.loads(seen[0].body)
    assert invitation["candidate"] == {
        "email": "eve@example.com",
        "firstName": evil,
        "lastName": evil,
        "externalCandidateId": evil,
    }
    assert invitation[evil] == evil
    assert json.loads(seen[1].body)["externalPostingId"] == evil


@pytest.mark.parametrize("evil", EVIL_CASES)
async def test_filters_are_percent_encoded_and_arrive_intact(
    recorder: tuple[str, list[Seen]], evil: str
) -> None:
    base, seen = recorder
    async with NtrvstaClient(api_key=API_KEY, base_url=base) as client:
        await client.results.list_page(template_id=evil, external_posting_id=evil, region=evil)

    assert_no_injected_header(seen[0])
    assert not {"\r", "\n"} & set(seen[0].raw_path)
    assert seen[0].query["templateId"] == evil
    assert seen[0].query["region"] == evil


async def test_path_with_line_breaks_never_splits_the_request(
    recorder: tuple[str, list[Seen]],
) -> None:
    base, seen = recorder
    async with NtrvstaClient(api_key=API_KEY, base_url=base, max_retries=0) as client:
        with pytest.raises(NtrvstaError) as info:
            await client.request("GET", f"/v1/x{EVIL}")

    assert isinstance(info.value, NotFoundError | ConfigurationError)
    assert len(seen) <= 1
    for request in seen:
        assert_no_injected_header(request)
        assert not {"\r", "\n"} & set(request.raw_path)


@pytest.mark.parametrize("evil", ["key\r\nX-Evil: 1", "key\nX-Evil: 1", "key\x00"])
def test_api_key_with_line_breaks_is_refused(evil: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        NtrvstaClient(api_key=evil, base_url="http://127.0.0.1:9")
    assert "X-Evil" not in str(info.value)


def test_user_agent_with_line_breaks_is_refused_at_construction() -> None:
    with pytest.raises(ConfigurationError):
        NtrvstaClient(api_key=API_KEY, base_url="http://127.0.0.1:9", user_agent="a\r\nX-Evil: 1")


async def test_sandbox_stores_exactly_the_string_sent() -> None:
    async with (
        SandboxServer() as sandbox,
        NtrvstaClient(api_key=sandbox.api_key, base_url=sandbox.base_url) as client,
    ):
        template = await client.templates.create(
            title=EVIL, description=EVIL_LF, external_posting_id=EVIL
        )
        invitation = await client.invitations.create(
            template_id=template.template_id,
            candidate=Candidate(
                email="eve@example.com",
                first_name=EVIL,
                last_name=EVIL_LF,
                external_candidate_id=EVIL,
            ),
        )
        with pytest.raises(BadRequestError):
            await client.invitations.create(
                template_id=template.template_id,
                candidate=Candidate(email="eve@example.com\r\nX-Evil: 1"),
            )

    stored: Any = sandbox.invitations[0].candidate
    assert (stored.first_name, stored.last_name, stored.external_candidate_id) == (
        EVIL,
        EVIL_LF,
        EVIL,
    )
    assert sandbox.templates[0].title == EVIL
    assert sandbox.templates[0].description == EVIL_LF
    assert invitation.candidate is not None
    assert invitation.candidate.first_name == EVIL
    assert len(sandbox.invitations) == 1

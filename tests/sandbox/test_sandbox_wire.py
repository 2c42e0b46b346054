"""Wire details the typed client hides: status codes, error bodies, headers, edge inputs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest
import requests

from ntrvsta_async.sandbox import SandboxServer
from ntrvsta_async.sandbox.cursor import CursorCodec, InvalidCursor
from ntrvsta_async.sandbox.threaded import ThreadedSandbox
from ntrvsta_async.sandbox.validation import parse_timestamp


@pytest.fixture
async def server() -> AsyncIterator[SandboxServer]:
    async with SandboxServer() as running:
        yield running


@pytest.fixture
async def http(server: SandboxServer) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"X-Ntrvsta-Api-Key": server.api_key}
    async with aiohttp.ClientSession(base_url=server.base_url + "/", headers=headers) as session:
        yield session


async def _post(http: aiohttp.ClientSession, path: str, body: Any) -> tuple[int, Any]:
    async with http.post(path.lstrip("/"), json=body) as response:
        return response.status, await response.json()


async def test_created_is_201_and_reused_is_200(http: aiohttp.ClientSession) -> None:
    body = {"title": "T", "externalPostingId": "wire"}
    first = await _post(http, "/v1/templates", body)
    second = await _post(http, "/v1/templates", body)
    assert (first[0], first[1]["reused"]) == (201, False)
    assert (second[0], second[1]["reused"]) == (200, True)
    invite = {"templateId": first[1]["templateId"], "candidate": {"email": "w@x.io"}}
    assert (await _post(http, "/v1/interview-invitations", invite))[0] == 201
    assert (await _post(http, "/v1/interview-invitations", invite))[0] == 200


async def test_template_json_shape(http: aiohttp.ClientSession) -> None:
    _, template = await _post(http, "/v1/templates", {"title": "Shape", "extraField": 1})
    assert set(template) == {
        "templateId",
        "title",
        "description",
        "externalPostingId",
        "inviteUrlExpiresInDays",
        "whiteboardDesign",
        "createdAt",
        "updatedAt",
        "reused",
    }
    assert template["createdAt"].endswith("Z")
    assert template["description"] is None


async def test_every_response_has_a_request_id(http: aiohttp.ClientSession) -> None:
    async with http.get("v1/interview-results") as response:
        assert response.headers["X-Request-Id"].startswith("req_")


async def test_unknown_route_and_method_are_json(http: aiohttp.ClientSession) -> None:
    async with http.get("v1/nothing-here") as response:
        assert response.status == 404
        assert (await response.json())["code"] == "not_found"
    async with http.delete("v1/templates") as response:
        assert response.status == 405
        assert response.headers["Allow"] == "POST"
        assert (await response.json())["code"] == "method_not_allowed"


async def test_wrong_content_type_and_bad_json_are_400(http: aiohttp.ClientSession) -> None:
    async with http.post("v1/templates", data="title=T") as response:
        assert response.status == 400
        assert (await response.json())["code"] == "unsupported_media_type"
    async with http.post(
        "v1/templates", data=b"{not json", headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_json"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Ntrvsta-Api-Key": ""},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer"},
    ],
)
async def test_missing_or_malformed_credentials_are_401(
    server: SandboxServer, headers: dict[str, str]
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.base_url}/v1/interview-results", headers=headers) as response,
    ):
        assert response.status == 401
        assert response.headers["Content-Type"].startswith("application/json")
        assert (await response.json())["code"] == "unauthorized"


async def test_disagreeing_credentials_are_401(server: SandboxServer) -> None:
    other = server.add_organization()
    headers = {"X-Ntrvsta-Api-Key": server.api_key, "Authorization": f"Bearer {other.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.base_url}/v1/interview-results", headers=headers) as response,
    ):
        assert response.status == 401
    agreeing = {"X-Ntrvsta-Api-Key": server.api_key, "Authorization": f"bearer {server.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{server.base_url}/v1/interview-results", headers=agreeing) as response,
    ):
        assert response.status == 200


async def test_huge_expiry_does_not_break_invitations(http: aiohttp.ClientSession) -> None:
    status, template = await _post(
        http, "/v1/templates", {"title": "T", "inviteUrlExpiresInDays": 10**12}
    )
    assert status == 201
    invite = {"templateId": template["templateId"], "candidate": {"email": "z@x.io"}}
    status, invitation = await _post(http, "/v1/interview-invitations", invite)
    assert status == 201
    assert invitation["inviteUrlExpiresAt"] is None


def test_sandbox_seed_reproduces_ids() -> None:
    def ids(seed: int) -> list[str]:
        with ThreadedSandbox(seed=seed) as sandbox, requests.Session() as session:
            session.headers["X-Ntrvsta-Api-Key"] = sandbox.api_key
            url = f"{sandbox.base_url}/v1/templates"
            return [
                session.post(url, json={"title": "T"}, timeout=10).json()["templateId"]
                for _ in range(3)
            ]

    assert ids(1) == ids(1)
    assert ids(1) != ids(2)


def test_threaded_sandbox_serves_synchronous_code() -> None:
    with ThreadedSandbox(api_keys="sbx_sync") as sandbox, requests.Session() as session:
        session.headers["X-Ntrvsta-Api-Key"] = sandbox.api_key
        template = session.post(
            f"{sandbox.base_url}/v1/templates", json={"title": "Sync"}, timeout=10
        ).json()
        invitation = session.post(
            f"{sandbox.base_url}/v1/interview-invitations",
            json={"templateId": template["templateId"], "candidate": {"email": "s@x.io"}},
            timeout=10,
        ).json()
        done = sandbox.complete(invitation["invitationId"], overall_score=50)
        page = session.get(f"{sandbox.base_url}/v1/interview-results", timeout=10).json()
        assert page["items"] == [dict(done.summary_json)]
        base_url = sandbox.base_url
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{base_url}/v1/interview-results", timeout=2)


# Units behind the routes


def test_cursor_round_trip_and_rejections() -> None:
    codec = CursorCodec(b"k" * 32)
    cursor = codec.encode("org_a", 41)
    assert codec.decode("org_a", cursor) == 41
    with pytest.raises(InvalidCursor):
        codec.decode("org_b", cursor)
    with pytest.raises(InvalidCursor):
        CursorCodec(b"x" * 32).decode("org_a", cursor)
    body, mac = cursor.split(".")
    with pytest.raises(InvalidCursor):
        codec.decode("org_a", f"{body}A.{mac}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01t10:00:00.5z", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2016-12-31T23:59:60Z", datetime(2016, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("0001-01-01T00:00:00+23:59", datetime.min.replace(tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_are_parsed(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "soon",
        "2024-13-01T00:00:00Z",
        "2024-05-01T10:00:00+24:00",
        "2024-05-01",
        "2024-05-01T10:00:00",
        "2024-05-01T10:00Z",
    ],
)
def test_bad_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_timestamp(text)


def test_parsed_timestamps_are_utc() -> None:
    parsed = parse_timestamp("2024-05-01T10:00:00-05:30")
    assert parsed.tzinfo == UTC
    assert parsed == datetime(2024, 5, 1, 10, tzinfo=timezone(-timedelta(hours=5, minutes=30)))

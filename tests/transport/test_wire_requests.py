"""Exact wire shapes of the typed calls: paths, headers, bodies, query strings."""

from __future__ import annotations

import enum
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from ntrvsta_async import (
    Candidate,
    Contract,
    InvalidArgumentError,
    NotFoundError,
    NtrvstaClient,
    ResponseValidationError,
    _json,
)
from tests.conftest import API_KEY, BASE

TEMPLATES = f"{BASE}/v1/templates"
INVITATIONS = f"{BASE}/v1/interview-invitations"


def sent(mock: aioresponses, method: str, url: str, index: int = 0) -> dict[str, Any]:
    """The kwargs of a request aioresponses captured."""
    return dict(mock.requests[(method, URL(url))][index].kwargs)


def sent_json(mock: aioresponses, method: str, url: str, index: int = 0) -> Any:
    return json.loads(sent(mock, method, url, index)["data"])


async def test_api_key_header_by_default(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.post(TEMPLATES, payload={"templateId": "t1"}, status=201)
    await client.templates.create(title="Backend")
    headers = sent(mock, "POST", TEMPLATES)["headers"]
    assert headers["X-Ntrvsta-Api-Key"] == API_KEY
    assert "Authorization" not in headers
    assert headers["Accept"] == "application/json"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("ntrvsta-async/")


async def test_bearer_scheme_sends_only_authorization(mock: aioresponses) -> None:
    mock.post(TEMPLATES, payload={"templateId": "t1"}, status=201)
    async with NtrvstaClient(
        api_key=API_KEY, base_url=BASE, auth_scheme="bearer", user_agent="my-ats/2.0"
    ) as client:
        await client.templates.create(title="Backend")
    headers = sent(mock, "POST", TEMPLATES)["headers"]
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert "X-Ntrvsta-Api-Key" not in headers
    assert headers["User-Agent"].endswith(" my-ats/2.0")


async def test_stage_path_of_base_url_is_kept(mock: aioresponses) -> None:
    url = "https://gw.example.test/staging/v1/templates"
    mock.post(url, payload={"templateId": "t1"}, status=201)
    async with NtrvstaClient(api_key=API_KEY, base_url="https://gw.example.test/staging/") as c:
        await c.templates.create(title="x")
    assert ("POST", URL(url)) in mock.requests


async def test_template_body_is_camel_case_and_omits_unset(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(TEMPLATES, payload={"templateId": "t1"}, status=201)
    mock.post(TEMPLATES, payload={"templateId": "t2"}, status=201)
    await client.templates.create(title="Backend")
    await client.templates.create(
        title="Backend",
        description="Distributed systems",
        external_posting_id="job-7",
        invite_url_expires_in_days=14,
        whiteboard_design=False,
        extra_body={"language": "de", "title": "ignored"},
    )
    assert sent_json(mock, "POST", TEMPLATES, 0) == {"title": "Backend"}
    assert sent_json(mock, "POST", TEMPLATES, 1) == {
        "title": "Backend",
        "description": "Distributed systems",
        "externalPostingId": "job-7",
        "inviteUrlExpiresInDays": 14,
        "whiteboardDesign": False,
        "language": "de",
    }


@pytest.mark.parametrize(
    ("status", "body", "reused"),
    [
        (201, {"templateId": "t"}, False),
        (200, {"templateId": "t"}, True),
        (201, {"templateId": "t", "reused": True}, True),
        (200, {"templateId": "t", "created": True}, False),
        (202, {"templateId": "t"}, None),
    ],
)
async def test_reused_flag(
    mock: aioresponses, client: NtrvstaClient, status: int, body: dict[str, Any], reused: bool
) -> None:
    mock.post(TEMPLATES, payload=body, status=status)
    template = await client.templates.create(title="x", external_posting_id="p")
    assert template.reused is reused


@pytest.mark.parametrize(
    ("status", "body", "reused"),
    [
        (201, {"templateId": "t"}, None),
        (200, {"templateId": "t"}, None),
        (200, {"templateId": "t", "reused": True}, True),
        (200, {"templateId": "t", "created": True}, False),
    ],
)
async def test_a_contract_that_reads_no_status_takes_reused_from_the_body_only(
    mock: aioresponses, status: int, body: dict[str, Any], reused: bool | None
) -> None:
    contract = Contract(status_created=None, status_reused=None)
    mock.post(TEMPLATES, payload=body, status=status)
    async with NtrvstaClient(api_key=API_KEY, base_url=BASE, contract=contract) as client:
        template = await client.templates.create(title="x", external_posting_id="p")
    assert template.reused is reused


async def test_template_response_parsed_with_unknown_fields_kept(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    body = {
        "id": "tpl_1",
        "title": "Backend",
        "externalPostingId": None,
        "inviteUrlExpiresInDays": 30,
        "whiteboardDesign": True,
        "createdAt": "2026-05-01T10:00:00Z",
        "updatedAt": "2026-05-01T10:00:00",
        "avatar": {"name": "Ada"},
    }
    mock.post(TEMPLATES, payload=body, status=201)
    template = await client.templates.create(title="Backend")
    assert template.template_id == "tpl_1"
    assert template.whiteboard_design is True
    assert template.invite_url_expires_in_days == 30
    assert template.created_at == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert template.updated_at is not None
    assert template.updated_at.tzinfo is not None
    assert template.extra == {"avatar": {"name": "Ada"}}
    assert template.to_dict()["avatar"] == {"name": "Ada"}


async def test_invitation_sends_nested_candidate(mock: aioresponses, client: NtrvstaClient) -> None:
    reply = {
        "invitationId": "inv_1",
        "templateId": "tpl_1",
        "candidate": {"email": "ada@example.com", "firstName": "Ada", "pronouns": "she/her"},
        "inviteUrl": "https://app.ntrvsta.test/i/abc",
        "inviteUrlExpiresAt": "2026-06-01T00:00:00+02:00",
        "status": "scheduled",
    }
    mock.post(INVITATIONS, payload=reply, status=201)
    mock.post(INVITATIONS, payload=reply, status=200)
    first = await client.invitations.create(
        template_id="tpl_1", candidate=Candidate(email="ada@example.com", first_name="Ada")
    )
    second = await client.invitations.create(
        template_id="tpl_1",
        candidate={"email": "ada@example.com", "last_name": "Lovelace"},
        extra_body={"language": "en"},
    )
    assert sent_json(mock, "POST", INVITATIONS, 0) == {
        "templateId": "tpl_1",
        "candidate": {"email": "ada@example.com", "firstName": "Ada"},
    }
    assert sent_json(mock, "POST", INVITATIONS, 1) == {
        "templateId": "tpl_1",
        "candidate": {"email": "ada@example.com", "lastName": "Lovelace"},
        "language": "en",
    }
    assert (first.reused, second.reused) == (False, True)
    assert first.invitation_id == "inv_1"
    assert first.candidate is not None
    assert first.candidate.extra == {"pronouns": "she/her"}
    assert first.invite_url_expires_at == datetime(2026, 6, 1, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize(
    "call",
    [
        {"title": 5},
        {"title": "x", "invite_url_expires_in_days": True},
        {"title": "x", "invite_url_expires_in_days": "30"},
        {"title": "x", "whiteboard_design": "false"},
        {"title": "x", "extra_body": ["a"]},
    ],
)
async def test_wrong_template_argument_types_send_nothing(
    mock: aioresponses, client: NtrvstaClient, call: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError):
        await client.templates.create(**call)
    assert not mock.requests


@pytest.mark.parametrize(
    "candidate",
    [
        {"mail": "a@b.c"},
        {"email": "a@b.c", "firstName": "A"},
        {"first_name": "A"},
        {"email": ""},
        {"email": 7},
        "a@b.c",
    ],
)
async def test_bad_candidates_are_rejected_before_sending(
    mock: aioresponses, client: NtrvstaClient, candidate: Any
) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        await client.invitations.create(template_id="tpl", candidate=candidate)
    assert "candidate" in str(info.value)
    assert not mock.requests


async def test_escape_hatch_request(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(f"{BASE}/v1/templates/tpl_1?expand=all", payload={"templateId": "tpl_1"})
    data = await client.request("get", "/v1/templates/tpl_1", params={"expand": "all"})
    assert data == {"templateId": "tpl_1"}
    assert (
        sent(mock, "GET", f"{BASE}/v1/templates/tpl_1?expand=all")["headers"]["X-Ntrvsta-Api-Key"]
        == API_KEY
    )


async def test_raw_mode_returns_status_headers_and_the_decoded_body(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(TEMPLATES, payload={"templateId": "t1"}, status=201, headers={"X-Request-Id": "r1"})
    mock.delete(f"{BASE}/v1/templates/t1", status=204)
    response = await client.request("POST", "/v1/templates", json={"title": "A"}, raw=True)
    assert (response.status, response.data) == (201, {"templateId": "t1"})
    assert response.headers["x-request-id"] == "r1"
    assert sent_json(mock, "POST", TEMPLATES) == {"title": "A"}
    empty = await client.request("DELETE", "/v1/templates/t1", raw=True)
    assert (empty.status, empty.data) == (204, None)


async def test_raw_mode_keeps_the_error_mapping(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.get(f"{BASE}/v1/templates/gone", status=404, payload={"message": "no such template"})
    with pytest.raises(NotFoundError, match="no such template"):
        await client.request("GET", "/v1/templates/gone", raw=True)
    with pytest.raises(InvalidArgumentError, match="raw must be bool"):
        await client.request("GET", "/v1/templates/gone", raw="yes")  # type: ignore[call-overload]
    assert len(mock.requests) == 1


class Tier(enum.Enum):
    GOLD = "gold"


class Weight(enum.Enum):
    UNKNOWN = float("nan")


@pytest.fixture(params=["orjson", "json"])
def encoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with orjson (when installed) and with the standard library encoder."""
    if request.param == "json":
        monkeypatch.setattr(_json, "_orjson", None)
    elif _json.orjson_loads() is None:
        pytest.skip("orjson (the speed extra) is not installed")
    return str(request.param)


async def test_bodies_are_the_same_json_whichever_encoder(
    mock: aioresponses, client: NtrvstaClient, encoder: str
) -> None:
    ref = uuid.UUID("12345678-1234-5678-1234-567812345678")
    mock.post(INVITATIONS, payload={"invitationId": "inv_1"}, status=201)
    await client.invitations.create(
        template_id="tpl_ü",
        candidate=Candidate(email="zoë@example.com"),
        extra_body={
            "ref": ref,
            "tier": Tier.GOLD,
            "tags": ("a", "b"),
            "nested": {"big": 2**70, "keys": {1: "one"}},
        },
    )
    raw = sent(mock, "POST", INVITATIONS)["data"]
    assert "zoë".encode() in raw
    assert json.loads(raw) == {
        "templateId": "tpl_ü",
        "candidate": {"email": "zoë@example.com"},
        "ref": str(ref),
        "tier": "gold",
        "tags": ["a", "b"],
        "nested": {"big": 2**70, "keys": {"1": "one"}},
    }


@pytest.mark.parametrize(
    "extra_body",
    [
        {"when": datetime(2026, 1, 1, tzinfo=UTC)},
        {"blob": b"\x00"},
        {"thing": object()},
        {"scores": {float("nan"): 1}},
        {"score": float("nan")},
        {"limit": float("-inf")},
        {"nested": [{"deep": (1.0, float("inf"))}]},
        {"weight": Weight.UNKNOWN},
    ],
)
async def test_a_body_json_cannot_carry_is_refused_and_nothing_sent(
    mock: aioresponses, client: NtrvstaClient, encoder: str, extra_body: dict[str, Any]
) -> None:
    with pytest.raises(InvalidArgumentError, match="not JSON"):
        await client.invitations.create(
            template_id="tpl", candidate={"email": "a@b.c"}, extra_body=extra_body
        )
    assert not mock.requests


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(value=_JSON_VALUES)
@settings(max_examples=150, deadline=None)
def test_both_encoders_write_the_same_value(value: Any) -> None:
    fast = _json.dumps(value)
    saved = _json._orjson
    _json._orjson = None
    try:
        plain = _json.dumps(value)
    finally:
        _json._orjson = saved
    assert json.loads(fast) == json.loads(plain) == value


async def test_a_reused_flag_from_the_status_keeps_the_body_as_sent_in_errors(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    body = {"invitationId": "inv_1", "createdAt": "last week"}
    mock.post(INVITATIONS, payload=body, status=201)
    with pytest.raises(ResponseValidationError) as info:
        await client.invitations.create(template_id="tpl", candidate={"email": "a@b.c"})
    assert info.value.body == body
    assert info.value.path == "$.createdAt"

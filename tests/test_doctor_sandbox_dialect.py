"""``SandboxDialect``: the sandbox speaking a wire that deviates from the SDK's assumptions."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ntrvsta_async.sandbox import SandboxDialect, SandboxServer


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with session.request(method, url, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def test_a_template_path_invitation_takes_the_id_from_the_path() -> None:
    dialect = SandboxDialect(invitations_path="/v1/templates/{templateId}/invitations")
    async with SandboxServer(dialect=dialect) as server, aiohttp.ClientSession() as session:
        headers = {"X-Ntrvsta-Api-Key": server.api_key}
        status, template, _ = await _call(
            session, "POST", f"{server.base_url}/v1/templates", json={"title": "T"}, headers=headers
        )
        assert status == 201
        url = f"{server.base_url}/v1/templates/{template['templateId']}/invitations"
        candidate = {"candidate": {"email": "a@example.com"}}
        status, made, _ = await _call(session, "POST", url, json=candidate, headers=headers)
        assert status == 201
        assert made["templateId"] == template["templateId"]
        mismatch = {**candidate, "templateId": "tpl_other"}
        status, error, _ = await _call(session, "POST", url, json=mismatch, headers=headers)
        assert status == 400
        assert error["details"] == {"field": "templateId"}
        status, _, _ = await _call(
            session,
            "POST",
            f"{server.base_url}/v1/interview-invitations",
            json=candidate,
            headers=headers,
        )
        assert status == 404


async def test_page_keys_parameter_names_and_key_header() -> None:
    dialect = SandboxDialect(
        page_items_key="data",
        page_cursor_key="next",
        param_limit="size",
        api_key_header="X-Api-Key",
        accept_bearer=False,
    )
    async with SandboxServer(dialect=dialect) as server, aiohttp.ClientSession() as session:
        url = f"{server.base_url}/v1/interview-results"
        status, page, _ = await _call(
            session,
            "GET",
            url,
            params={"size": "5", "limit": "x"},
            headers={"X-Api-Key": server.api_key},
        )
        assert status == 200
        assert page == {"data": [], "next": None}
        status, error, headers = await _call(
            session, "GET", url, headers={"Authorization": f"Bearer {server.api_key}"}
        )
        assert status == 401
        assert error["message"] == "missing or invalid API key (send X-Api-Key)"
        assert "WWW-Authenticate" not in headers
        status, _, _ = await _call(
            session, "GET", url, headers={"X-Ntrvsta-Api-Key": server.api_key}
        )
        assert status == 401


async def test_statuses_and_the_missing_body_flag() -> None:
    dialect = SandboxDialect(status_created=200, status_reused=203, reused_flag=False)
    async with SandboxServer(dialect=dialect) as server, aiohttp.ClientSession() as session:
        url = f"{server.base_url}/v1/templates"
        body = {"title": "T", "externalPostingId": "p"}
        headers = {"X-Ntrvsta-Api-Key": server.api_key}
        first = await _call(session, "POST", url, json=body, headers=headers)
        second = await _call(session, "POST", url, json=body, headers=headers)
    assert (first[0], second[0]) == (200, 203)
    assert "reused" not in first[1]
    assert first[1]["templateId"] == second[1]["templateId"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status_created": 302},
        {"status_reused": True},
        {"invitations_path": "v1/invitations"},
        {"invitations_path": "/v1/{orgId}/invitations"},
        {"page_items_key": ""},
    ],
)
def test_invalid_dialects_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - attrs validators raise plain ValueError
        SandboxDialect(**kwargs)


def test_the_default_dialect_is_the_sdk_contract() -> None:
    from ntrvsta_async.assumptions import DEFAULT_CONTRACT

    dialect = SandboxDialect()
    assert dialect.page_items_key == DEFAULT_CONTRACT.page_items_keys[0]
    assert dialect.page_cursor_key == DEFAULT_CONTRACT.page_cursor_keys[0]
    assert dialect.invitations_path == DEFAULT_CONTRACT.invitations_path
    assert (dialect.status_created, dialect.status_reused) == (
        DEFAULT_CONTRACT.status_created,
        DEFAULT_CONTRACT.status_reused,
    )
    assert dialect.api_key_header == DEFAULT_CONTRACT.api_key_header

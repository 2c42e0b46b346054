"""The sandbox serving a ``Contract`` that deviates from the SDK's assumptions."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from ntrvsta_async import ConfigurationError, Contract
from ntrvsta_async.sandbox import SandboxServer


async def _call(
    session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.typedefs.LooseHeaders]:
    async with session.request(method, url, **kwargs) as response:
        return response.status, await response.json(), response.headers


async def test_a_template_path_invitation_takes_the_id_from_the_path() -> None:
    served = Contract(invitations_path="/v1/templates/{templateId}/invitations")
    async with SandboxServer(contract=served) as server, aiohttp.ClientSession() as session:
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
    served = Contract(
        page_items_keys=("data",),
        page_cursor_keys=("next",),
        param_limit="size",
        api_key_header="X-Api-Key",
    )
    async with (
        SandboxServer(contract=served, accept_bearer=False) as server,
        aiohttp.ClientSession() as session,
    ):
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
    served = Contract(status_created=200, status_reused=203)
    async with (
        SandboxServer(contract=served, reused_flag=False) as server,
        aiohttp.ClientSession() as session,
    ):
        url = f"{server.base_url}/v1/templates"
        body = {"title": "T", "externalPostingId": "p"}
        headers = {"X-Ntrvsta-Api-Key": server.api_key}
        first = await _call(session, "POST", url, json=body, headers=headers)
        second = await _call(session, "POST", url, json=body, headers=headers)
    assert (first[0], second[0]) == (200, 203)
    assert "reused" not in first[1]
    assert first[1]["templateId"] == second[1]["templateId"]


async def test_paths_and_filter_names_come_from_the_contract() -> None:
    served = Contract(
        templates_path="/v2/forms",
        results_path="/v2/outcomes",
        param_template_id="form",
        status_created=None,
        status_reused=None,
    )
    async with SandboxServer(contract=served) as server, aiohttp.ClientSession() as session:
        headers = {"X-Ntrvsta-Api-Key": server.api_key}
        body = {"title": "T", "externalPostingId": "p"}
        first = await _call(
            session, "POST", f"{server.base_url}/v2/forms", json=body, headers=headers
        )
        second = await _call(
            session, "POST", f"{server.base_url}/v2/forms", json=body, headers=headers
        )
        status, _, _ = await _call(
            session, "POST", f"{server.base_url}/v1/templates", json=body, headers=headers
        )
        assert status == 404
        invitation = await _call(
            session,
            "POST",
            f"{server.base_url}/v1/interview-invitations",
            json={"templateId": first[1]["templateId"], "candidate": {"email": "c@example.com"}},
            headers=headers,
        )
        await server.complete(invitation[1]["invitationId"])
        url = f"{server.base_url}/v2/outcomes"
        other = {"form": "tpl_other", "templateId": first[1]["templateId"]}
        filtered = await _call(session, "GET", url, params=other, headers=headers)
        unfiltered = await _call(session, "GET", url, params={"templateId": "x"}, headers=headers)
    assert (first[0], second[0]) == (200, 200), "a status the contract does not read is 200"
    assert (first[1]["reused"], second[1]["reused"]) == (False, True)
    assert filtered[1]["items"] == [], "the renamed filter is read"
    assert len(unfiltered[1]["items"]) == 1, "the default name is no longer read"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status_created": 302},
        {"status_reused": True},
        {"invitations_path": "v1/invitations"},
        {"invitations_path": "/v1/{orgId}/invitations"},
        {"page_items_keys": ("",)},
    ],
)
def test_a_wire_the_sdk_could_not_speak_is_refused_by_the_contract(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Contract(**kwargs)


def test_the_sandbox_serves_contracts_only() -> None:
    with pytest.raises(TypeError, match="Contract"):
        SandboxServer(contract={"page_items_keys": ("data",)})  # type: ignore[arg-type]

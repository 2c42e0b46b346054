"""Correcting an assumption by configuration: ``NtrvstaClient(contract=Contract(...))``."""

from __future__ import annotations

import json

import pytest
from aioresponses import aioresponses
from yarl import URL

from ntrvsta_async import ConfigurationError, Contract, NtrvstaClient
from tests.conftest import API_KEY, BASE


async def test_overridden_paths_header_page_keys_and_statuses(mock: aioresponses) -> None:
    contract = Contract(
        templates_path="/v2/templates",
        invitations_path="/v1/templates/{templateId}/invitations",
        results_path="/v1/results",
        api_key_header="X-Api-Key",
        page_items_keys=("rows",),
        page_cursor_keys=("next",),
        param_cursor="page_token",
        param_completed_after="since",
        status_created=200,
        status_reused=208,
    )
    mock.post(f"{BASE}/v2/templates", payload={"templateId": "t/1"}, status=200)
    mock.post(f"{BASE}/v1/templates/t%2F1/invitations", payload={"invitationId": "i"}, status=208)
    mock.get(
        f"{BASE}/v1/results?since=2026-01-01T00:00:00Z",
        payload={"rows": [{"resultId": "a"}], "next": "n2"},
    )
    mock.get(
        f"{BASE}/v1/results?since=2026-01-01T00:00:00Z&page_token=n2",
        payload={"rows": [{"resultId": "b"}]},
    )
    async with NtrvstaClient(api_key=API_KEY, base_url=BASE, contract=contract) as client:
        assert client.contract is contract
        template = await client.templates.create(title="x")
        invitation = await client.invitations.create(
            template_id=template.template_id, candidate={"email": "a@b.c"}
        )
        keys = [r.key async for r in client.results.list(completed_after="2026-01-01T00:00:00Z")]
    assert template.reused is False
    assert invitation.reused is True
    assert keys == ["a", "b"]
    (call,) = mock.requests[("POST", URL(f"{BASE}/v2/templates"))]
    assert call.kwargs["headers"]["X-Api-Key"] == API_KEY
    assert "X-Ntrvsta-Api-Key" not in call.kwargs["headers"]
    (inv_call,) = mock.requests[("POST", URL(f"{BASE}/v1/templates/t%2F1/invitations"))]
    assert json.loads(inv_call.kwargs["data"])["templateId"] == "t/1"


@pytest.mark.parametrize(
    "kwargs",
    [{"results_path": "v1/results"}, {"page_items_keys": ()}, {"page_cursor_keys": ("",)}],
)
def test_invalid_contract_values_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        Contract(**kwargs)  # type: ignore[arg-type]


def test_contract_must_be_a_contract() -> None:
    with pytest.raises(ConfigurationError, match="Contract"):
        NtrvstaClient(api_key=API_KEY, base_url=BASE, contract={"results_path": "/x"})  # type: ignore[arg-type]

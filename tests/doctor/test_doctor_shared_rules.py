"""The doctor reads the wire by the SDK's own rules: the error body, the reused flag, and a
fix rendered from the configuration it suggests."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from ntrvsta_async import APIStatusError, Contract, NtrvstaClient
from ntrvsta_async.doctor import Finding, Status, run_doctor
from ntrvsta_async.doctor.report import configuration_text
from ntrvsta_async.resources import reused_flag
from tests.conftest import serve

KEY = "ntr_live_shared_rules_0123456789"


def differs(**fields: Any) -> Finding:
    """A DIFFERS finding of a made-up check, with ``fields`` (override, advice, ...)."""
    return Finding(
        op="OP-8", check="x", assumption="a", observed="o", status=Status.DIFFERS, **fields
    )


def refusing(body: Any) -> web.Application:
    """An application answering every results GET with 401 and ``body`` as JSON."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=401)

    app = web.Application()
    app.router.add_get("/v1/interview-results", handler)
    return app


@pytest.mark.parametrize(
    ("body", "message", "code", "where"),
    [
        ({"message": 40101, "code": "bad_key"}, "40101", "bad_key", "message at 'message'"),
        ({"error": {"message": "no", "code": 7.5}}, "no", "7.5", "code at 'error.code'"),
        ({"detail": "denied", "errorCode": 12}, "denied", "12", "message at 'detail'"),
    ],
)
async def test_the_doctor_finds_the_message_and_code_the_client_raises(
    body: dict[str, Any], message: str, code: str, where: str
) -> None:
    async with serve(refusing(body)) as url:
        report = await run_doctor(KEY, url)
        async with NtrvstaClient(api_key=KEY, base_url=url, max_retries=0) as client:
            with pytest.raises(APIStatusError) as info:
                await client.results.list_page()
    shape = report.finding("error-shape")
    assert shape.status is Status.OK, shape.observed
    assert where in shape.observed
    assert (info.value.message, info.value.code) == (message, code)


FLAGS = st.none() | st.booleans() | st.integers(0, 1) | st.text(max_size=3)


@given(
    reused=FLAGS,
    created=FLAGS,
    status=st.sampled_from([200, 201, 202]),
    contract=st.sampled_from([Contract(), Contract(status_created=None, status_reused=None)]),
)
def test_a_body_flag_wins_over_the_status(
    reused: Any, created: Any, status: int, contract: Contract
) -> None:
    body = {key: value for key, value in (("reused", reused), ("created", created)) if value != ""}
    from_body = reused_flag(None, body)
    if isinstance(reused, bool):
        assert from_body is reused
    elif isinstance(created, bool):
        assert from_body is (not created)
    else:
        assert from_body is None
    by_status = {contract.status_reused: True, contract.status_created: False}.get(status)
    expected = from_body if from_body is not None else by_status
    assert reused_flag(status, body, contract) is expected


OVERRIDES = st.fixed_dictionaries(
    {},
    optional={
        "invitations_path": st.sampled_from(
            ["/v1/invitations", '/v1/a"quote', "/v1/templates/{templateId}/invitations"]
        ),
        "page_items_keys": st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=3).map(
            tuple
        ),
        "param_limit": st.text(min_size=1, max_size=8).filter(str.strip),
        "status_created": st.none() | st.sampled_from([200, 201, 202]),
    },
)


@given(override=OVERRIDES, timeout=st.none() | st.integers(1, 600))
def test_a_fix_is_the_code_of_its_configuration(
    override: dict[str, Any], timeout: int | None
) -> None:
    options = {} if timeout is None else {"timeout": timeout}
    finding = differs(override=override, client_options=options)
    text = configuration_text(override, options)
    assert finding.fix == text
    if text is None:
        assert override == options == {}
        return
    built: dict[str, Any] = {}

    def client(**kwargs: Any) -> None:
        built.update(kwargs)

    namespace = {"Contract": Contract, "NtrvstaClient": client}
    for call in text.split(" with "):
        value = eval(call, namespace)  # noqa: S307 - the rendered text is Python source
        if isinstance(value, Contract):
            assert value == Contract(**override)
    assert built == options


def test_advice_follows_the_configuration_and_stands_alone_without_one() -> None:
    pinned = differs(advice="pin it", override={"page_items_keys": ("results",)})
    assert pinned.fix == 'Contract(page_items_keys=("results",)); pin it'
    assert pinned.to_dict()["fix"] == pinned.fix
    words = differs(advice="w")
    assert words.fix == "w"

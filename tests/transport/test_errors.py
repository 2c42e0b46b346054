"""Status codes map to exception classes; error bodies are read leniently (OP-10)."""

from __future__ import annotations

from typing import Any

import pytest
from aioresponses import aioresponses

from ntrvsta_async import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    NtrvstaClient,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    UnprocessableEntityError,
)
from tests.conftest import API_KEY, BASE

TEMPLATES = f"{BASE}/v1/templates"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (504, ServerError),
        (418, APIStatusError),
    ],
)
async def test_status_maps_to_class(
    mock: aioresponses, client: NtrvstaClient, status: int, cls: type[APIStatusError]
) -> None:
    mock.post(TEMPLATES, payload={"message": "nope"}, status=status, repeat=True)
    with pytest.raises(cls) as info:
        await client.templates.create(title="x")
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.message == "nope"


def test_unprocessable_is_a_bad_request() -> None:
    assert issubclass(UnprocessableEntityError, BadRequestError)


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"message": "Title required", "code": "missing_title"}, "Title required", "missing_title"),
        ({"error": {"message": "Bad cursor", "code": "cursor"}}, "Bad cursor", "cursor"),
        ({"error": "invalid_request"}, "invalid_request", None),
        ({"detail": "no such template", "errorCode": 12}, "no such template", "12"),
    ],
)
async def test_error_body_shapes(
    mock: aioresponses,
    client: NtrvstaClient,
    body: dict[str, Any],
    message: str,
    code: str | None,
) -> None:
    mock.post(TEMPLATES, payload=body, status=400, headers={"x-amzn-RequestId": "req-42"})
    with pytest.raises(BadRequestError) as info:
        await client.templates.create(title="x")
    err = info.value
    assert (err.message, err.code, err.request_id) == (message, code, "req-42")
    assert err.body == body
    assert err.headers["x-amzn-RequestId"] == "req-42"
    assert "req-42" in str(err)
    assert message in str(err)


async def test_non_json_error_body_keeps_text(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.post(TEMPLATES, body="<html>Bad Gateway</html>", status=400, content_type="text/html")
    with pytest.raises(BadRequestError) as info:
        await client.templates.create(title="x")
    assert info.value.message == "<html>Bad Gateway</html>"


async def test_key_echoed_by_server_is_scrubbed(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.post(TEMPLATES, payload={"message": f"unknown key {API_KEY}"}, status=401)
    with pytest.raises(AuthenticationError) as info:
        await client.templates.create(title="x")
    assert API_KEY not in str(info.value)
    assert API_KEY not in repr(info.value)


async def test_non_json_success_is_a_validation_error(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(TEMPLATES, body="OK", status=201, content_type="text/plain")
    with pytest.raises(ResponseValidationError, match="not JSON"):
        await client.templates.create(title="x")


async def test_success_with_wrong_shape_is_a_validation_error(
    mock: aioresponses, client: NtrvstaClient
) -> None:
    mock.post(TEMPLATES, payload={"title": "x"}, status=201)
    with pytest.raises(ResponseValidationError) as info:
        await client.templates.create(title="x")
    assert info.value.path == "$.templateId"


async def test_redirect_is_not_followed(mock: aioresponses, client: NtrvstaClient) -> None:
    mock.post(TEMPLATES, status=307, headers={"Location": "https://elsewhere.test/v1/templates"})
    with pytest.raises(APIStatusError) as info:
        await client.templates.create(title="x")
    assert info.value.status == 307
    assert "elsewhere.test" in info.value.message
    assert len(mock.requests) == 1

"""Every numeric setting refuses a wrong type or value with the SDK's own error, naming it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ntrvsta_async import ConfigurationError, Contract, InvalidArgumentError, NtrvstaClient
from ntrvsta_async.inbox.redis import RedisInbox
from ntrvsta_async.reconcile import MemoryInbox, ResultPoller
from ntrvsta_async.reconcile.redis_lease import RedisLease
from ntrvsta_async.webhooks import WebhookVerifier, webhook_handler

BASE = "http://127.0.0.1:9"
WRONG = ["5", True, 0, -1, float("nan")]


async def _handler(_: Any) -> None:
    return None


def _client(**options: Any) -> NtrvstaClient:
    return NtrvstaClient(api_key="k", base_url=BASE, **options)


def _poller(**options: Any) -> ResultPoller:
    return ResultPoller(_client(), _handler, inbox=MemoryInbox(), **options)


def _receiver(**options: Any) -> Any:
    return webhook_handler(WebhookVerifier("s"), _handler, **options)


SETTINGS: list[tuple[str, Callable[..., Any], type[Exception]]] = [
    ("timeout", _client, ConfigurationError),
    ("max_retries", _client, ConfigurationError),
    ("max_connections", _client, ConfigurationError),
    ("max_response_size", _client, ConfigurationError),
    ("interval", _poller, ConfigurationError),
    ("claim_ttl", _poller, ConfigurationError),
    ("concurrency", _poller, ConfigurationError),
    ("tolerance", lambda **o: WebhookVerifier("s", **o), ConfigurationError),
    ("max_body_size", lambda **o: WebhookVerifier("s", **o), ConfigurationError),
    ("claim_ttl", _receiver, ConfigurationError),
    ("read_timeout", _receiver, ConfigurationError),
    ("done_ttl", lambda **o: RedisInbox("redis://127.0.0.1:9", **o), ConfigurationError),
    ("socket_timeout", lambda **o: RedisInbox("redis://127.0.0.1:9", **o), ConfigurationError),
    ("ttl", lambda **o: RedisLease("redis://127.0.0.1:9", **o), ConfigurationError),
    ("socket_timeout", lambda **o: RedisLease("redis://127.0.0.1:9", **o), ConfigurationError),
    ("status_created", Contract, ConfigurationError),
    ("status_reused", Contract, ConfigurationError),
]


@pytest.mark.parametrize(("name", "build", "error"), SETTINGS)
@pytest.mark.parametrize("value", WRONG, ids=repr)
async def test_a_wrong_number_is_refused_naming_the_setting(
    name: str, build: Callable[..., Any], error: type[Exception], value: object
) -> None:
    if name == "max_retries" and value == 0:
        value = -1  # zero retries is a valid choice
    with pytest.raises(error, match=name):
        build(**{name: value})


@pytest.mark.parametrize("value", WRONG, ids=repr)
@pytest.mark.parametrize("name", ["concurrency", "rate_limit"])
async def test_create_many_refuses_a_wrong_number_before_sending(name: str, value: object) -> None:
    options: dict[str, Any] = {name: value}
    async with _client() as client:
        with pytest.raises(InvalidArgumentError, match=name):
            client.invitations.create_many([], **options)


async def test_good_values_are_taken() -> None:
    async with _client(timeout=2.5, max_retries=0, max_connections=4, max_response_size=1) as c:
        assert c.retry_policy.max_retries == 0
        _poller(interval=0.5, claim_ttl=1, concurrency=1, jitter=0)
    assert WebhookVerifier("s", tolerance=1, max_body_size=1).tolerance == 1
    _receiver(claim_ttl=0.5, read_timeout=None)
    assert Contract(status_created=None, status_reused=None).status_reused is None
    assert Contract(status_created=202).status_created == 202

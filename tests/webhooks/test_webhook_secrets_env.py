"""One secrets format everywhere: ``WebhookVerifier.from_env`` (commas and/or whitespace)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples import webhook_service
from ntrvsta_async import ConfigurationError, ResultCompletedEvent
from ntrvsta_async.webhooks import WebhookVerifier, sign
from ntrvsta_async.webhooks.signing import parse_secrets


def _result_id(verifier: WebhookVerifier, secret: str) -> str | None:
    event = verifier.verify(BODY, sign(BODY, secret))
    assert isinstance(event, ResultCompletedEvent)
    return event.result_id


BODY = json.dumps({"event": "result.completed", "resultId": "res_env"}).encode()
SECRET = st.text(
    alphabet=st.characters(categories=["L", "N"], include_characters="_-.:/+="),
    min_size=1,
    max_size=20,
)
SEPARATOR = st.sampled_from([",", ", ", " ", "\n", "\t", " ,\n", ",,"])


@given(secrets=st.lists(SECRET, min_size=1, max_size=4), separators=st.lists(SEPARATOR, min_size=4))
def test_any_mix_of_commas_and_whitespace_separates_secrets(
    secrets: list[str], separators: list[str]
) -> None:
    text = " " + "".join(s + sep for s, sep in zip(secrets, separators, strict=False)) + "\n"
    assert parse_secrets(text) == tuple(secrets)


@pytest.mark.parametrize(
    "value", ["whsec_new,whsec_old", "whsec_new whsec_old", " whsec_new,\n\twhsec_old "]
)
def test_from_env_verifies_deliveries_signed_with_any_listed_secret(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("NTRVSTA_WEBHOOK_SECRET", value)
    verifier = WebhookVerifier.from_env(tolerance=60)
    for secret in ("whsec_new", "whsec_old"):
        assert _result_id(verifier, secret) == "res_env"
    assert verifier.tolerance == 60
    assert "whsec" not in repr(verifier)


def test_from_env_reads_the_named_variable_and_refuses_an_empty_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_SECRET", "s1")
    assert _result_id(WebhookVerifier.from_env("MY_SECRET"), "s1") == "res_env"
    monkeypatch.setenv("NTRVSTA_WEBHOOK_SECRET", " , ")
    with pytest.raises(ConfigurationError, match="NTRVSTA_WEBHOOK_SECRET"):
        WebhookVerifier.from_env()
    monkeypatch.delenv("NTRVSTA_WEBHOOK_SECRET")
    with pytest.raises(ConfigurationError, match="NTRVSTA_WEBHOOK_SECRET"):
        WebhookVerifier.from_env()


def test_the_service_example_reads_a_rotation_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NTRVSTA_WEBHOOK_SECRET", "whsec_new, whsec_old")
    config, _, _ = webhook_service.parse_args([])
    assert _result_id(config.verifier, "whsec_old") == "res_env"
    monkeypatch.delenv("NTRVSTA_WEBHOOK_SECRET")
    with pytest.raises(SystemExit):
        webhook_service.parse_args([])

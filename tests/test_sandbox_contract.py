"""The sandbox against the shared OpenAPI document, fuzzed by schemathesis.

Every ``/v1`` operation of ``openapi.yaml`` gets valid (positive) and invalid (negative)
requests; schemathesis checks each response against the document (status codes, content
types, response schemas, no 5xx, invalid input rejected, valid input accepted).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async.sandbox.threaded import ThreadedSandbox

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "openapi.yaml"
OPERATIONS = {
    "POST /v1/templates",
    "POST /v1/interview-invitations",
    "GET /v1/interview-results",
}
EXAMPLES = 60
API_KEY = "sbx_contract_key"


def _spec_or_skip() -> Path:
    if SPEC.is_file():
        return SPEC
    reason = f"the shared OpenAPI document is missing at {SPEC}"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[ThreadedSandbox, dict[str, str]]]:
    """A sandbox with a template, three completed results and a real cursor."""
    with ThreadedSandbox(seed=11, api_keys=API_KEY) as sandbox, requests.Session() as http:
        headers = {"X-Ntrvsta-Api-Key": sandbox.api_key}
        template = http.post(
            f"{sandbox.base_url}/v1/templates",
            json={"title": "Contract", "externalPostingId": "contract-1"},
            headers=headers,
            timeout=10,
        ).json()
        for n in range(3):
            invitation = http.post(
                f"{sandbox.base_url}/v1/interview-invitations",
                json={"templateId": template["templateId"], "candidate": {"email": f"c{n}@x.io"}},
                headers=headers,
                timeout=10,
            ).json()
            sandbox.complete(invitation["invitationId"])
        page = http.get(
            f"{sandbox.base_url}/v1/interview-results",
            params={"limit": 1},
            headers=headers,
            timeout=10,
        ).json()
        known = {"templateId": template["templateId"], "cursor": page["nextCursor"]}
        yield sandbox, known


def _load_schema() -> Any:
    import schemathesis

    schemes = {"ApiKeyHeader": {"api_key": API_KEY}, "BearerApiKey": {"bearer": API_KEY}}
    config = schemathesis.Config.from_dict({"auth": {"openapi": schemes}})
    return schemathesis.openapi.from_path(_spec_or_skip(), config=config)


def test_a_missing_spec_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SPEC", tmp_path / "absent.yaml")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="missing"):
        _spec_or_skip()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="missing"):
        _spec_or_skip()


def test_schema_covers_the_three_v1_operations() -> None:
    schema = _load_schema()
    labels = {result.ok().label for result in schema.get_all_operations()}
    assert labels == OPERATIONS


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_sandbox_conforms_to_openapi(
    seeded: tuple[ThreadedSandbox, dict[str, str]], label: str, mode: str
) -> None:
    import schemathesis

    schema = _load_schema()
    operation = next(
        result.ok() for result in schema.get_all_operations() if result.ok().label == label
    )
    sandbox, known = seeded
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @given(case=strategy, use_known=st.booleans())
    def run(case: Any, use_known: bool) -> None:
        # Opaque ids and cursors are valid only when the server issued them.
        positive = mode == "positive"
        if positive and use_known and isinstance(case.body, dict) and "templateId" in case.body:
            case.body["templateId"] = known["templateId"]
        if positive and isinstance(case.query, dict) and "cursor" in case.query:
            case.query["cursor"] = known["cursor"]
        response = case.call_and_validate(base_url=sandbox.base_url)
        statuses.append(response.status_code)

    statuses: list[int] = []
    run()
    # The run must have reached the handlers, not just the authentication layer.
    if mode == "positive":
        assert any(200 <= status < 300 for status in statuses)
    else:
        assert any(status in (400, 422) for status in statuses)

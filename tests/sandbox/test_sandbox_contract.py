"""The sandbox against the project's OpenAPI document (``spec/openapi.yaml``), fuzzed by
schemathesis.

Every ``/v1`` operation of the document gets valid (positive) and invalid (negative)
requests; schemathesis checks each response against the document (status codes, content
types, response schemas, no 5xx, invalid input rejected, valid input accepted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async.sandbox.threaded import ThreadedSandbox
from tests.support.contract_document import SPEC, load_document

OPERATIONS = {
    "POST /v1/templates",
    "POST /v1/interview-invitations",
    "GET /v1/interview-results",
}
EXAMPLES = 60
API_KEY = "sbx_contract_key"


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
    return schemathesis.openapi.from_path(SPEC, config=config)


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


@pytest.mark.parametrize(
    ("schema", "part"),
    [("ResultCompletedEvent", "payload"), ("InterviewResultSummary", "summary_json")],
)
def test_a_completion_conforms_to_the_document(
    seeded: tuple[ThreadedSandbox, dict[str, str]], schema: str, part: str
) -> None:
    """The webhook body and the polled summary of one completion, against their schemas;
    without its ids either is refused (a summary needs ``resultId`` or ``resultUrl``)."""
    from openapi_schema_validator import OAS31Validator, oas31_format_checker

    sandbox, known = seeded
    with requests.Session() as http:
        invitation = http.post(
            f"{sandbox.base_url}/v1/interview-invitations",
            json={"templateId": known["templateId"], "candidate": {"email": f"{part}@x.io"}},
            headers={"X-Ntrvsta-Api-Key": sandbox.api_key},
            timeout=10,
        ).json()
    wire = dict(getattr(sandbox.complete(invitation["invitationId"]), part))
    against = {
        "$ref": f"#/components/schemas/{schema}",
        "components": load_document()["components"],
    }

    validator = OAS31Validator(against, format_checker=oas31_format_checker)
    assert [error.message for error in validator.iter_errors(wire)] == []
    without_ids = {k: v for k, v in wire.items() if k not in ("resultId", "resultUrl")}
    assert not validator.is_valid(without_ids)

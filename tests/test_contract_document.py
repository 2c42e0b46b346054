"""The project's own statement of the wire contract: ``spec/openapi.yaml`` is valid OpenAPI
and agrees with ``ntrvsta_async.assumptions``; ``docs/contract.md`` states every open point
and names every assumed value; nothing points at a contract document outside the repository.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from ntrvsta_async import assumptions
from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from tests.support.contract_document import CONTRACT_MD, ROOT, SPEC, disagreements, load_document

OPEN_POINTS = range(1, 19)
_ANCHOR = re.compile(r'<a id="op-(\d+)"></a>\n## OP-(\d+): ')
_CITED = re.compile(r"\bOP-(\d+)\b")
_LINK = re.compile(r"docs/contract\.md#([\w-]+)")
# A contract document that lives beside the repository, not in it.
_OUTSIDE = re.compile(r"\b(?:API|SDK)\.md\b|(?<!spec/)\bopenapi\.yaml\b|shared/spec")


def _sources() -> list[Path]:
    """The files a reader of the project follows references in."""
    files = [ROOT / "README.md"]
    for folder in ("ntrvsta_async", "examples", "benchmarks"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def test_the_document_is_valid_openapi_3_1() -> None:
    document = load_document()
    assert document["openapi"].startswith("3.1.")
    validate(document, base_uri=SPEC.as_uri())


def test_the_validator_refuses_a_broken_document() -> None:
    broken = load_document()
    del broken["components"]["parameters"]["Limit"]["in"]
    with pytest.raises(OpenAPIValidationError, match='"in" is a required property'):
        validate(broken, base_uri=SPEC.as_uri())


def test_the_document_agrees_with_the_assumptions() -> None:
    assert disagreements(load_document()) == []


def _changed(value: Any) -> Any:
    """Another valid value of the same kind, for any Contract field."""
    if isinstance(value, tuple):
        return ("somethingElse",)
    if isinstance(value, int):
        return 202
    return f"{value}-other"


@pytest.mark.parametrize("field", [field.name for field in attrs.fields(Contract)])
def test_a_contract_field_the_document_does_not_state_is_a_disagreement(field: str) -> None:
    contract = attrs.evolve(DEFAULT_CONTRACT, **{field: _changed(getattr(DEFAULT_CONTRACT, field))})
    found = disagreements(load_document(), contract)
    assert found, field
    assert any(f"Contract.{field}:" in line for line in found), found


def _set(*keys: str | int, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change that sets the value at ``keys`` (object keys and list indexes) to ``value``."""

    def change(document: dict[str, Any]) -> None:
        node: Any = document
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


def _rename_webhook_header(document: dict[str, Any]) -> None:
    document["webhooks"]["result.completed"]["post"]["parameters"][0]["name"] = "X-Other"


def _add_query_parameter(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/interview-results"]["get"]
    operation["parameters"].append({"name": "since", "in": "query", "schema": {"type": "string"}})


def _both_statuses_created(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    responses["InvitationReused"]["x-ntrvsta-outcome"] = "created"


DOCTORED = {
    "a renamed results path": lambda d: d["paths"].__setitem__(
        "/v1/results", d["paths"].pop("/v1/interview-results")
    ),
    "a renamed query parameter": _set("components", "parameters", "Cursor", "name", value="page"),
    "another page array key": _set(
        "components", "schemas", "InterviewResultList", "x-ntrvsta-items-keys", value=["data"]
    ),
    "a page schema without its array": _set(
        "components", "schemas", "InterviewResultList", "required", value=[]
    ),
    "another API key header": _set(
        "components", "securitySchemes", "ApiKeyHeader", "name", value="X-Api-Key"
    ),
    "a renamed webhook header": _rename_webhook_header,
    "an extra query parameter": _add_query_parameter,
    "a reuse answered with the created status": _both_statuses_created,
    "a retried status not flagged": _set(
        "components", "responses", "RequestTimeout", "x-ntrvsta-retried", value=False
    ),
    "a stale-cursor status not flagged": _set(
        "components", "responses", "StaleCursor", "x-ntrvsta-stale-cursor", value=False
    ),
    "another request-id header": _set(
        "components", "headers", "RequestId", "x-ntrvsta-header-names", value=["x-trace-id"]
    ),
    "another tolerance": _set(
        "webhooks", "result.completed", "post", "x-signature", "timestampToleranceSeconds", value=5
    ),
    "another production URL": _set("servers", 0, "url", value="https://api.example.com"),
}


@pytest.mark.parametrize("change", sorted(DOCTORED))
def test_a_document_that_departs_from_the_assumptions_is_a_disagreement(change: str) -> None:
    document = copy.deepcopy(load_document())
    DOCTORED[change](document)
    assert disagreements(document), change


def _contract_md() -> str:
    return CONTRACT_MD.read_text(encoding="utf-8")


def test_docs_contract_md_has_one_section_per_open_point_in_order() -> None:
    sections = [(int(a), int(b)) for a, b in _ANCHOR.findall(_contract_md())]
    assert sections == [(n, n) for n in OPEN_POINTS]


def test_docs_contract_md_names_every_assumed_value() -> None:
    text = _contract_md()
    constants = [name for name in vars(assumptions) if name.isupper()]
    fields = [f"Contract.{field.name}" for field in attrs.fields(Contract)]
    assert [name for name in constants + fields if name not in text] == []
    values = [getattr(assumptions, name) for name in constants]
    assert [value for value in values if isinstance(value, str) and value not in text] == []


def test_every_open_point_the_project_cites_has_a_section() -> None:
    anchors = {f"op-{n}" for n in OPEN_POINTS}
    cited: set[str] = set()
    links: set[str] = set()
    for path in [*_sources(), SPEC, CONTRACT_MD]:
        text = path.read_text(encoding="utf-8")
        cited |= {f"op-{n}" for n in _CITED.findall(text)}
        links |= set(_LINK.findall(text))
        links |= {f"op-{n}" for n in re.findall(r"\]\(#op-(\d+)\)", text)}
    assert cited <= anchors
    assert links <= anchors


def test_the_project_cites_no_contract_document_outside_itself() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    assert found == []

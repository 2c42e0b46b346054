"""The project's statement of the wire contract (``spec/openapi.yaml``, ``docs/contract.md``),
and what it says about each value of ``ntrvsta_async.assumptions``.

``disagreements`` is the one comparison: the tests hold the document to the assumptions
with it, and show with doctored inputs that it notices each kind of difference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
from openapi_spec_validator.readers import read_from_filename

from ntrvsta_async import assumptions
from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from ntrvsta_async.reconcile.poller import STALE_CURSOR_STATUSES

ROOT: Final = next(
    parent for parent in Path(__file__).resolve().parents if (parent / "pyproject.toml").is_file()
)
SPEC: Final = ROOT / "spec" / "openapi.yaml"
CONTRACT_MD: Final = ROOT / "docs" / "contract.md"

Document = Mapping[str, Any]


def load_document() -> dict[str, Any]:
    """``spec/openapi.yaml`` as plain data."""
    document, _ = read_from_filename(str(SPEC))
    return {str(key): value for key, value in document.items()}


def resolve(document: Document, node: Any) -> Any:
    """``node`` with a local ``$ref`` followed (repeatedly); anything else as it is."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = document
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _operation(document: Document, operation_id: str) -> tuple[str, Mapping[str, Any]]:
    for path, item in document["paths"].items():
        for operation in item.values():
            if isinstance(operation, Mapping) and operation.get("operationId") == operation_id:
                return path, operation
    raise LookupError(f"no operation {operation_id!r}")


def _path_of(operation_id: str) -> Callable[[Document], Any]:
    return lambda document: _operation(document, operation_id)[0]


def _parameter(component: str) -> Callable[[Document], Any]:
    return lambda document: document["components"]["parameters"][component]["name"]


def _page(document: Document) -> Mapping[str, Any]:
    schema: Mapping[str, Any] = document["components"]["schemas"]["InterviewResultList"]
    return schema


def _flagged(
    document: Document, operation: Mapping[str, Any], flag: str, value: object = True
) -> set[int]:
    """The statuses of ``operation`` whose response has ``flag`` set to ``value``."""
    return {
        int(status)
        for status, response in operation["responses"].items()
        if status.isdigit() and resolve(document, response).get(flag) == value
    }


def _outcome_status(outcome: str) -> Callable[[Document], Any]:
    """The one status both create operations give ``outcome``; the statuses if they differ."""

    def read(document: Document) -> Any:
        statuses = {
            status
            for operation_id in ("createTemplate", "createInterviewInvitation")
            for status in _flagged(
                document, _operation(document, operation_id)[1], "x-ntrvsta-outcome", outcome
            )
        }
        return statuses.pop() if len(statuses) == 1 else statuses

    return read


#: Where the document states each ``Contract`` field.
CONTRACT_READERS: Final[dict[str, Callable[[Document], Any]]] = {
    "templates_path": _path_of("createTemplate"),
    "invitations_path": _path_of("createInterviewInvitation"),
    "results_path": _path_of("listInterviewResults"),
    "api_key_header": lambda d: d["components"]["securitySchemes"]["ApiKeyHeader"]["name"],
    "page_items_keys": lambda d: tuple(_page(d)["x-ntrvsta-items-keys"]),
    "page_cursor_keys": lambda d: tuple(_page(d)["x-ntrvsta-cursor-keys"]),
    "param_limit": _parameter("Limit"),
    "param_cursor": _parameter("Cursor"),
    "param_template_id": _parameter("TemplateIdFilter"),
    "param_external_posting_id": _parameter("ExternalPostingIdFilter"),
    "param_completed_after": _parameter("CompletedAfter"),
    "status_created": _outcome_status("created"),
    "status_reused": _outcome_status("reused"),
}


def _webhook(document: Document) -> Mapping[str, Any]:
    operation: Mapping[str, Any] = document["webhooks"][assumptions.RESULT_COMPLETED_EVENT]["post"]
    return operation


def _webhook_headers(document: Document) -> dict[str, bool]:
    """The webhook's header names, each with whether it is required."""
    return {
        parameter["name"]: bool(parameter.get("required"))
        for parameter in (resolve(document, p) for p in _webhook(document)["parameters"])
        if parameter["in"] == "header"
    }


def _v1_operations(document: Document) -> list[tuple[str, Mapping[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, Mapping) and "responses" in operation
    ]


def _constant_disagreements(document: Document) -> list[str]:
    """The constants of ``assumptions`` that are no ``Contract`` field, against the document."""
    found: list[tuple[str, Any, Any]] = [
        ("DEFAULT_BASE_URL", assumptions.DEFAULT_BASE_URL, document["servers"][0]["url"]),
        (
            "REQUEST_ID_HEADERS",
            assumptions.REQUEST_ID_HEADERS,
            tuple(document["components"]["headers"]["RequestId"]["x-ntrvsta-header-names"]),
        ),
        (
            "WEBHOOK_TOLERANCE",
            assumptions.WEBHOOK_TOLERANCE,
            _webhook(document)["x-signature"]["timestampToleranceSeconds"],
        ),
        (
            "WEBHOOK_*_HEADER",
            {
                assumptions.WEBHOOK_SIGNATURE_HEADER: True,
                assumptions.WEBHOOK_IDEMPOTENCY_HEADER: False,
                assumptions.WEBHOOK_EVENT_HEADER: False,
                assumptions.WEBHOOK_TIMESTAMP_HEADER: False,
            },
            _webhook_headers(document),
        ),
    ]
    for label, operation in _v1_operations(document):
        retried = _flagged(document, operation, "x-ntrvsta-retried")
        found.append((f"RETRYABLE_STATUSES ({label})", assumptions.RETRYABLE_STATUSES, retried))
    _, results = _operation(document, "listInterviewResults")
    stale = _flagged(document, results, "x-ntrvsta-stale-cursor")
    found.append(("STALE_CURSOR_STATUSES", STALE_CURSOR_STATUSES, stale))
    return [
        f"{name}: assumptions say {want!r}, spec/openapi.yaml says {got!r}"
        for name, want, got in found
        if want != got
    ]


def _wire_disagreements(document: Document, contract: Contract) -> list[str]:
    """Names the document uses on the wire beside the ones the readers point at."""
    out: list[str] = []
    _, results = _operation(document, "listInterviewResults")
    sent = {resolve(document, p)["name"] for p in results["parameters"]}
    named = {
        getattr(contract, f.name) for f in attrs.fields(Contract) if f.name.startswith("param_")
    }
    if sent != named:
        out.append(f"results query parameters: Contract names {named}, document sends {sent}")
    page = _page(document)
    items, cursor = contract.page_items_keys[0], contract.page_cursor_keys[0]
    if items not in page.get("required", ()) or items not in page["properties"]:
        out.append(f"page_items_keys: the page schema does not require the array {items!r}")
    if cursor not in page["properties"]:
        out.append(f"page_cursor_keys: the page schema has no property {cursor!r}")
    return out


def disagreements(document: Document, contract: Contract = DEFAULT_CONTRACT) -> list[str]:
    """Every value on which ``contract`` (and the other assumptions) and ``document`` differ."""
    out: list[str] = []
    for field in attrs.fields(Contract):
        reader = CONTRACT_READERS.get(field.name)
        if reader is None:
            out.append(f"Contract.{field.name}: spec/openapi.yaml has no place for it")
            continue
        want, got = getattr(contract, field.name), reader(document)
        if want != got:
            out.append(
                f"Contract.{field.name}: assumptions say {want!r}, spec/openapi.yaml says {got!r}"
            )
    return out + _wire_disagreements(document, contract) + _constant_disagreements(document)

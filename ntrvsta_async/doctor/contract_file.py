"""A ``Contract`` as plain data: what a JSON file holds, and what a Python snippet shows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, get_args

import attrs

from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.transport.auth import AuthScheme

__all__ = [
    "AUTH_SCHEME_FIELD",
    "SavedContract",
    "contract_file_data",
    "contract_from_mapping",
    "contract_overrides",
    "load_contract",
    "python_literal",
    "read_contract_file",
]

#: The key of a contract file that names how the key travels (beside the Contract fields).
AUTH_SCHEME_FIELD: Final = "auth_scheme"

_FIELDS = {field.name: field for field in attrs.fields(Contract)}


def contract_overrides(contract: Contract) -> dict[str, Any]:
    """The fields of ``contract`` that differ from the SDK's assumptions, by field name."""
    return {
        name: getattr(contract, name)
        for name in _FIELDS
        if getattr(contract, name) != getattr(DEFAULT_CONTRACT, name)
    }


def contract_from_mapping(data: Mapping[str, Any]) -> Contract:
    """A ``Contract`` from field names and JSON values (lists for the key tuples).

    Unknown names and wrongly typed values raise ``ConfigurationError`` naming the field.
    """
    if not isinstance(data, Mapping):
        raise ConfigurationError("a contract must be a JSON object of Contract field names")
    unknown = sorted(str(key) for key in data if key not in _FIELDS)
    if unknown:
        raise ConfigurationError(
            f"unknown contract field(s) {unknown}; known fields: {sorted(_FIELDS)}"
        )
    values: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(DEFAULT_CONTRACT, name)
        if isinstance(default, tuple):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigurationError(f"contract field {name} must be a list of strings")
            value = tuple(value)
        elif isinstance(default, int):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigurationError(f"contract field {name} must be an integer or null")
        elif not isinstance(value, str):
            raise ConfigurationError(f"contract field {name} must be a string")
        values[name] = value
    try:
        return Contract(**values)
    except ConfigurationError as exc:
        raise ConfigurationError(f"invalid contract: {exc}") from None


@attrs.frozen
class SavedContract:
    """What a contract file holds: ``Contract`` overrides, and the auth scheme the key
    needs when it is not the default (None)."""

    contract: Contract
    auth_scheme: AuthScheme | None = None


def contract_file_data(contract: Contract, auth_scheme: str | None = None) -> dict[str, Any]:
    """The JSON a contract file holds: the overrides of ``contract`` (tuples as lists) and
    ``auth_scheme`` unless it is the default."""
    data: dict[str, Any] = {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in contract_overrides(contract).items()
    }
    if auth_scheme not in (None, "api-key"):
        data[AUTH_SCHEME_FIELD] = auth_scheme
    return data


def read_contract_file(path: str | Path) -> SavedContract:
    """Read a contract file (as ``ntrvsta doctor --save-contract`` writes it)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read contract file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"contract file {path} is not JSON: {exc}") from None
    scheme = None
    if isinstance(data, dict) and AUTH_SCHEME_FIELD in data:
        data = dict(data)
        scheme = data.pop(AUTH_SCHEME_FIELD)
        if scheme not in get_args(AuthScheme):
            raise ConfigurationError(
                f"contract file {path}: {AUTH_SCHEME_FIELD} must be one of"
                f" {list(get_args(AuthScheme))}, not {scheme!r}"
            )
    return SavedContract(contract=contract_from_mapping(data), auth_scheme=scheme)


def load_contract(path: str | Path) -> Contract:
    """The ``Contract`` of a contract file (its auth scheme left aside)."""
    return read_contract_file(path).contract


def python_literal(value: Any) -> str:
    """Python source for a string, number, boolean, None or tuple of strings, double-quoted."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        inner = ", ".join(python_literal(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)

"""A ``Contract`` as plain data: what a JSON file holds, and what a Python snippet shows."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from ntrvsta_async.errors import ConfigurationError

__all__ = ["contract_from_mapping", "contract_overrides", "load_contract", "python_literal"]

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


def load_contract(path: str | Path) -> Contract:
    """Read a JSON file of contract overrides (as ``ntrvsta doctor --json`` suggests them)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read contract file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"contract file {path} is not JSON: {exc}") from None
    return contract_from_mapping(data)


def python_literal(value: Any) -> str:
    """Python source for a string, number, boolean, None or tuple of strings, double-quoted."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        inner = ", ".join(python_literal(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    return repr(value)

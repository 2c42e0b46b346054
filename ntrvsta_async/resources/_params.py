"""Checking call arguments and building wire bodies: types only, unset values left out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ntrvsta_async.errors import InvalidArgumentError

__all__ = ["check", "compact", "format_time", "merge_extra", "query_params"]


def check(name: str, value: Any, *types: type, optional: bool = True) -> Any:
    """Raise ``InvalidArgumentError`` unless ``value`` is one of ``types`` (bools are not ints)."""
    if value is None and optional:
        return value
    ok = isinstance(value, types) and not (
        isinstance(value, bool) and bool not in types and int in types
    )
    if not ok:
        wanted = " or ".join(t.__name__ for t in types)
        raise InvalidArgumentError(f"{name} must be {wanted}, not {type(value).__name__}")
    return value


def compact(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop unset (None) values: the API never receives ``null`` for an omitted option."""
    return {key: value for key, value in fields.items() if value is not None}


def merge_extra(body: dict[str, Any], extra_body: Mapping[str, Any] | None) -> dict[str, Any]:
    """Add caller-supplied wire fields; the typed arguments win on a clash."""
    if extra_body is None:
        return body
    check("extra_body", extra_body, Mapping)
    for key in extra_body:
        if not isinstance(key, str):
            raise InvalidArgumentError("extra_body keys must be strings")
    return {**extra_body, **body}


def query_params(params: Mapping[Any, Any]) -> dict[str, str]:
    """Query parameters as text: None left out, booleans as ``true``/``false``, numbers as
    written; any other key or value is an ``InvalidArgumentError``."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(
                f"query parameter names must be strings, not {type(key).__name__}"
            )
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            out[key] = str(value)
        else:
            raise InvalidArgumentError(
                f"query parameter {key} must be a string or number, not {type(value).__name__}"
            )
    return out


def format_time(name: str, value: datetime | str) -> str:
    """An aware datetime (or a caller's ISO-8601 string) as the API's UTC timestamp."""
    if isinstance(value, str):
        return value
    check(name, value, datetime, optional=False)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgumentError(f"{name} must be timezone-aware (for example tzinfo=UTC)")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

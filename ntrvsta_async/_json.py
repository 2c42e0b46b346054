"""JSON bytes in and out: orjson when the ``speed`` extra is installed, else the standard library.

Both paths accept and write the same things: JSON types (tuples as arrays), plus UUIDs as
strings and enums as their values. NaN and Infinity are refused with a ``ValueError`` (JSON
has no such numbers, and sending ``null`` instead would change the data); anything else
JSON cannot carry is a ``TypeError``.
"""

from __future__ import annotations

import enum
import json
import math
import uuid
from collections.abc import Callable
from typing import Any, Final

__all__ = ["dumps", "loads", "orjson_loads"]

_UNRESOLVED: Final = object()
_orjson: Any = _UNRESOLVED
_orjson_options = 0


def _orjson_module() -> Any:
    """The ``orjson`` module (imported on first use), or None when it is not installed."""
    global _orjson, _orjson_options
    if _orjson is _UNRESOLVED:
        try:
            import orjson  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            _orjson = None
        else:
            _orjson_options = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
            _orjson = orjson
    return _orjson


def orjson_loads() -> Callable[[bytes], Any] | None:
    """``orjson.loads`` when the ``speed`` extra is installed, else None."""
    module = _orjson if _orjson is not _UNRESOLVED else _orjson_module()
    loads: Callable[[bytes], Any] | None = None if module is None else module.loads
    return loads


def loads(raw: bytes) -> Any:
    """Decode JSON; what orjson refuses (a BOM, NaN, lone surrogates) gets a second chance
    with ``json``, which has the last word (``ValueError`` or ``RecursionError``)."""
    module = _orjson if _orjson is not _UNRESOLVED else _orjson_module()
    if module is not None:
        try:
            return module.loads(raw)
        except (ValueError, RecursionError):
            pass
    return json.loads(raw)


def _refuse(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    return _refuse(value)


def _refuse_non_finite(value: Any) -> None:
    """``ValueError`` when ``value`` holds a NaN or infinite float anywhere."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a JSON number (JSON has no NaN or Infinity)")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_non_finite(key)
            _refuse_non_finite(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_non_finite(item)


_ENCODE: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
).encode


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for a request body; ``ValueError`` for NaN or Infinity,
    ``TypeError`` for anything else JSON cannot carry."""
    module = _orjson if _orjson is not _UNRESOLVED else _orjson_module()
    if module is not None:
        try:
            encoded: bytes = module.dumps(value, default=_default, option=_orjson_options)
        except TypeError:
            pass  # non-string keys, integers past 64 bits, deep nesting: the standard library
        else:
            if b"null" in encoded:  # orjson writes NaN and Infinity as null
                _refuse_non_finite(value)
            return encoded
    try:
        return _ENCODE(value).encode()
    except ValueError as exc:
        if "Out of range float" in str(exc):
            _refuse_non_finite(value)
        raise TypeError(str(exc)) from None

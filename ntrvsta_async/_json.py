"""JSON bytes in and out: orjson when the ``speed`` extra is installed, else the standard library.

Both paths accept and write the same things: JSON types (tuples as arrays), plus UUIDs as
strings and enums as their values; non-finite floats are written as ``null``, since JSON
has no NaN or Infinity. Anything else is a ``TypeError``.
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
        return _finite(value.value)
    return _refuse(value)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


_ENCODE: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
).encode


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON for a request body; ``TypeError`` for what JSON cannot carry."""
    module = _orjson if _orjson is not _UNRESOLVED else _orjson_module()
    if module is not None:
        try:
            encoded: bytes = module.dumps(value, default=_default, option=_orjson_options)
        except TypeError:
            pass  # non-string keys, integers past 64 bits, deep nesting: the standard library
        else:
            return encoded
    try:
        return _ENCODE(value).encode()
    except ValueError as exc:
        if "Out of range float" not in str(exc):
            raise TypeError(str(exc)) from None
    try:
        return _ENCODE(_finite(value)).encode()
    except ValueError as exc:  # a NaN or infinite dict key: JSON has no name for it
        raise TypeError(str(exc)) from None

"""The package's one cattrs converter: camelCase JSON on the wire, snake_case attrs in Python.

Models are frozen attrs classes with an ``extra`` field. Known wire keys (the camelCase
form of each attribute name, plus any ``aliases`` in the field's metadata) are structured
strictly by cattrs' own generated hooks, with detailed validation so an error names its
JSON path; every other key is kept in ``extra`` so nothing the server sends is lost.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import IterableValidationNote
from cattrs.gen import make_dict_structure_fn, override
from cattrs.v import format_exception, transform_error

from ntrvsta_async import _json
from ntrvsta_async.errors import ResponseValidationError

__all__ = ["converter", "parse_datetime", "structure", "to_camel", "to_wire"]

T = TypeVar("T")

EXTRA: Final = "extra"
_CAMEL_RE: Final = re.compile(r"_([a-z0-9])")

converter: Final = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
"""Builds models with detailed validation: errors name every bad field's path."""


def to_camel(name: str) -> str:
    """``overall_score`` -> ``overallScore``."""
    return _CAMEL_RE.sub(lambda m: m.group(1).upper(), name)


def _is_model(cls: Any) -> bool:
    return attrs.has(cls) and any(f.name == EXTRA for f in attrs.fields(cls))


# Strict primitives: JSON has distinct types, so "false" is never a bool and True never an int.
# A null reads as an absent key: where the field's type admits None, each hook returns None.
def _structure_str(value: Any, type_: Any) -> str | None:
    if isinstance(value, str):
        return value
    _refuse_unless_null(value, type_, "a string")
    return None


def _structure_bool(value: Any, type_: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    _refuse_unless_null(value, type_, "a boolean")
    return None


def _structure_int(value: Any, type_: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    _refuse_unless_null(value, type_, "an integer")
    return None


def _structure_float(value: Any, type_: Any) -> float | None:
    if isinstance(value, float):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    _refuse_unless_null(value, type_, "a number")
    return None


def _admits_none(type_: Any) -> bool:
    """Whether ``type_`` is ``X | None``."""
    return get_origin(type_) in (Union, types.UnionType) and type(None) in get_args(type_)


def _refuse_unless_null(value: Any, type_: Any, expected: str) -> None:
    """Return for a null where ``type_`` admits one (the hook then returns None); otherwise
    raise the error that ``value`` is not ``expected``."""
    if value is None and _admits_none(type_):
        return
    raise TypeError(f"expected {expected}, got {_json_type(value)}")


_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 (or ISO-8601) timestamp into an aware datetime; naive ones are UTC.

    Every RFC 3339 form is taken, including a lowercase ``t``/``z`` and a leap second:
    ``23:59:60`` is clamped to ``23:59:59`` (same fraction), as ``datetime`` has no 60th
    second and the clamp keeps the instant on its day and in order.
    """
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        match = _RFC3339.fullmatch(value)
        if match is None:
            raise
        day, minutes, seconds, fraction, offset = match.groups()
        if seconds == "60":
            seconds = "59"
        offset = "+00:00" if offset in ("Z", "z") else offset
        parsed = datetime.fromisoformat(f"{day}T{minutes}:{seconds}{fraction or ''}{offset}")
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _structure_datetime(value: Any, type_: Any) -> datetime | None:
    if not isinstance(value, str):
        _refuse_unless_null(value, type_, "an ISO-8601 timestamp string")
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        raise ValueError("expected an RFC 3339 timestamp, got a string that is not one") from None


def _is_timestamp_or_text(type_: Any) -> bool:
    """``datetime | str`` (or ``datetime | str | None``): a timestamp kept even when unreadable."""
    return get_origin(type_) in (Union, types.UnionType) and set(get_args(type_)) - {
        type(None)
    } == {datetime, str}


def _structure_timestamp_or_text(value: Any, type_: Any) -> datetime | str | None:
    """OP-18: an aware datetime when the value reads as one; otherwise the value as text
    (a string as sent, any other JSON value as its JSON text), never an error."""
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return value
    if value is None and _admits_none(type_):
        return None
    return _json.dumps(value).decode()


def _structure_any(value: Any, _: type) -> Any:
    return value


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _is_homogeneous_tuple(cls: Any) -> bool:
    args = get_args(cls)
    return get_origin(cls) is tuple and len(args) == 2 and args[1] is Ellipsis


def _make_tuple_hook(cls: Any) -> Callable[[Any, type], tuple[Any, ...]]:
    """A JSON array (never a string or an object, which cattrs would iterate) as a tuple."""
    item_type = get_args(cls)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure_tuple(value: Any, _: type) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            if value is None:  # every array field defaults to empty (see _make_model_hook)
                return ()
            raise TypeError(f"expected an array, got {_json_type(value)}")
        out: list[Any] = []
        errors: list[Exception] = []
        for index, item in enumerate(value):
            try:
                out.append(item_hook(item, item_type))
            except Exception as exc:
                note = IterableValidationNote(f"Structuring index {index}", index, item_type)
                exc.__notes__ = [*getattr(exc, "__notes__", []), note]
                errors.append(exc)
        if errors:
            raise cattrs.IterableValidationError(f"While structuring {cls!r}", errors, cls)
        return tuple(out)

    return structure_tuple


def _not_none(type_: Any) -> Any:
    """``X`` for ``X | None``: the hook of ``X`` reads a null itself (``_refuse_unless_null``)."""
    if not _admits_none(type_):
        return type_
    rest = tuple(arg for arg in get_args(type_) if arg is not type(None))
    return rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007 - built from a tuple


_READS_NULL: Final = (str, bool, int, float, datetime, Any)
"""The types whose hooks here read a null as None (so do models and ``datetime | str``)."""


def _null_reads_as_default(cls: type, field: attrs.Attribute[Any]) -> None:
    """Refuse a field where a null would not read as an absent key: a required field can be
    neither ``X | None`` nor an array; an optional one is an array defaulting to ``()``, or
    ``X | None = None`` where the hook of ``X`` reads a null (see ``_READS_NULL``)."""
    optional = _admits_none(field.type)
    inner = _not_none(field.type)
    array = _is_homogeneous_tuple(inner)
    if field.default is attrs.NOTHING:
        reads_as_absent = not optional and not array
    elif array:
        reads_as_absent = not optional and field.default == ()
    else:
        reads_as_absent = (
            optional
            and field.default is None
            and (inner in _READS_NULL or _is_model(inner) or _is_timestamp_or_text(inner))
        )
    if not reads_as_absent:
        raise TypeError(
            f"{cls.__name__}.{field.name}: a null must read as an absent key, so a required"
            " field is neither `X | None` nor an array, and an optional one is"
            " `X | None = None` or an array defaulting to ()"
        )


def _make_model_hook(cls: type) -> Callable[[Any, type], Any]:
    """cattrs' generated hook for ``cls``, reading camelCase keys, behind one normalising step.

    A value of null is the same as an absent key (each field's hook reads it as the field's
    default); an alias is read as its field's camelCase key; any other key goes to
    ``extra``. An object with none of those keys (the usual answer) goes to the generated
    hook as it is.
    """
    fields = [field for field in attrs.fields(attrs.resolve_types(cls)) if field.name != EXTRA]
    for field in fields:
        _null_reads_as_default(cls, field)
    wire_keys = {to_camel(field.name): to_camel(field.name) for field in fields}
    primary = frozenset(wire_keys)
    for field in fields:
        for alias in field.metadata.get("aliases", ()):
            wire_keys.setdefault(alias, to_camel(field.name))
    overrides: dict[str, Any] = {
        field.name: override(
            rename=to_camel(field.name),
            struct_hook=converter.get_structure_hook(_not_none(field.type)),
        )
        for field in fields
    }
    overrides[EXTRA] = override(struct_hook=_structure_any)
    generated: Callable[[dict[str, Any], Any], Any] = make_dict_structure_fn(
        cls, converter, **overrides
    )

    def structure_model(value: Any, type_: Any) -> Any:
        if not isinstance(value, dict):  # what a JSON object decodes to
            _refuse_unless_null(value, type_, "an object")
            return None
        if primary.issuperset(value):
            return generated(value, cls)
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, item in value.items():
            name = wire_keys.get(key)
            if name is None:
                extra[key] = item
            elif known.get(name) is None:  # a null is no value: a later key may set one
                known[name] = item
            elif item is not None:
                extra[key] = item  # a second value for a field already set
        known[EXTRA] = extra
        return generated(known, cls)

    return structure_model


converter.register_structure_hook(str, _structure_str)
converter.register_structure_hook(bool, _structure_bool)
converter.register_structure_hook(int, _structure_int)
converter.register_structure_hook(float, _structure_float)
converter.register_structure_hook(datetime, _structure_datetime)
converter.register_structure_hook(Any, _structure_any)
converter.register_structure_hook_func(_is_timestamp_or_text, _structure_timestamp_or_text)
converter.register_structure_hook_factory(_is_homogeneous_tuple, _make_tuple_hook)
converter.register_structure_hook_factory(_is_model, _make_model_hook)
converter.register_unstructure_hook(datetime, lambda value: value.isoformat())


def _camel_path(path: str) -> str:
    return re.sub(r"(?<=\.)[a-z0-9_]+", lambda m: to_camel(m.group(0)), path)


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, TypeError | ValueError) and str(exc):
        return str(exc)
    return format_exception(exc, type_)


def structure(data: Any, cls: type[T], *, path: str = "$") -> T:
    """Build ``cls`` from decoded JSON, raising only ``ResponseValidationError``.

    A model class that breaks a rule of this module raises ``TypeError`` instead: the fault
    is in the model, not in the response."""
    hook = converter.get_structure_hook(cls)
    try:
        return hook(data, cls)  # type: ignore[no-any-return]
    except Exception as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            messages = [
                _camel_path(m) for m in transform_error(exc, path=path, format_exception=_describe)
            ]
        else:
            messages = [f"{_describe(exc, cls)} @ {path}"]
        where = messages[0].rsplit(" @ ", 1)[-1] if messages else path
        detail = "; ".join(messages[:5]) or f"invalid value @ {path}"
        raise ResponseValidationError(
            f"unexpected {cls.__name__} shape: {detail}", path=where, body=data
        ) from None


@cache
def _wire_plan(cls: type) -> tuple[tuple[str, str], ...]:
    """(attribute, wire key) of each field ``to_wire`` writes, in field order."""
    return tuple(
        (field.name, to_camel(field.name))
        for field in attrs.fields(cls)
        if field.name != EXTRA and not field.metadata.get("local")
    )


def to_wire(obj: Any) -> dict[str, Any]:
    """A model as camelCase JSON: unset (None) fields left out, ``extra`` merged back in."""
    out: dict[str, Any] = {}
    for name, key in _wire_plan(obj.__class__):
        value = getattr(obj, name)
        if value is not None:
            out[key] = _to_wire_value(value)
    for key, value in getattr(obj, EXTRA).items():
        out.setdefault(key, value)
    return out


def _to_wire_value(value: Any) -> Any:
    if isinstance(value, str | int | float):  # bool is an int
        return value
    if attrs.has(type(value)):
        return to_wire(value)
    if isinstance(value, tuple | list):
        return [_to_wire_value(item) for item in value]
    return converter.unstructure(value)

"""The package's one cattrs converter: camelCase JSON on the wire, snake_case attrs in Python.

Models are frozen attrs classes with an ``extra`` field. Known wire keys (the camelCase
form of each attribute name, plus any ``aliases`` in the field's metadata) are structured
strictly; every other key is kept in ``extra`` so nothing the server sends is lost.

The rules are configured once, on two converters: ``fast_converter`` builds well-formed
JSON with code generated per model; when it refuses its input, ``converter`` (detailed
validation) builds it again, so what ``structure`` returns or raises is always what the
detailed converter says, with the JSON path of any error.
"""

from __future__ import annotations

import inspect
import operator
import re
import types
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final, TypeVar, Union, get_args, get_origin

import attrs
import cattrs
from cattrs.errors import IterableValidationNote
from cattrs.gen import make_dict_structure_fn
from cattrs.v import format_exception, transform_error

from . import _json
from .errors import ResponseValidationError

__all__ = ["converter", "fast_converter", "structure", "to_camel", "to_wire"]

T = TypeVar("T")

EXTRA: Final = "extra"
REQUIRES_ANY: Final = "_requires_any"
"""A model's class attribute naming fields of which at least one must be set; a model that
has it checks exactly that in ``__attrs_post_init__``, so generated builders inline it."""
_CAMEL_RE: Final = re.compile(r"_([a-z0-9])")

converter: Final = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
"""Builds models with detailed validation: errors name every bad field's path."""
fast_converter: Final = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
"""Builds well-formed JSON quickly; any error is only a signal to ask ``converter``."""


def to_camel(name: str) -> str:
    """``overall_score`` -> ``overallScore``."""
    return _CAMEL_RE.sub(lambda m: m.group(1).upper(), name)


def _is_model(cls: Any) -> bool:
    return attrs.has(cls) and any(f.name == EXTRA for f in attrs.fields(cls))


# Strict primitives: JSON has distinct types, so "false" is never a bool and True never an int.
def _structure_str(value: Any, _: type) -> str:
    if isinstance(value, str):
        return value
    raise TypeError(f"expected a string, got {_json_type(value)}")


def _structure_bool(value: Any, _: type) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {_json_type(value)}")


def _structure_int(value: Any, _: type) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise TypeError(f"expected an integer, got {_json_type(value)}")


def _structure_float(value: Any, _: type) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"expected a number, got {_json_type(value)}")


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


def _structure_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO-8601 timestamp string, got {_json_type(value)}")
    try:
        return parse_datetime(value)
    except ValueError:
        raise ValueError(f"expected an RFC 3339 timestamp, got {value[:40]!r}") from None


def _is_timestamp_or_text(type_: Any) -> bool:
    """``datetime | str`` (or ``datetime | str | None``): a timestamp kept even when unreadable."""
    return get_origin(type_) in (Union, types.UnionType) and set(get_args(type_)) - {
        type(None)
    } == {datetime, str}


def _structure_timestamp_or_text(value: Any, _: type) -> datetime | str:
    """OP-18: an aware datetime when the value reads as one; otherwise the value as text
    (a string as sent, any other JSON value as its JSON text), never an error."""
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            return value
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
    item_type = get_args(cls)[0]
    item_hook = converter.get_structure_hook(item_type)

    def structure_tuple(value: Any, _: type) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
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


@cache
def _wire_names(cls: type) -> dict[str, str]:
    """Map each wire key (camelCase name and aliases) of a model to its attribute name."""
    names: dict[str, str] = {}
    for field in attrs.fields(cls):
        if field.name == EXTRA:
            continue
        names[to_camel(field.name)] = field.name
        for alias in field.metadata.get("aliases", ()):
            names.setdefault(alias, field.name)
    return names


def _make_model_hook(cls: type) -> Callable[[Any, type], Any]:
    wire_names = _wire_names(cls)
    inner: Callable[[Mapping[str, Any], Any], Any] = make_dict_structure_fn(
        cls, converter, _cattrs_detailed_validation=True
    )

    def structure_model(value: Any, _: type) -> Any:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected an object, got {_json_type(value)}")
        known: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, item in value.items():
            name = wire_names.get(key)
            if name is None or name in known:
                extra[key] = item
            elif item is not None:
                known[name] = item
        known[EXTRA] = extra
        return inner(known, cls)

    return structure_model


def _split(value: dict[Any, Any], wire: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Known values by their primary wire key, and the unknown keys (the ``extra``)."""
    known: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, item in value.items():
        name = wire.get(key)
        if name is None or name in known:
            extra[key] = item
        elif item is not None:
            known[name] = item
    for key in extra:
        if key.__class__ is not str:
            raise TypeError("object keys must be strings")
    return known, extra


_BUILDING: Final[set[type]] = set()
_INLINE_DEPTH: Final = 3
"""Nested models are built inline in their parent's generated code, this many levels deep."""


def _optional_inner(type_: Any) -> Any:
    """``X`` for ``X | None``; the type itself otherwise (None values never reach a check)."""
    if get_origin(type_) in (Union, types.UnionType):
        args = [arg for arg in get_args(type_) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return type_


def _nested_hook(type_: Any) -> Callable[[Any, Any], Any]:
    if type_ in _BUILDING:
        return lambda value, cls: fast_converter.structure(value, cls)
    return fast_converter.get_structure_hook(type_)


def _indented(lines: list[str], levels: int = 1) -> list[str]:
    return [f"{'    ' * levels}{line}" for line in lines]


def _class_check(type_: Any, var: str, ns: dict[str, Any]) -> tuple[str, str] | None:
    """(condition, statement) for a type checked by its class alone; None for other types."""
    if type_ is str or type_ is bool:
        return f"{var}.__class__ is not {type_.__name__}", "raise TypeError"
    if type_ is int:
        ns["_int"] = _structure_int
        return f"{var}.__class__ is not int", f"{var} = _int({var}, int)"
    if type_ is float:
        ns["_float"] = _structure_float
        return f"{var}.__class__ is not float", f"{var} = _float({var}, float)"
    return None


def _check_lines(type_: Any, var: str, ns: dict[str, Any], tag: str, depth: int) -> list[str]:
    """Generated statements that validate and convert the non-None value in ``var``."""
    simple = _class_check(type_, var, ns)
    if simple is not None:
        condition, statement = simple
        return [f"if {condition}: {statement}"]
    if type_ is datetime:
        ns["_fromisoformat"] = datetime.fromisoformat
        ns["_UTC"] = UTC
        return [
            f"if {var}.__class__ is not str: raise TypeError",
            f"{var} = _fromisoformat({var})",
            f"if {var}.tzinfo is None: {var} = {var}.replace(tzinfo=_UTC)",
        ]
    if type_ is Any:
        return []
    if _is_homogeneous_tuple(type_):
        item_type = _optional_inner(get_args(type_)[0])
        lines = [
            f"if {var}.__class__ is not list and {var}.__class__ is not tuple: raise TypeError",
        ]
        if item_type is str:
            return [
                *lines,
                f"{var} = tuple({var})",
                f"for _item in {var}:",
                "    if _item.__class__ is not str: raise TypeError",
            ]
        return [*lines, *_items_lines(get_args(type_)[0], var, ns, tag, depth)]
    if _inlined(type_, depth):
        return _build_lines(type_, var, ns, tag, depth + 1)
    ns[f"_hook{tag}"] = _nested_hook(type_)
    ns[f"_type{tag}"] = type_
    return [f"{var} = _hook{tag}({var}, _type{tag})"]


def _field_lines(
    field: attrs.Attribute[Any], var: str, ns: dict[str, Any], tag: str, depth: int
) -> list[str]:
    """Generated statements that apply ``field``'s default to ``var`` or check its value."""
    type_ = _optional_inner(field.type)
    simple = _class_check(type_, var, ns)
    default = field.default
    if default is None:
        if simple is not None:  # one test for the common case of a value of the right class
            condition, statement = simple
            return [f"if {condition} and {var} is not None: {statement}"]
        checks = _check_lines(type_, var, ns, tag, depth)
        return [f"if {var} is not None:", *_indented(checks)] if checks else []
    lines = [f"if {var} is None:"]
    if default is attrs.NOTHING or (
        isinstance(default, attrs.Factory) and default.takes_self  # type: ignore[arg-type]
    ):
        lines.append("    raise TypeError")
    elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        ns[f"_factory{tag}"] = default.factory
        lines.append(f"    {var} = _factory{tag}()")
    else:
        ns[f"_default{tag}"] = default
        lines.append(f"    {var} = _default{tag}")
    if simple is not None:
        condition, statement = simple
        return [*lines, f"elif {condition}: {statement}"]
    checks = _check_lines(type_, var, ns, tag, depth)
    return [*lines, "else:", *_indented(checks)] if checks else lines


def _read_lines(wired: list[tuple[str, str]], src: str, ns: dict[str, Any], tag: str) -> list[str]:
    """Generated statements that read each wired field's value, and the unknown keys."""
    extra, get = f"extra{tag}", f"get{tag}"
    general = [
        f"if _covers{tag}({src}):",
        f"    {extra} = {{}}",
        f"    {get} = {src}.get",
        "else:",
        f"    known{tag}, {extra} = _split({src}, _wire{tag})",
        f"    {get} = known{tag}.get",
        *(f"{var} = {get}({key!r})" for key, var in wired),
    ]
    if len(wired) < 2:
        return general
    # Exactly the known keys: one itemgetter call reads them all.
    ns[f"_every{tag}"] = operator.itemgetter(*(key for key, _ in wired))
    return [
        f"{extra} = None",
        f"if len({src}) == {len(wired)}:",
        "    try:",
        f"        {', '.join(var for _, var in wired)} = _every{tag}({src})",
        f"        {extra} = {{}}",
        "    except KeyError:",
        "        pass",
        f"if {extra} is None:",
        *_indented(general),
    ]


def _build_lines(cls: type, var: str, ns: dict[str, Any], tag: str, depth: int) -> list[str]:
    """Generated statements that replace the JSON object in ``var`` with ``cls`` built from it."""
    _BUILDING.add(cls)
    try:
        attrs.resolve_types(cls)
        fields = [field for field in attrs.fields(cls) if field.init]
        wired = [
            (field, f"v{tag}_{index}") for index, field in enumerate(fields) if field.name != EXTRA
        ]
        ns[f"_cls{tag}"] = cls
        ns[f"_covers{tag}"] = frozenset(to_camel(field.name) for field, _ in wired).issuperset
        ns[f"_wire{tag}"] = {key: to_camel(name) for key, name in _wire_names(cls).items()}
        ns["_split"] = _split
        ns["_new"] = object.__new__
        lines = [
            f"if {var}.__class__ is not dict: raise TypeError",
            *_read_lines([(to_camel(field.name), value) for field, value in wired], var, ns, tag),
        ]
        for index, (field, value) in enumerate(wired):
            lines += _field_lines(field, value, ns, f"{tag}_{index}", depth)
        values = {field.name: value for field, value in wired} | {EXTRA: f"extra{tag}"}
        setters = _slot_setters(cls)
        if setters is None:
            args = [
                f"{field.alias}={values[field.name]}" if field.kw_only else values[field.name]
                for field in fields
            ]
            return [*lines, f"{var} = _cls{tag}({', '.join(args)})"]
        post_init = hasattr(cls, "__attrs_post_init__")
        required: tuple[str, ...] = getattr(cls, REQUIRES_ANY, ())
        if post_init and required:  # the hook only checks this: the same check, inline
            lines.append(f"if {' and '.join(f'{values[n]} is None' for n in required)}:")
            lines.append("    raise TypeError")
        lines.append(f"{var} = _new(_cls{tag})")
        for index, field in enumerate(fields):
            ns[f"_set{tag}_{index}"] = setters[field.name]
            lines.append(f"_set{tag}_{index}({var}, {values[field.name]})")
        if post_init and not required:
            lines.append(f"{var}.__attrs_post_init__()")
        return lines
    finally:
        _BUILDING.discard(cls)


def _defined(lines: list[str], ns: dict[str, Any], label: str) -> Any:
    """The function that the generated ``lines`` define (``def name(...):`` first)."""
    name = lines[0].removeprefix("def ").split("(", 1)[0]
    exec(compile("\n".join(lines), label, "exec"), ns)  # noqa: S102 - our own generated code
    return ns[name]


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """Builds ``cls`` from its fields in order, as ``cls(...)`` would, in fewer steps.

    For slotted classes whose ``__init__`` only sets each field (plain defaults, no post-init
    hook); any other class is returned itself.
    """
    klass: type = cls
    setters = _slot_setters(klass)
    fields = attrs.fields(klass)
    if (
        setters is None
        or hasattr(cls, "__attrs_post_init__")
        or any(f.kw_only or isinstance(f.default, attrs.Factory) for f in fields)  # type: ignore[arg-type]
    ):
        return cls
    ns: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    params = []
    for index, field in enumerate(fields):
        if field.default is attrs.NOTHING:
            params.append(field.name)
        else:
            ns[f"_default{index}"] = field.default
            params.append(f"{field.name}=_default{index}")
        ns[f"_set{index}"] = setters[field.name]
    lines = [
        f"def new({', '.join(params)}):",
        "    obj = _new(_cls)",
        *(f"    _set{index}(obj, {field.name})" for index, field in enumerate(fields)),
        "    return obj",
    ]
    built: Callable[..., T] = _defined(lines, ns, f"<ntrvsta constructor {cls.__qualname__}>")
    return built


def _inlined(type_: Any, depth: int) -> bool:
    """True when a value of ``type_`` is built by code inlined at this nesting depth."""
    return _is_model(type_) and type_ not in _BUILDING and depth < _INLINE_DEPTH


def _items_lines(item_type: Any, var: str, ns: dict[str, Any], tag: str, depth: int) -> list[str]:
    """Generated statements that replace the array in ``var`` with a tuple of its built items."""
    if not _inlined(item_type, depth):
        ns[f"_hook{tag}"] = _nested_hook(item_type)
        ns[f"_type{tag}"] = item_type
        return [f"{var} = tuple([_hook{tag}(_item, _type{tag}) for _item in {var}])"]
    item, built = f"item{tag}", f"built{tag}"
    return [
        f"{built} = []",
        f"for {item} in {var}:",
        *_indented(_build_lines(item_type, item, ns, f"{tag}i", depth + 1)),
        f"    {built}.append({item})",
        f"{var} = tuple({built})",
    ]


def _fast_tuple_hook(cls: Any) -> Callable[[Any, type], tuple[Any, ...]]:
    """Generated code that builds a tuple from a well-formed JSON array, or raises."""
    ns: dict[str, Any] = {}
    lines = [
        "def structure_tuple(value, _):",
        "    if value.__class__ is not list and value.__class__ is not tuple: raise TypeError",
        *_indented(_items_lines(get_args(cls)[0], "value", ns, "", -1)),
        "    return value",
    ]
    hook: Callable[[Any, type], tuple[Any, ...]] = _defined(
        lines, ns, f"<ntrvsta fast structure {cls!r}>"
    )
    return hook


def _fast_model_hook(cls: type) -> Callable[[Any, type], Any]:
    """Generated code that builds ``cls`` from a well-formed JSON object, or raises."""
    ns: dict[str, Any] = {}
    lines = [
        "def structure_fast(value, _):",
        *_indented(_build_lines(cls, "value", ns, "", 0)),
        "    return value",
    ]
    hook: Callable[[Any, type], Any] = _defined(
        lines, ns, f"<ntrvsta fast structure {cls.__qualname__}>"
    )
    return hook


def _slot_setters(cls: type) -> dict[str, Callable[[Any, Any], None]] | None:
    """Each field's slot setter, when setting every field is all ``cls.__init__`` would do.

    That holds for slotted attrs classes whose fields are all in ``__init__`` with no
    validator, converter or pre-init hook, and whose slots are exactly their fields.
    """
    fields = attrs.fields(cls)
    slots = {
        slot
        for klass in cls.__mro__
        for slot in klass.__dict__.get("__slots__", ())
        if slot not in ("__weakref__", "__dict__")
    }
    if (
        "__slots__" not in cls.__dict__
        or hasattr(cls, "__attrs_pre_init__")
        or slots != {field.name for field in fields}
        or any(f.validator or f.converter or not f.init for f in fields)
    ):
        return None
    setters: dict[str, Callable[[Any, Any], None]] = {}
    for field in fields:
        descriptor = getattr(cls, field.name, None)
        if not inspect.ismemberdescriptor(descriptor):
            return None
        setters[field.name] = descriptor.__set__
    return setters


def _configure(
    target: cattrs.Converter,
    *,
    tuple_hook: Callable[[Any], Callable[[Any, type], Any]],
    model_hook: Callable[[type], Callable[[Any, type], Any]],
) -> None:
    target.register_structure_hook(str, _structure_str)
    target.register_structure_hook(bool, _structure_bool)
    target.register_structure_hook(int, _structure_int)
    target.register_structure_hook(float, _structure_float)
    target.register_structure_hook(datetime, _structure_datetime)
    target.register_structure_hook(Any, _structure_any)
    target.register_structure_hook_func(_is_timestamp_or_text, _structure_timestamp_or_text)
    target.register_structure_hook_factory(_is_homogeneous_tuple, tuple_hook)
    target.register_structure_hook_factory(_is_model, model_hook)
    target.register_unstructure_hook(datetime, lambda value: value.isoformat())


_configure(converter, tuple_hook=_make_tuple_hook, model_hook=_make_model_hook)
_configure(fast_converter, tuple_hook=_fast_tuple_hook, model_hook=_fast_model_hook)


def _camel_path(path: str) -> str:
    return re.sub(r"(?<=\.)[a-z0-9_]+", lambda m: to_camel(m.group(0)), path)


def _describe(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, TypeError | ValueError) and str(exc):
        return str(exc)
    return format_exception(exc, type_)


_FAST_HOOKS: Final[dict[Any, Callable[[Any, Any], Any]]] = {}


def structure(data: Any, cls: type[T], *, path: str = "$") -> T:
    """Build ``cls`` from decoded JSON, raising only ``ResponseValidationError``."""
    try:
        hook = _FAST_HOOKS.get(cls)
        if hook is None:
            hook = _FAST_HOOKS[cls] = fast_converter.get_structure_hook(cls)
        return hook(data, cls)  # type: ignore[no-any-return]
    except Exception:  # noqa: S110 - the detailed converter decides and explains
        pass
    try:
        return converter.structure(data, cls)
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


_is_model_class: Final = cache(_is_model)
_PLAIN: Final = frozenset({str, int, float, bool})


def to_wire(obj: Any) -> dict[str, Any]:
    """A model as camelCase JSON: unset (None) fields left out, ``extra`` merged back in."""
    writer = _WRITERS.get(obj.__class__)
    if writer is None:
        writer = _WRITERS[obj.__class__] = _make_writer(obj.__class__)
    return writer(obj)


_WRITERS: Final[dict[type, Callable[[Any], dict[str, Any]]]] = {}


def _make_writer(cls: type) -> Callable[[Any], dict[str, Any]]:
    """Generated code writing the wire form of ``cls``, field by field."""
    lines = ["def to_wire(obj):", "    out = {}"]
    for name, key in _wire_plan(cls):
        lines += [
            f"    value = obj.{name}",
            "    if value is not None:",
            f"        out[{key!r}] = value if value.__class__ in _PLAIN else _value(value)",
        ]
    lines += [
        f"    for key, value in obj.{EXTRA}.items():",
        "        if key not in out:",
        "            out[key] = value",
        "    return out",
    ]
    ns: dict[str, Any] = {"_PLAIN": _PLAIN, "_value": _to_wire_value}
    writer: Callable[[Any], dict[str, Any]] = _defined(
        lines, ns, f"<ntrvsta to_wire {cls.__qualname__}>"
    )
    return writer


def _to_wire_value(value: Any) -> Any:
    if _is_model_class(value.__class__):
        return to_wire(value)
    if isinstance(value, tuple | list):
        return [_to_wire_value(item) for item in value]
    return converter.unstructure(value)

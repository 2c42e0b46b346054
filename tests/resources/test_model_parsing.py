"""Models from JSON: any well-formed object builds exactly the model its fields describe.

The payloads are generated from each model's own fields (random subsets, aliases, explicit
nulls, unknown keys, nested models), so every shape the parser has a path for is covered:
all fields present, some missing, unknown keys beside known ones.
"""

from __future__ import annotations

import ast
import json
import linecache
import re
import traceback
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrvsta_async import (
    AiAnalysis,
    Candidate,
    InterviewTiming,
    Invitation,
    ResponseValidationError,
    ResultCompletedEvent,
    ResultSummary,
    Scoring,
    Template,
    TemplateRef,
)
from ntrvsta_async._converter import converter, parse_datetime, structure
from ntrvsta_async.resources.results import parse_page

MODELS = [
    Candidate,
    Template,
    Invitation,
    ResultSummary,
    TemplateRef,
    InterviewTiming,
    Scoring,
    AiAnalysis,
    ResultCompletedEvent,
]
for _model in MODELS:
    attrs.resolve_types(_model)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)
offsets = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))


def camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def inner(type_: Any) -> Any:
    if get_origin(type_) in (Union, type(int | None)):
        args = [arg for arg in get_args(type_) if arg is not type(None)]
        return args[0] if len(args) == 1 else type_
    return type_


@st.composite
def timestamps(draw: st.DrawFn) -> tuple[str, datetime]:
    moment = draw(st.datetimes(timezones=st.none() | st.just(UTC) | offsets))
    text = moment.isoformat()
    if moment.tzinfo is UTC and draw(st.booleans()):
        text = text.replace("+00:00", "Z")
    return text, moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@st.composite
def timestamps_or_text(draw: st.DrawFn) -> tuple[Any, datetime | str]:
    """A ``datetime | str`` field (OP-18): a readable timestamp, or any other JSON value, which
    the model keeps as text (a string as sent, anything else as its JSON text)."""
    if draw(st.booleans()):
        return draw(timestamps())
    value = draw(st.text(max_size=30) | st.integers() | st.booleans() | st.lists(st.integers()))
    if isinstance(value, str):
        try:
            return value, parse_datetime(value)
        except ValueError:
            return value, value
    return value, json.dumps(value, separators=(",", ":"))


def values(type_: Any, depth: int) -> st.SearchStrategy[tuple[Any, Any]]:
    """(what the wire carries, what the model holds) for a well-formed value of ``type_``."""
    type_ = inner(type_)
    if set(get_args(type_)) - {type(None)} == {datetime, str}:
        return timestamps_or_text()
    if type_ is str:
        return st.text(max_size=10).map(lambda s: (s, s))
    if type_ is bool:
        return st.booleans().map(lambda b: (b, b))
    if type_ is int:
        ints = st.integers(-(10**9), 10**9)
        return ints.map(lambda i: (i, i)) | ints.map(lambda i: (float(i), i))
    if type_ is float:
        floats = st.floats(allow_nan=False, allow_infinity=False)
        return floats.map(lambda f: (f, f)) | st.integers(-(10**9), 10**9).map(
            lambda i: (i, float(i))
        )
    if type_ is datetime:
        return timestamps()
    if type_ is Any:
        return json_values.map(lambda v: (v, v))
    if get_origin(type_) is tuple:
        item = values(get_args(type_)[0], depth + 1)
        return st.lists(item, max_size=3).map(
            lambda pairs: ([w for w, _ in pairs], tuple(m for _, m in pairs))
        )
    assert attrs.has(type_), type_
    return payloads(type_, depth + 1)


@st.composite
def payloads(draw: st.DrawFn, cls: type, depth: int = 0) -> tuple[dict[str, Any], Any]:
    """A well-formed JSON object for ``cls`` and the model it must build (None: refused)."""
    wire: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    known: set[str] = set()
    for field in attrs.fields(cls):
        if field.name == "extra":
            continue
        keys = [camel(field.name), *field.metadata.get("aliases", ())]
        known.update(keys)
        key = draw(st.sampled_from(keys))
        required = field.default is attrs.NOTHING
        choice = "value" if required else draw(st.sampled_from(["value", "absent", "null"]))
        if choice == "absent" or (depth > 2 and not required):
            continue
        if choice == "null":
            wire[key] = None
            continue
        wire[key], kwargs[field.name] = draw(values(field.type, depth))
    extra = draw(
        st.dictionaries(
            st.text(max_size=8).filter(lambda key: key not in known), json_values, max_size=3
        )
    )
    wire.update(extra)
    try:
        model = cls(**kwargs, extra=extra)
    except ValueError:
        return wire, None  # the model refuses it as a whole (a summary with no id nor URL)
    return wire, model


@settings(max_examples=100, deadline=None)
@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_well_formed_objects_build_the_model_they_describe(cls: type, data: st.DataObject) -> None:
    wire, expected = data.draw(payloads(cls))
    if expected is None:  # the model's own rule applies to parsed responses too
        with pytest.raises(ResponseValidationError, match="resultId or resultUrl") as info:
            cls.from_dict(wire)  # type: ignore[attr-defined]
        assert info.value.path == "$"
        return
    built = cls.from_dict(wire)  # type: ignore[attr-defined]
    assert built == expected
    assert type(built) is cls


WRONG: dict[Any, st.SearchStrategy[Any]] = {
    str: st.integers() | st.booleans() | st.lists(st.text(max_size=3), max_size=2),
    bool: st.sampled_from(["true", "false", 0, 1, 1.0]),
    int: st.sampled_from(["1", True, 1.5, [1]]),
    float: st.sampled_from(["1.5", True, False, {"a": 1}]),
    datetime: st.integers() | st.booleans() | st.sampled_from(["yesterday", "2026-13-01"]),
}


@settings(max_examples=100, deadline=None)
@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_a_wrong_value_in_any_known_field_is_refused_naming_it(
    cls: type, data: st.DataObject
) -> None:
    wire, _ = data.draw(payloads(cls))
    checked = [f for f in attrs.fields(cls) if inner(f.type) in WRONG]
    field = data.draw(st.sampled_from(checked))
    for alias in field.metadata.get("aliases", ()):
        wire.pop(alias, None)
    key = camel(field.name)
    wire[key] = data.draw(WRONG[inner(field.type)])
    with pytest.raises(ResponseValidationError) as info:
        cls.from_dict(wire)  # type: ignore[attr-defined]
    assert info.value.path == f"$.{key}"


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_page_builds_every_summary_and_skips_a_bad_one_naming_it(data: st.DataObject) -> None:
    drawn = data.draw(st.lists(payloads(ResultSummary), max_size=5))
    page = parse_page({"items": [wire for wire, _ in drawn], "nextCursor": "c2"})
    assert page.items == tuple(model for _, model in drawn if model is not None)
    assert page.next_cursor == "c2"
    refused = [i for i, (_, model) in enumerate(drawn) if model is None]
    assert [skip.rsplit(" @ ", 1)[-1] for skip in page.skipped] == [
        f"$.items[{i}]" for i in refused
    ]
    pairs = [(wire, model) for wire, model in drawn if model is not None]
    if pairs:
        bad = data.draw(st.integers(0, len(pairs) - 1))
        items = [dict(wire) for wire, _ in pairs]
        items[bad]["overallScore"] = "high"
        page = parse_page({"items": items})
        assert page.items == tuple(model for i, (_, model) in enumerate(pairs) if i != bad)
        (skipped,) = page.skipped
        assert f"$.items[{bad}].overallScore" in skipped


@settings(max_examples=200, deadline=None)
@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@given(data=st.data(), unknown=json_values)
def test_an_unknown_key_changes_nothing_but_extra(
    cls: type, data: st.DataObject, unknown: Any
) -> None:
    """An object of known keys only is read as it is; with one more key it is copied first.
    Both ways give the same model, or the same refusal naming the same path."""
    wire, _ = data.draw(payloads(cls))
    if data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted({camel(f.name) for f in attrs.fields(cls)})))
        wire[key] = data.draw(json_values)
    plain = {key: value for key, value in wire.items() if key in known_keys(cls)}
    with_unknown = {**plain, "zzUnknown": unknown}

    def outcome(value: dict[str, Any]) -> Any:
        try:
            return structure(value, cls)
        except ResponseValidationError as exc:
            return ("refused", str(exc), exc.path)

    expected = outcome(plain)
    built = outcome(with_unknown)
    if isinstance(expected, tuple):
        assert built == expected
    else:
        assert built == attrs.evolve(expected, extra={**expected.extra, "zzUnknown": unknown})


def known_keys(cls: type) -> set[str]:
    """The wire keys of ``cls``'s fields: camelCase names, without aliases."""
    return {camel(f.name) for f in attrs.fields(cls) if f.name != "extra"}


@settings(max_examples=200, deadline=None)
@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_a_null_reads_as_an_absent_key(cls: type, data: st.DataObject) -> None:
    """A null in any field, known keys only or beside an unknown one, gives what leaving the
    key out gives: the same model, or a refusal naming the same path."""
    wire, _ = data.draw(payloads(cls))
    key = data.draw(st.sampled_from(sorted(known_keys(cls))))
    if data.draw(st.booleans()):
        wire["zzUnknown"] = 1
    absent = {k: v for k, v in wire.items() if k != key}

    def outcome(value: dict[str, Any]) -> Any:
        try:
            return structure(value, cls)
        except ResponseValidationError as exc:
            return ("refused", exc.path)

    assert outcome({**absent, key: None}) == outcome(absent)


@attrs.frozen
class DefaultsToZero:
    """An optional field whose default a null cannot stand for."""

    count: int | None = 0
    extra: dict[str, Any] = attrs.field(factory=dict, kw_only=True)


@attrs.frozen
class ArrayOrNone:
    """An array that may also be None: a null would read as () where absent reads as None."""

    tags: tuple[str, ...] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, kw_only=True)


@attrs.frozen
class RequiredArray:
    """A required array: a null would read as () where absent is refused."""

    tags: tuple[str, ...]
    extra: dict[str, Any] = attrs.field(factory=dict, kw_only=True)


@attrs.frozen
class RequiredOrNone:
    """A required field that admits None: a null would pass where absent is refused."""

    name: str | None
    extra: dict[str, Any] = attrs.field(factory=dict, kw_only=True)


@attrs.frozen
class OptionalMapping:
    """An optional type whose hook does not read a null."""

    meta: dict[str, int] | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, kw_only=True)


@pytest.mark.parametrize(
    ("cls", "field"),
    [
        (OptionalMapping, "meta"),
        (DefaultsToZero, "count"),
        (ArrayOrNone, "tags"),
        (RequiredArray, "tags"),
        (RequiredOrNone, "name"),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_a_model_where_a_null_would_not_read_as_absent_is_refused(cls: type, field: str) -> None:
    """The fault is the model's, so it is a TypeError naming the field, never a refusal of
    the response."""
    with pytest.raises(TypeError, match=rf"{cls.__name__}\.{field}: a null must read as"):
        structure({}, cls)


def test_an_unreadable_timestamp_is_refused_without_its_value() -> None:
    value = "sk_live_0123456789abcdef-not-a-time"
    with pytest.raises(ResponseValidationError) as info:
        Template.from_dict({"templateId": "tpl_1", "createdAt": value})
    assert info.value.path == "$.createdAt"
    assert "sk_live" not in f"{info.value} {info.value!r} {info.value.message}"


@attrs.frozen
class Guarded:
    """A model with its own rule in ``__attrs_post_init__``."""

    low: int
    high: int | None = None
    extra: dict[str, Any] = attrs.field(factory=dict, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.high is not None and self.high < self.low:
            raise ValueError("high is below low")


@pytest.mark.parametrize(
    "wire",
    [{"low": 5, "high": 1}, {"low": 5, "high": 1, "other": True}, {"low": 5.0, "high": 1.0}],
)
def test_every_parsed_model_runs_its_post_init(wire: dict[str, Any]) -> None:
    with pytest.raises(ResponseValidationError, match="high is below low") as info:
        structure(wire, Guarded)
    assert info.value.path == "$"
    assert structure({"low": 1, "high": 5}, Guarded) == Guarded(1, 5)


def test_a_traceback_through_the_converter_shows_source_for_every_frame() -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever cattrs raises
        converter.structure({"resultId": "r1", "overallScore": "high"}, ResultSummary)
    frames = traceback.extract_tb(info.value.__traceback__)
    assert any("cattrs generated" in frame.filename for frame in frames)
    for frame in frames:
        assert linecache.getline(frame.filename, frame.lineno or 0).strip(), frame


def test_the_package_runs_no_generated_source() -> None:
    package = Path(__file__).resolve().parents[2] / "ntrvsta_async"
    calls = []
    for source in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
                name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
                if name in ("exec", "eval", "compile") and not (
                    isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "re"
                ):
                    calls.append(f"{source.relative_to(package)}:{node.lineno} {name}")
    assert calls == []

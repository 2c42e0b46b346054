"""Models: strict primitives, aware datetimes, unknown fields kept, only our error escapes."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ntrvsta_async import (
    Candidate,
    Invitation,
    ResponseValidationError,
    ResultCompletedEvent,
    ResultSummary,
    Template,
)
from ntrvsta_async.resources.results import parse_page

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["2026-05-01T10:00:00Z", "r1", "https://x.test/r"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "resultId",
        "resultUrl",
        "overallScore",
        "completedAt",
        "candidate",
        "email",
        "templateId",
        "id",
        "invitationId",
        "aiAnalysis",
        "scoring",
        "categories",
        "strengths",
        "interview",
        "items",
        "nextCursor",
        "data",
    ]
)
shaped_objects = st.dictionaries(field_names, json_values, max_size=8)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(json_values, shaped_objects))
@pytest.mark.parametrize(
    "cls", [Template, Invitation, ResultSummary, ResultCompletedEvent, Candidate]
)
def test_arbitrary_json_raises_only_response_validation_error(cls: type[Any], data: Any) -> None:
    path = "$"
    try:
        cls.from_dict(data)
    except ResponseValidationError as exc:
        path = exc.path
    assert path.startswith("$")


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=4)))
def test_arbitrary_pages_raise_only_response_validation_error(data: Any) -> None:
    with contextlib.suppress(ResponseValidationError):
        parse_page(data)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"templateId": "t", "whiteboardDesign": "false"}, "$.whiteboardDesign"),
        ({"templateId": "t", "whiteboardDesign": 0}, "$.whiteboardDesign"),
        ({"templateId": "t", "inviteUrlExpiresInDays": True}, "$.inviteUrlExpiresInDays"),
        ({"templateId": "t", "inviteUrlExpiresInDays": "30"}, "$.inviteUrlExpiresInDays"),
        ({"templateId": 12}, "$.templateId"),
        ({"templateId": "t", "createdAt": 1714557600}, "$.createdAt"),
    ],
)
def test_primitives_are_strict(payload: dict[str, Any], path: str) -> None:
    with pytest.raises(ResponseValidationError) as info:
        Template.from_dict(payload)
    assert info.value.path == path


def test_naive_timestamps_are_taken_as_utc() -> None:
    summary = ResultSummary.from_dict({"resultId": "r", "completedAt": "2026-05-01T10:00:00"})
    assert summary.completed_at == datetime(2026, 5, 1, 10, tzinfo=UTC)


def test_full_event_payload() -> None:
    payload = {
        "event": "result.completed",
        "eventId": "evt_1",
        "occurredAt": "2026-05-01T10:05:00Z",
        "resultId": "res_1",
        "templateId": "tpl_1",
        "template": {"templateId": "tpl_1", "title": "Backend"},
        "candidate": {"email": "ada@example.com", "firstName": "Ada"},
        "interview": {"status": "completed", "durationSeconds": 1800, "whiteboardUsed": False},
        "aiAnalysis": {
            "summary": "Strong",
            "strengths": ["design"],
            "integrityWarning": False,
            "scoring": {
                "overallScore": 87.5,
                "maxScore": 100,
                "categories": [{"key": "communication_clarity", "score": 90, "tone": "warm"}],
            },
        },
        "resultUrl": "https://app.ntrvsta.test/r/res_1",
        "newField": [1, 2],
    }
    event = ResultCompletedEvent.from_dict(payload)
    assert event.key == "res_1"
    assert event.template is not None
    assert event.template.title == "Backend"
    assert event.interview is not None
    assert event.interview.duration_seconds == 1800
    assert event.ai_analysis is not None
    assert event.ai_analysis.scoring is not None
    assert event.ai_analysis.scoring.overall_score == 87.5
    assert event.ai_analysis.scoring.categories[0].extra == {"tone": "warm"}
    assert event.ai_analysis.strengths == ("design",)
    assert event.extra == {"newField": [1, 2]}
    again = ResultCompletedEvent.from_dict(event.to_dict())
    assert again == event


@pytest.mark.parametrize(
    ("wire", "key"),
    [({"resultId": "r1"}, "r1"), ({"resultUrl": "https://x.test/r"}, "https://x.test/r")],
)
def test_a_summary_needs_one_of_its_ids(wire: dict[str, Any], key: str) -> None:
    assert ResultSummary.from_dict(wire).key == key
    both_missing = {"status": "completed", "candidate": {"email": "ada@example.com"}}
    with pytest.raises(ResponseValidationError, match="needs resultId or resultUrl"):
        ResultSummary.from_dict(both_missing)
    page = parse_page({"items": [wire, both_missing, wire]})
    assert [summary.key for summary in page.items] == [key, key]
    (skipped,) = page.skipped
    assert "needs resultId or resultUrl @ $.items[1]" in skipped
    with pytest.raises(ValueError, match="needs resultId or resultUrl"):
        ResultSummary(status="completed")


def test_event_requires_result_id() -> None:
    with pytest.raises(ResponseValidationError) as info:
        ResultCompletedEvent.from_dict({"event": "result.completed"})
    assert info.value.path == "$.resultId"


def test_models_are_frozen() -> None:
    candidate = Candidate(email="a@b.c")
    with pytest.raises(AttributeError):
        candidate.email = "x@y.z"  # type: ignore[misc]

"""Invented, seeded interview outcomes: the result summary and the ``result.completed`` payload.

Scores and texts come from a ``random.Random`` seeded by the sandbox seed, so a seeded run
produces the same results every time. Shapes follow docs/contract.md#op-8 (summary) and #op-15
(payload).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any, Final

import attrs

from ntrvsta_async.assumptions import RESULT_COMPLETED_EVENT
from ntrvsta_async.sandbox.state import PUBLIC_ORIGIN, InvitationRecord, TemplateRecord, iso

__all__ = ["Outcome", "OutcomeFactory"]

#: The score categories the product UI shows; data, not something the SDK relies on.
CATEGORIES: Final = (
    ("communication_clarity", "Communication Clarity"),
    ("technical_accuracy", "Technical Accuracy"),
    ("language_proficiency", "Language Proficiency"),
)
MAX_SCORE: Final = 100.0

_STRENGTHS: Final = (
    "Explains trade-offs clearly",
    "Structured problem solving",
    "Solid grasp of fundamentals",
    "Asks clarifying questions early",
    "Communicates assumptions explicitly",
)
_CONCERNS: Final = (
    "Limited depth on distributed systems",
    "Skipped edge cases in the design",
    "Answers occasionally unfocused",
    "Little experience with testing strategies",
    "Needed hints to finish the exercise",
)


@attrs.frozen
class Outcome:
    """What the sandbox stores for one completion: ids, summary JSON and payload JSON."""

    result_id: str
    event_id: str
    overall_score: float
    summary: dict[str, Any]
    payload: dict[str, Any]


def _clamp(score: float) -> float:
    return round(min(MAX_SCORE, max(0.0, score)), 1)


class OutcomeFactory:
    """Builds outcomes; ``random`` draws scores and texts not given explicitly."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(f"ntrvsta-sandbox:{seed}:outcomes")  # noqa: S311

    def random_score(self) -> float:
        """A plausible overall score between 35 and 98."""
        return round(self._random.uniform(35.0, 98.0), 1)

    def build(
        self,
        *,
        result_id: str,
        event_id: str,
        organization_id: str,
        template: TemplateRecord,
        invitation: InvitationRecord,
        completed_at: datetime,
        overall_score: float | None,
        integrity_warning: bool | None,
    ) -> Outcome:
        """The summary and payload of one completed interview."""
        rng = self._random
        score = self.random_score() if overall_score is None else float(overall_score)
        duration = rng.randint(12 * 60, 45 * 60)
        started_at = completed_at - timedelta(seconds=duration)
        categories = [
            {
                "key": key,
                "label": label,
                "score": _clamp(score + rng.uniform(-8.0, 8.0)),
                "maxScore": MAX_SCORE,
            }
            for key, label in CATEGORIES
        ]
        warning = rng.random() < 0.05 if integrity_warning is None else integrity_warning
        strengths = rng.sample(_STRENGTHS, k=2 if score >= 60 else 1)
        concerns = rng.sample(_CONCERNS, k=1 if score >= 60 else 2)
        result_url = f"{PUBLIC_ORIGIN}/results/{result_id}"
        candidate = dict(invitation.candidate)
        summary = {
            "resultId": result_id,
            "resultUrl": result_url,
            "overallScore": score,
            "completedAt": iso(completed_at),
            "templateId": template.template_id,
            "externalPostingId": template.external_posting_id,
            "invitationId": invitation.invitation_id,
            "candidate": candidate,
            "status": "completed",
        }
        payload = {
            "event": RESULT_COMPLETED_EVENT,
            "eventId": event_id,
            "occurredAt": iso(completed_at),
            "resultId": result_id,
            "organizationId": organization_id,
            "templateId": template.template_id,
            "externalPostingId": template.external_posting_id,
            "invitationId": invitation.invitation_id,
            "candidate": dict(candidate),
            "interview": {
                "status": "completed",
                "language": invitation.language or "en",
                "startedAt": iso(started_at),
                "completedAt": iso(completed_at),
                "durationSeconds": duration,
                "whiteboardUsed": template.whiteboard_design,
            },
            "aiAnalysis": {
                "summary": _summary_text(score),
                "strengths": strengths,
                "concerns": concerns,
                "integrityWarning": warning,
                "scoring": {
                    "overallScore": score,
                    "maxScore": MAX_SCORE,
                    "categories": categories,
                },
            },
            "resultUrl": result_url,
        }
        return Outcome(
            result_id=result_id,
            event_id=event_id,
            overall_score=score,
            summary=summary,
            payload=payload,
        )


def _summary_text(score: float) -> str:
    if score >= 80:
        return "Strong interview; recommended for the next round."
    if score >= 60:
        return "Solid interview with a few gaps worth probing."
    return "The interview showed significant gaps for this role."

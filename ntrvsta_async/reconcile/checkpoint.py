"""A partition's durable progress, stored in the inbox as a small JSON document."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import attrs

from ntrvsta_async._converter import parse_datetime

__all__ = ["Checkpoint"]

logger = logging.getLogger("ntrvsta_async.reconcile")

_VERSION = 1


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        return None


@attrs.frozen
class Checkpoint:
    """Where a partition stands.

    ``after`` is the newest ``completed_at`` below which every result was handled, as of the
    last complete pass. While a pass is under way, ``cursor`` is the page to resume from
    (every result before it was handled), ``pass_after`` the time bound that pass lists from
    and ``pass_newest`` the newest ``completed_at`` it has finished so far.
    """

    after: datetime | None = None
    last_sweep: datetime | None = None
    cursor: str | None = None
    pass_after: datetime | None = None
    pass_newest: datetime | None = None
    pass_sweep: bool = False

    def dumps(self) -> str:
        """The stored form."""
        doc: dict[str, Any] = {"v": _VERSION}
        for field in attrs.fields(Checkpoint):
            value = getattr(self, field.name)
            doc[field.name] = value.isoformat() if isinstance(value, datetime) else value
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | None) -> Checkpoint:
        """Read a stored checkpoint; an unreadable one counts as none (a full pass follows)."""
        if raw is None:
            return cls()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("v") != _VERSION:
            logger.warning("ignoring an unreadable poller checkpoint; the next pass re-lists all")
            return cls()
        cursor = doc.get("cursor")
        return cls(
            after=_time(doc.get("after")),
            last_sweep=_time(doc.get("last_sweep")),
            cursor=cursor if isinstance(cursor, str) and cursor else None,
            pass_after=_time(doc.get("pass_after")),
            pass_newest=_time(doc.get("pass_newest")),
            pass_sweep=doc.get("pass_sweep") is True,
        )

"""Telling a created object from a reused one (OP-4)."""

from __future__ import annotations

from typing import Any

from .. import assumptions


def reused_flag(status: int, data: Any) -> bool | None:
    """A body flag (``reused`` or ``created``) wins; else 200 means reused, 201 created."""
    if isinstance(data, dict):
        reused = data.get("reused")
        if isinstance(reused, bool):
            return reused
        created = data.get("created")
        if isinstance(created, bool):
            return not created
    if status == assumptions.STATUS_REUSED:
        return True
    if status == assumptions.STATUS_CREATED:
        return False
    return None

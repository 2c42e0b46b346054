"""Telling a created object from a reused one (OP-4)."""

from __future__ import annotations

from typing import Any

from ..assumptions import DEFAULT_CONTRACT, Contract


def reused_flag(status: int, data: Any, contract: Contract = DEFAULT_CONTRACT) -> bool | None:
    """A body flag (``reused`` or ``created``) wins; else 200 means reused, 201 created."""
    if isinstance(data, dict):
        reused = data.get("reused")
        if isinstance(reused, bool):
            return reused
        created = data.get("created")
        if isinstance(created, bool):
            return not created
    if status == contract.status_reused:
        return True
    if status == contract.status_created:
        return False
    return None

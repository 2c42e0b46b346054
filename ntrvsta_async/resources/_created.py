"""Telling a created object from a reused one (OP-4)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ntrvsta_async._converter import structure
from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from ntrvsta_async.errors import ResponseValidationError

__all__ = ["created_model", "reused_flag"]

T = TypeVar("T")


def reused_flag(
    status: int | None, data: Any, contract: Contract = DEFAULT_CONTRACT
) -> bool | None:
    """Whether a create-or-reuse answer reused an existing object, None when it does not say.

    A body flag (``reused``, else ``created``) wins; else ``status`` is read against the
    contract's created and reused codes. ``status=None`` reads the body flag alone.
    """
    if isinstance(data, Mapping):
        reused = data.get("reused")
        if isinstance(reused, bool):
            return reused
        created = data.get("created")
        if isinstance(created, bool):
            return not created
    if status is None:
        return None
    if status == contract.status_reused:
        return True
    if status == contract.status_created:
        return False
    return None


def created_model(cls: type[T], status: int, data: Any, contract: Contract) -> T:
    """Build ``cls`` from a create-or-reuse answer, its ``reused`` flag settled from ``status``."""
    flag = reused_flag(status, data, contract)
    if flag is None or not isinstance(data, dict) or data.get("reused") is not None:
        return structure(data, cls)  # the body says it, or nothing can be added
    try:
        return structure({**data, "reused": flag}, cls)
    except ResponseValidationError:
        structure(data, cls)  # raises the same error, naming the body as the server sent it
        raise

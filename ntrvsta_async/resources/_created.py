"""Telling a created object from a reused one (OP-4)."""

from __future__ import annotations

from typing import Any, TypeVar

from .._converter import structure
from ..assumptions import DEFAULT_CONTRACT, Contract
from ..errors import ResponseValidationError

__all__ = ["created_model", "reused_flag"]

T = TypeVar("T")


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


def created_model(cls: type[T], status: int, data: Any, contract: Contract) -> T:
    """Build ``cls`` from a create-or-reuse answer, its ``reused`` flag settled from ``status``."""
    if data.__class__ is dict and data.get("reused").__class__ is bool:
        return structure(data, cls)  # the body says it: nothing to add
    flag = reused_flag(status, data, contract)
    if flag is None or not isinstance(data, dict) or data.get("reused") is not None:
        return structure(data, cls)
    try:
        return structure({**data, "reused": flag}, cls)
    except ResponseValidationError:
        structure(data, cls)  # raises the same error, naming the body as the server sent it
        raise

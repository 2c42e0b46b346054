"""Predicates for checking arguments; each caller raises its own error in its own words."""

from __future__ import annotations

import inspect
from typing import TypeGuard

__all__ = [
    "is_coroutine_callable",
    "is_count",
    "is_email_address",
    "is_positive_number",
    "is_success_status",
]


def is_count(value: object, minimum: int = 1) -> TypeGuard[int]:
    """True for an int (never a bool) of at least ``minimum``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def is_positive_number(value: object) -> TypeGuard[int | float]:
    """True for an int or float (never a bool) above zero; NaN is not."""
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def is_success_status(value: object) -> TypeGuard[int]:
    """True for a 2xx HTTP status code given as an int (never a bool)."""
    return is_count(value, minimum=200) and value < 300


def is_coroutine_callable(value: object) -> bool:
    """True for an ``async def`` function, a partial of one, or an object whose ``__call__``
    is one: what the SDK awaits as a handler."""
    return inspect.iscoroutinefunction(value) or inspect.iscoroutinefunction(
        getattr(value, "__call__", None)  # noqa: B004 - the method itself is inspected
    )


def is_email_address(value: object) -> TypeGuard[str]:
    """True for ``local@domain``: one ``@``, text on both sides, no whitespace or control
    character (the contract's ``format: email``, as schema validators read it)."""
    if not isinstance(value, str):
        return False
    local, at, domain = value.partition("@")
    return (
        bool(at and local and domain)
        and "@" not in domain
        and not any(ch.isspace() or not ch.isprintable() for ch in value)
    )

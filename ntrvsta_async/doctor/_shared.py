"""Helpers the doctor's checks share: short texts for a report, and the SDK's error-body rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .probe import Exchange
from .report import Finding, Status

__all__ = ["describe", "error_fields", "ms", "names", "not_run", "unique"]


def ms(seconds: float) -> str:
    """Seconds as milliseconds (``"12 ms"``, ``"0.8 ms"``)."""
    millis = seconds * 1000
    return f"{millis:.1f} ms" if millis < 10 else f"{millis:.0f} ms"


def names(keys: Iterable[str]) -> str:
    """Keys quoted and comma-separated, or ``none``."""
    listed = [f"'{key}'" for key in keys]
    return ", ".join(listed) if listed else "none"


def describe(exchange: Exchange) -> str:
    """``HTTP 400 ("limit must be ...")``: the status and the server's message, shortened."""
    found = error_fields(exchange.body)[0] if exchange.is_json else None
    text = found[1] if found else exchange.text.strip()
    if not text:
        return exchange.describe()
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{exchange.describe()} ({text!r})"


def not_run(op: str, check: str, assumption: str, why: str) -> Finding:
    """An UNKNOWN finding for a check that could not run, saying why."""
    return Finding(op=op, check=check, assumption=assumption, observed=why, status=Status.UNKNOWN)


def unique(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))


def error_fields(body: Any) -> tuple[tuple[str, str] | None, tuple[str, str] | None]:
    """Where the SDK's error parser finds the message and the code: (path, value) pairs."""
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    nested: Mapping[str, Any] = error if isinstance(error, Mapping) else {}
    messages = (
        ("message", body.get("message")),
        ("error.message", nested.get("message")),
        ("error", error),
        ("detail", body.get("detail")),
    )
    codes = (
        ("code", body.get("code")),
        ("error.code", nested.get("code")),
        ("errorCode", body.get("errorCode")),
    )
    message = next(((p, str(v)) for p, v in messages if isinstance(v, str) and v), None)
    code = next(
        ((p, str(v)) for p, v in codes if isinstance(v, str | int) and not isinstance(v, bool)),
        None,
    )
    return message, code

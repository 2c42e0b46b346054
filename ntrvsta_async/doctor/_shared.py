"""Helpers the doctor's checks share: short texts for a report."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from ntrvsta_async.assumptions import Contract
from ntrvsta_async.doctor.probe import Exchange
from ntrvsta_async.doctor.report import Finding, Status
from ntrvsta_async.transport.responses import error_fields

__all__ = ["describe", "ms", "name_found", "names", "not_run", "unique"]


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
    found = error_fields(exchange.body).message if exchange.is_json else None
    text = found[1] if found else exchange.text.strip()
    if not text:
        return exchange.describe()
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{exchange.describe()} ({text!r})"


def not_run(op: str, check: str, assumption: str, why: str) -> Finding:
    """An UNKNOWN finding for a check that could not run, saying why."""
    return Finding(op=op, check=check, assumption=assumption, observed=why, status=Status.UNKNOWN)


def name_found(
    found: functools.partial[Finding],
    contract: Contract,
    *,
    field: str,
    name: str,
    observed: str,
    tried: Sequence[str],
) -> Finding:
    """The finding once a search found ``name`` working (``observed``): OK when it is the one
    the ``Contract`` field ``field`` holds, else DIFFERS after the names ``tried`` before it,
    with the override setting ``field`` to it."""
    if name == getattr(contract, field):
        return found(observed=observed, status=Status.OK)
    return found(
        observed="; ".join([*tried, observed]), status=Status.DIFFERS, override={field: name}
    )


def unique(values: Iterable[str]) -> list[str]:
    """``values`` without repeats, in first-seen order."""
    return list(dict.fromkeys(values))

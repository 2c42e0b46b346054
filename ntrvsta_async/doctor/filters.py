"""Filtering results (OP-8): whether ``completedAfter``, ``templateId`` and
``externalPostingId`` narrow a listing, or which other name does.

Each filter is sent with a value no result can match (a bound a day ahead, a template or
posting id nobody has): a server that reads the parameter answers with no results (or
refuses the unknown id with 404); one that ignores it answers with results anyway.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Final

from ntrvsta_async.assumptions import Contract
from ntrvsta_async.doctor._shared import describe, name_found, not_run, unique
from ntrvsta_async.doctor.paging import find_items, items_of
from ntrvsta_async.doctor.probe import Exchange, Probe
from ntrvsta_async.doctor.report import Finding, Status

__all__ = [
    "COMPLETED_AFTER_PARAMS",
    "EXTERNAL_POSTING_ID_PARAMS",
    "TEMPLATE_ID_PARAMS",
    "check_filters",
    "filter_assumptions",
]

#: OP-8: time-bound parameter names tried when the assumed one is ignored.
COMPLETED_AFTER_PARAMS: Final = (
    "completedAfter",
    "completed_after",
    "since",
    "updatedAfter",
    "completedSince",
)
#: OP-8: template filter names tried when the assumed one is ignored.
TEMPLATE_ID_PARAMS: Final = ("templateId", "template_id", "template")
#: OP-8: posting filter names tried when the assumed one is ignored.
EXTERNAL_POSTING_ID_PARAMS: Final = ("externalPostingId", "external_posting_id", "postingId")

_NO_MATCH_ID: Final = "ntrvsta-doctor-no-such-id"
_IGNORED_FIX: Final = {
    "param_completed_after": (
        "no known parameter filters by time: results.list() and the ResultPoller drop older "
        "results themselves, but every pass reads the whole history"
    ),
    "param_template_id": "no known parameter filters by template: filter on result.template_id",
    "param_external_posting_id": (
        "no known parameter filters by posting: filter on result.external_posting_id"
    ),
}


#: (check name, Contract field, names to try) of each filter, in the order they run.
_FILTERS: Final = (
    ("filter-completed-after", "param_completed_after", COMPLETED_AFTER_PARAMS),
    ("filter-template-id", "param_template_id", TEMPLATE_ID_PARAMS),
    ("filter-external-posting-id", "param_external_posting_id", EXTERNAL_POSTING_ID_PARAMS),
)


def filter_assumptions(contract: Contract) -> dict[str, str]:
    """The OP-8 assumption of every filter check, by check name, in the order they run."""
    return {
        check: f"the '{getattr(contract, field)}' query parameter narrows a listing"
        for check, field, _ in _FILTERS
    }


def _no_match_value(field: str) -> str:
    """A value of the filter that no result can match."""
    if field == "param_completed_after":
        return (datetime.now(UTC) + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    return _NO_MATCH_ID


async def check_filters(probe: Probe, contract: Contract) -> list[Finding]:
    """OP-8: each filter parameter, sent with a value that matches no result."""
    assumptions = filter_assumptions(contract)
    baseline = await probe.send("GET", contract.results_path)
    items_key, items = find_items(baseline.body, contract) if baseline.ok else (None, None)
    if items_key is None or not items:
        why = "not checked: no results to filter (complete an interview and run again)"
        return [not_run("OP-8", check, text, why) for check, text in assumptions.items()]
    return [
        await _filter_finding(probe, contract, items_key, check, field, names, assumptions[check])
        for check, field, names in _FILTERS
    ]


async def _filter_finding(
    probe: Probe,
    contract: Contract,
    items_key: str,
    check: str,
    field: str,
    names: tuple[str, ...],
    assumption: str,
) -> Finding:
    found = functools.partial(Finding, op="OP-8", check=check, assumption=assumption)
    assumed = getattr(contract, field)
    value = _no_match_value(field)
    tried: list[str] = []
    for name in unique([assumed, *names]):
        ex = await probe.send("GET", contract.results_path, params={name: value})
        outcome = _outcome(ex, items_key, field)
        if outcome is None:
            tried.append(f"{name}: {_ignored(ex, items_key)}")
            continue
        observed = f"{name}={_shown(field, value)} {outcome}"
        return name_found(found, contract, field=field, name=name, observed=observed, tried=tried)
    return found(
        observed="; ".join(tried),
        status=Status.DIFFERS,
        advice=_IGNORED_FIX[field],
    )


def _outcome(ex: Exchange, items_key: str, field: str) -> str | None:
    """How ``ex`` shows the filter was read, or None when it was not."""
    if ex.status == 404 and field != "param_completed_after":
        return "was refused as unknown (HTTP 404), so it is read"
    page = items_of(ex, items_key)
    if page is not None and not page:
        return "returned no results, as it should"
    return None


def _ignored(ex: Exchange, items_key: str) -> str:
    page = items_of(ex, items_key)
    if page is None:
        return describe(ex)
    return f"{len(page)} result(s) although none can match (parameter ignored)"


def _shown(field: str, value: str) -> str:
    return "<a day ahead>" if field == "param_completed_after" else value

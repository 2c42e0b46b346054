"""Reading results (OP-8): the page's array and token keys, page size, the second page, fields."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ntrvsta_async.assumptions import (
    PAGE_CURSOR_KEYS,
    PAGE_ITEMS_KEYS,
    TOKEN_KEY_PATTERN,
    Contract,
)
from ntrvsta_async.doctor._shared import describe, ms, name_found, names, not_run, unique
from ntrvsta_async.doctor.probe import Exchange, Probe
from ntrvsta_async.doctor.report import NO_SETTING_NEEDED, Finding, Status

__all__ = [
    "CURSOR_PARAMS",
    "LIMIT_PARAMS",
    "SUMMARY_FIELDS",
    "check_results",
    "find_items",
    "items_of",
    "results_assumptions",
]

#: OP-8: page-size parameter names tried when the assumed one has no effect.
LIMIT_PARAMS: Final = ("limit", "pageSize", "page_size", "maxResults", "per_page")
#: OP-8: continuation parameter names tried when the assumed one is refused or ignored.
CURSOR_PARAMS: Final = (
    "cursor",
    "pageToken",
    "page_token",
    "nextPageToken",
    "next",
    "after",
    "startingAfter",
)
#: OP-8: summary fields, documented ones first, then assumed ones.
SUMMARY_FIELDS: Final = ("resultUrl", "overallScore", "resultId", "completedAt")
_DOCUMENTED_SUMMARY: Final = frozenset({"resultUrl", "overallScore"})
#: Fields ``ResultSummary`` maps to attributes; others land in ``.extra``.
_MODELLED_SUMMARY: Final = frozenset(
    {*SUMMARY_FIELDS, "templateId", "externalPostingId", "invitationId", "candidate", "status"}
)
_PIN_FALLBACK: Final = "the SDK already reads it as a fallback: pin it"
_SUMMARY_ASSUMPTION: Final = (
    "each result carries resultUrl and overallScore (documented), resultId and completedAt "
    "(assumed)"
)


def _result_key(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("resultId", "resultUrl"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return json.dumps(item, sort_keys=True, default=str)


def find_items(page: Any, contract: Contract) -> tuple[str | None, list[Any] | None]:
    """The key of a page's result array ("" for a bare array) and the array itself."""
    if isinstance(page, list):
        return "", page
    if not isinstance(page, Mapping):
        return None, None
    for key in unique([*contract.page_items_keys, *PAGE_ITEMS_KEYS]):
        if isinstance(page.get(key), list):
            return key, list(page[key])
    lists = [(str(k), v) for k, v in page.items() if isinstance(v, list)]
    of_objects = [(k, v) for k, v in lists if v and all(isinstance(i, Mapping) for i in v)]
    chosen = of_objects or lists
    if chosen:
        return chosen[0][0], list(chosen[0][1])
    return None, None


def items_of(ex: Exchange, items_key: str) -> list[Any] | None:
    """The result array of a successful JSON answer under ``items_key`` ("" for a bare
    array); None when the answer has none there."""
    if not ex.ok or not ex.is_json:
        return None
    if items_key == "":
        return list(ex.body) if isinstance(ex.body, list) else None
    value = ex.body.get(items_key) if isinstance(ex.body, Mapping) else None
    return list(value) if isinstance(value, list) else None


def _find_token(
    page: Any, items_key: str, contract: Contract
) -> tuple[str | None, str | None, bool]:
    """(key, token, present): the continuation key and its value; ``present`` when a known
    key exists even with a null value. Nested keys come back dotted (``paging.next``)."""
    if not isinstance(page, Mapping):
        return None, None, False
    known = unique([*contract.page_cursor_keys, *PAGE_CURSOR_KEYS])
    for key in known:
        value = page.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return key, str(value), True
    for key, value in page.items():
        if key == items_key or not isinstance(value, str) or not value:
            continue
        if TOKEN_KEY_PATTERN.search(str(key)):
            return str(key), value, True
    for key, value in page.items():
        if key == items_key or not isinstance(value, Mapping):
            continue
        for inner, token in value.items():
            if isinstance(token, str) and token and TOKEN_KEY_PATTERN.search(str(inner)):
                return f"{key}.{inner}", token, True
    present = next((key for key in known if key in page), None)
    return present, None, present is not None


def _items_finding(
    key: str | None, items: list[Any] | None, page: Any, contract: Contract
) -> Finding:
    found = functools.partial(
        Finding, op="OP-8", check="page-items-key", assumption=_items_assumption(contract)
    )
    if key is None:
        keys = names(page) if isinstance(page, Mapping) else type(page).__name__
        return found(
            observed=f"no array in the page (top-level keys: {keys})",
            status=Status.DIFFERS,
            advice="the SDK cannot read this page; read it with client.request() meanwhile",
        )
    count = len(items or [])
    if key == "":
        return found(
            observed=f"a bare JSON array of {count} results (no page object, so no paging)",
            status=Status.DIFFERS,
            advice=NO_SETTING_NEEDED + "the SDK reads a bare array as the only page",
        )
    observed = f"'{key}' ({count} results)"
    if key == contract.page_items_keys[0]:
        return found(observed=observed, status=Status.OK)
    return found(
        observed=observed,
        status=Status.DIFFERS,
        advice=_PIN_FALLBACK if key in contract.page_items_keys else None,
        override={"page_items_keys": (key,)},
    )


def _summary_finding(items: list[Any]) -> Finding:
    found = functools.partial(
        Finding, op="OP-8", check="summary-fields", assumption=_SUMMARY_ASSUMPTION
    )
    records = [item for item in items if isinstance(item, Mapping)]
    if not records:
        return found(
            observed="no completed results to inspect: complete an interview (or use an "
            "organization that has results) and run again",
            status=Status.UNKNOWN,
        )
    seen = unique(str(key) for record in records for key in record)
    missing = [name for name in SUMMARY_FIELDS if not all(name in r for r in records)]
    others = [name for name in seen if name not in SUMMARY_FIELDS]
    extra = [name for name in others if name not in _MODELLED_SUMMARY]
    tail = f"; also: {', '.join(others)}" if others else ""
    if extra:
        tail += f" (kept in ResultSummary.extra: {', '.join(extra)})"
    if not missing:
        return found(observed=f"all present in {len(records)} results{tail}", status=Status.OK)
    notes = []
    if "resultId" in missing:
        notes.append("ResultSummary.key falls back to resultUrl; dedup webhooks by it too")
    if "completedAt" in missing:
        notes.append("the ResultPoller cannot checkpoint by time and relies on full sweeps")
    if _DOCUMENTED_SUMMARY.intersection(missing):
        notes.append("documented fields are absent: report it to NTRVSTA")
    return found(
        observed=f"missing: {', '.join(missing)} (in {len(records)} results){tail}",
        status=Status.DIFFERS,
        advice=NO_SETTING_NEEDED + "; ".join(notes),
    )


def results_assumptions(contract: Contract) -> dict[str, str]:
    """The OP-8 assumption of every results check, by check name, in the order they run."""
    return {
        "results-endpoint": f"GET {contract.results_path} answers 200 with a JSON page",
        "page-items-key": _items_assumption(contract),
        "summary-fields": _SUMMARY_ASSUMPTION,
        "page-size-param": f"the '{contract.param_limit}' query parameter sets the page size",
        "page-cursor-key": (
            f"a page holds the next page's token under '{contract.page_cursor_keys[0]}'"
        ),
        "second-page": f"sending that token as '{contract.param_cursor}' returns the next page",
    }


def _items_assumption(contract: Contract) -> str:
    return f"a page holds its results in an array under '{contract.page_items_keys[0]}'"


async def check_results(probe: Probe, contract: Contract) -> list[Finding]:
    """OP-8: the results endpoint, its array and token keys, page size and the second page."""
    path = contract.results_path
    assumptions = results_assumptions(contract)

    def rest(after: str, why: str) -> list[Finding]:
        names = list(assumptions)
        return [
            not_run("OP-8", name, assumptions[name], why)
            for name in names[names.index(after) + 1 :]
        ]

    first = await probe.send("GET", path)
    endpoint = functools.partial(
        Finding, op="OP-8", check="results-endpoint", assumption=assumptions["results-endpoint"]
    )
    if not first.ok or not first.is_json:
        if first.ok:
            observed = f"HTTP {first.status} but not JSON: {first.text[:80]!r}"
        else:
            observed = describe(first)
        status = Status.UNKNOWN if first.status is None or first.status >= 500 else Status.DIFFERS
        finding = endpoint(
            observed=observed,
            status=status,
            advice=None if status is Status.UNKNOWN else "check --base-url and the results path",
        )
        return [finding, *rest("results-endpoint", "not checked: no results page was read")]
    findings = [endpoint(observed=f"HTTP {first.status} in {ms(first.elapsed)}", status=Status.OK)]
    items_key, items = find_items(first.body, contract)
    findings.append(_items_finding(items_key, items, first.body, contract))
    if items_key is None or items is None:
        return findings + rest("page-items-key", "not checked: the page holds no result array")
    findings.append(_summary_finding(items))
    if items_key == "":
        return findings + rest("summary-fields", "not checked: a bare array has no paging")

    limit_param, small, size_finding = await _page_size(
        probe, contract, items_key, items, assumptions["page-size-param"]
    )
    findings.append(size_finding)
    source = small if small is not None else first
    findings.append(
        _cursor_finding(source, items_key, contract, assumptions["page-cursor-key"], small)
    )
    key, token, _ = _find_token(source.body, items_key, contract)
    if token is None or key is None or "." in key:
        why = "not checked: no next-page token to follow"
        if len(items) < 2:
            why = "not checked: fewer than two results, so there is no second page"
        findings.append(not_run("OP-8", "second-page", assumptions["second-page"], why))
        return findings
    source_items = items_of(source, items_key) or []
    findings.append(
        await _second_page(
            probe,
            contract,
            items_key,
            limit_param,
            key,
            token,
            source_items,
            assumptions["second-page"],
        )
    )
    return findings


async def _page_size(
    probe: Probe,
    contract: Contract,
    items_key: str,
    items: Sequence[Any],
    assumption: str,
) -> tuple[str | None, Exchange | None, Finding]:
    """The parameter that makes a page hold one result, the one-result page, and the finding."""
    found = functools.partial(Finding, op="OP-8", check="page-size-param", assumption=assumption)
    if len(items) < 2:
        why = (
            f"not checked: only {len(items)} result(s) visible; paging needs at least two "
            "(complete more interviews)"
        )
        return None, None, found(observed=why, status=Status.UNKNOWN)
    path = contract.results_path
    tried: list[str] = []
    for name in unique([contract.param_limit, *LIMIT_PARAMS]):
        ex = await probe.send("GET", path, params={name: "1"})
        count = items_of(ex, items_key)
        if count is not None and len(count) == 1:
            observed = f"{name}=1 gave a page of 1 result"
            return (
                name,
                ex,
                name_found(
                    found, contract, field="param_limit", name=name, observed=observed, tried=tried
                ),
            )
        outcome = f"{len(count)} results" if count is not None else describe(ex)
        tried.append(f"{name}=1 gave {outcome}")
    return (
        None,
        None,
        found(
            observed="; ".join(tried),
            status=Status.DIFFERS,
            advice="no known page-size parameter works; results.list() still reads every page",
        ),
    )


def _cursor_finding(
    source: Exchange,
    items_key: str,
    contract: Contract,
    assumption: str,
    small: Exchange | None,
) -> Finding:
    found = functools.partial(Finding, op="OP-8", check="page-cursor-key", assumption=assumption)
    key, token, present = _find_token(source.body, items_key, contract)
    if token is None:
        link = source.header("Link")
        if link and "next" in link:
            return found(
                observed="no token in the body; pages are linked by a Link: rel=next header",
                status=Status.DIFFERS,
                advice="the Contract cannot follow Link headers; page with client.request()",
            )
        if small is None:
            if present and key is not None:
                return _token_key_finding(found, key, contract, "present (null: one page)")
            return found(
                observed="not checked: no page with more results to follow was obtained",
                status=Status.UNKNOWN,
            )
        keys = names(str(k) for k in source.body) if isinstance(source.body, Mapping) else "-"
        return found(
            observed=f"a one-result page of several carries no token (keys: {keys})",
            status=Status.DIFFERS,
            advice="paging style unknown: results.list() will stop after the first page",
        )
    assert key is not None
    if "." in key:
        return found(
            observed=f"token nested at '{key}'",
            status=Status.DIFFERS,
            advice="the Contract reads top-level keys only; page with client.request()",
        )
    return _token_key_finding(found, key, contract, "holds the token")


def _token_key_finding(
    found: functools.partial[Finding], key: str, contract: Contract, what: str
) -> Finding:
    if key == contract.page_cursor_keys[0]:
        return found(observed=f"'{key}' {what}", status=Status.OK)
    return found(
        observed=f"'{key}' {what}",
        status=Status.DIFFERS,
        advice=_PIN_FALLBACK if key in contract.page_cursor_keys else None,
        override={"page_cursor_keys": (key,)},
    )


async def _second_page(
    probe: Probe,
    contract: Contract,
    items_key: str,
    limit_param: str | None,
    token_key: str,
    token: str,
    first_items: Sequence[Any],
    assumption: str,
) -> Finding:
    found = functools.partial(Finding, op="OP-8", check="second-page", assumption=assumption)
    base = {limit_param: "1"} if limit_param else {}
    first_keys = {_result_key(item) for item in first_items}
    tried: list[str] = []
    for name in unique([contract.param_cursor, *CURSOR_PARAMS, token_key]):
        ex = await probe.send("GET", contract.results_path, params={**base, name: token})
        page = items_of(ex, items_key)
        if page is None:
            tried.append(f"{name}: {describe(ex)}")
            continue
        if not page:
            tried.append(f"{name}: an empty page")
            continue
        if first_keys.intersection(_result_key(item) for item in page):
            tried.append(f"{name}: the first page again (parameter ignored)")
            continue
        observed = f"{name}=<token> returned the next page ({len(page)} result(s), none repeated)"
        return name_found(
            found, contract, field="param_cursor", name=name, observed=observed, tried=tried
        )
    return found(
        observed="; ".join(tried),
        status=Status.DIFFERS,
        advice="no known parameter takes the token: results.list() cannot go past the first page",
    )

"""``client.results``: page through completed interview results (OP-8)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from typing import Any

from .._converter import structure
from ..assumptions import DEFAULT_CONTRACT, Contract
from ..errors import InvalidArgumentError, ResponseValidationError, WaitTimeoutError
from ..models import Page, ResultSummary
from ..transport import Transport
from ._params import check, format_time

__all__ = ["Results", "parse_page"]

logger = logging.getLogger("ntrvsta_async")


def parse_page(data: Any, contract: Contract = DEFAULT_CONTRACT) -> Page[ResultSummary]:
    """Read a results page whatever its array and cursor keys (OP-8); a bare array is one page."""
    raw_items, path, cursor = _page_parts(data, contract)
    return Page(
        items=structure(raw_items, tuple[ResultSummary, ...], path=path), next_cursor=cursor
    )


def _page_parts(data: Any, contract: Contract) -> tuple[list[Any], str, str | None]:
    """A page's raw items, their JSON path and its next cursor, before any model is built."""
    if isinstance(data, list):
        return data, "$", None
    if not isinstance(data, Mapping):
        raise ResponseValidationError(
            "a results page must be a JSON object or array", path="$", body=data
        )
    items_key = next(
        (key for key in contract.page_items_keys if isinstance(data.get(key), list)), None
    )
    if items_key is None:
        raise ResponseValidationError(
            f"a results page has no array under any of {list(contract.page_items_keys)}",
            path=f"$.{contract.page_items_keys[0]}",
            body=data,
        )
    cursor: Any = None
    for key in contract.page_cursor_keys:
        if data.get(key) is not None:
            cursor = data[key]
            if isinstance(cursor, bool) or not isinstance(cursor, str | int):
                raise ResponseValidationError(
                    f"page cursor must be a string, got {type(cursor).__name__}",
                    path=f"$.{key}",
                    body=data,
                )
            break
    next_cursor = str(cursor) if cursor not in (None, "") else None
    return data[items_key], f"$.{items_key}", next_cursor


async def _discard(task: asyncio.Task[Any]) -> None:
    """Cancel a read-ahead request nobody will consume and wait until it has ended."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


def _query(
    contract: Contract,
    *,
    cursor: str | None,
    template_id: str | None,
    external_posting_id: str | None,
    completed_after: datetime | str | None,
    limit: int | None,
    extra_params: Mapping[str, Any],
) -> dict[str, str]:
    check("cursor", cursor, str)
    check("template_id", template_id, str)
    check("external_posting_id", external_posting_id, str)
    check("limit", limit, int)
    if limit is not None and limit < 1:
        raise InvalidArgumentError("limit must be at least 1")
    params: dict[str, str] = {}
    for key, value in extra_params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            params[key] = str(value)
        else:
            raise InvalidArgumentError(
                f"query parameter {key} must be a string or number, not {type(value).__name__}"
            )
    named = {
        contract.param_limit: str(limit) if limit is not None else None,
        contract.param_cursor: cursor,
        contract.param_template_id: template_id,
        contract.param_external_posting_id: external_posting_id,
        contract.param_completed_after: (
            format_time("completed_after", completed_after) if completed_after is not None else None
        ),
    }
    params.update({key: value for key, value in named.items() if value is not None})
    return params


class Results:
    """Completed-result operations; reach them as ``client.results``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list_page(
        self,
        *,
        cursor: str | None = None,
        template_id: str | None = None,
        external_posting_id: str | None = None,
        completed_after: datetime | str | None = None,
        limit: int | None = None,
        **extra_params: Any,
    ) -> Page[ResultSummary]:
        """Fetch one page; pass its ``next_cursor`` back as ``cursor`` for the next one.

        ``extra_params`` are sent verbatim, for filters the SDK does not name yet.
        """
        contract = self._transport.contract
        data = await self._get(
            contract,
            cursor=cursor,
            template_id=template_id,
            external_posting_id=external_posting_id,
            completed_after=completed_after,
            limit=limit,
            extra_params=extra_params,
        )
        return parse_page(data, contract)

    async def list_page_raw(
        self,
        *,
        cursor: str | None = None,
        template_id: str | None = None,
        external_posting_id: str | None = None,
        completed_after: datetime | str | None = None,
        limit: int | None = None,
        **extra_params: Any,
    ) -> Page[Any]:
        """Like ``list_page``, but each item is the decoded JSON exactly as the server sent
        it (no model, nothing reformatted): for tools that pass results on untouched."""
        contract = self._transport.contract
        data = await self._get(
            contract,
            cursor=cursor,
            template_id=template_id,
            external_posting_id=external_posting_id,
            completed_after=completed_after,
            limit=limit,
            extra_params=extra_params,
        )
        raw_items, _, next_cursor = _page_parts(data, contract)
        return Page(items=tuple(raw_items), next_cursor=next_cursor)

    async def _get(self, contract: Contract, **query: Any) -> Any:
        """One page's decoded JSON, as the server sent it."""
        response = await self._transport.request(
            "GET", contract.results_path, params=_query(contract, **query), safe=True
        )
        return response.data

    async def list(
        self,
        *,
        template_id: str | None = None,
        external_posting_id: str | None = None,
        completed_after: datetime | str | None = None,
        limit: int | None = None,
        **extra_params: Any,
    ) -> AsyncGenerator[ResultSummary, None]:
        """Every completed result matching the filters, reading page after page.

        The next page is requested as soon as a page arrives, so the server works on it
        while this one is built and consumed; leaving the loop early (or ``aclose()``)
        cancels that request.
        No order is promised (OP-8). A cursor the server repeats ends the listing instead
        of looping forever.
        """
        contract = self._transport.contract
        fetch = functools.partial(
            self._get,
            contract,
            template_id=template_id,
            external_posting_id=external_posting_id,
            completed_after=completed_after,
            limit=limit,
            extra_params=extra_params,
        )
        seen: set[str] = set()
        data = await fetch(cursor=None)
        ahead: asyncio.Task[Any] | None = None
        try:
            while True:
                raw_items, path, cursor = _page_parts(data, contract)
                if cursor is not None and raw_items:
                    if cursor in seen:
                        logger.warning("results listing stopped: the server repeated a page cursor")
                    else:
                        seen.add(cursor)
                        ahead = asyncio.create_task(fetch(cursor=cursor))
                        await asyncio.sleep(0)
                for item in structure(raw_items, tuple[ResultSummary, ...], path=path):
                    yield item
                if ahead is None:
                    return
                data = await ahead
                ahead = None
        finally:
            if ahead is not None:
                await _discard(ahead)

    async def wait_for(
        self,
        key: str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - a deadline for many requests, by design
        template_id: str | None = None,
        completed_after: datetime | str | None = None,
        poll_interval: float = 1.0,
        max_poll_interval: float = 30.0,
    ) -> ResultSummary:
        """Poll until a result for ``key`` (a result id, result URL or invitation id) appears.

        Waits grow from ``poll_interval`` to ``max_poll_interval``; past ``timeout`` seconds
        ``WaitTimeoutError`` is raised. Meant for scripts: services should use webhooks and
        the ``ResultPoller``.
        """
        check("key", key, str, optional=False)
        if timeout <= 0 or poll_interval <= 0 or max_poll_interval < poll_interval:
            raise InvalidArgumentError(
                "timeout and poll_interval must be positive, max_poll_interval >= poll_interval"
            )
        delay = poll_interval
        try:
            async with asyncio.timeout(timeout):
                while True:
                    listing = self.list(template_id=template_id, completed_after=completed_after)
                    async with contextlib.aclosing(listing):  # cancels the page read ahead
                        async for item in listing:
                            if key in (item.result_id, item.result_url, item.invitation_id):
                                return item
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, max_poll_interval)
        except TimeoutError:
            raise WaitTimeoutError(
                f"no completed result for {key!r} within {timeout:g} s"
            ) from None

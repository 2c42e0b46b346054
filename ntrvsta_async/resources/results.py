"""``client.results``: page through completed interview results (OP-8)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
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
    if isinstance(data, list):
        return Page(items=structure(data, tuple[ResultSummary, ...]), next_cursor=None)
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
    items = structure(data[items_key], tuple[ResultSummary, ...], path=f"$.{items_key}")
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
    return Page(items=items, next_cursor=str(cursor) if cursor not in (None, "") else None)


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
        params = _query(
            contract,
            cursor=cursor,
            template_id=template_id,
            external_posting_id=external_posting_id,
            completed_after=completed_after,
            limit=limit,
            extra_params=extra_params,
        )
        response = await self._transport.request(
            "GET", contract.results_path, params=params, safe=True
        )
        return parse_page(response.data, contract)

    async def list(
        self,
        *,
        template_id: str | None = None,
        external_posting_id: str | None = None,
        completed_after: datetime | str | None = None,
        limit: int | None = None,
        **extra_params: Any,
    ) -> AsyncIterator[ResultSummary]:
        """Every completed result matching the filters, reading page after page.

        No order is promised (OP-8). A cursor the server repeats ends the listing instead
        of looping forever.
        """
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page = await self.list_page(
                cursor=cursor,
                template_id=template_id,
                external_posting_id=external_posting_id,
                completed_after=completed_after,
                limit=limit,
                **extra_params,
            )
            for item in page.items:
                yield item
            cursor = page.next_cursor
            if cursor is None or not page.items:
                return
            if cursor in seen:
                logger.warning("results listing stopped: the server repeated a page cursor")
                return
            seen.add(cursor)

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
                    async for item in self.list(
                        template_id=template_id, completed_after=completed_after
                    ):
                        if key in (item.result_id, item.result_url, item.invitation_id):
                            return item
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, max_poll_interval)
        except TimeoutError:
            raise WaitTimeoutError(
                f"no completed result for {key!r} within {timeout:g} s"
            ) from None

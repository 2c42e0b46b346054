"""``client.results``: page through completed interview results (OP-8)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, Mapping
from datetime import datetime
from typing import Any

import attrs

from ntrvsta_async._checks import is_positive_number
from ntrvsta_async._converter import parse_datetime, structure
from ntrvsta_async._redact import sdk_logger
from ntrvsta_async.assumptions import DEFAULT_CONTRACT, TOKEN_KEY_PATTERN, Contract
from ntrvsta_async.errors import InvalidArgumentError, ResponseValidationError, WaitTimeoutError
from ntrvsta_async.models import Page, ResultSummary
from ntrvsta_async.resources._params import check, format_time, query_params
from ntrvsta_async.transport import Response, Transport, parse_http_date

__all__ = ["Results", "parse_page"]

logger = sdk_logger("ntrvsta_async")


def parse_page(
    data: Any, contract: Contract = DEFAULT_CONTRACT, *, server_time: datetime | None = None
) -> Page[ResultSummary]:
    """Read a results page whatever its array and cursor keys (OP-8); a bare array is one page.

    An item that cannot be read is left out and described in ``Page.skipped`` (its JSON
    path and why), so one bad result never costs the others. ``ResponseValidationError`` is
    raised only for a page with no readable array or cursor.
    """
    raw_items, path, cursor = _page_parts(data, contract)
    try:  # the whole array at once, as nearly every page allows
        items = structure(raw_items, tuple[ResultSummary, ...], path=path)
        skipped: tuple[str, ...] = ()
    except ResponseValidationError:
        items, skipped = _readable_items(raw_items, path)
    return Page(items=items, next_cursor=cursor, skipped=skipped, server_time=server_time)


def _readable_items(
    raw_items: list[Any], path: str
) -> tuple[tuple[ResultSummary, ...], tuple[str, ...]]:
    """Each item that builds a ``ResultSummary``, and a description of each that does not."""
    items: list[ResultSummary] = []
    skipped: list[str] = []
    for index, raw in enumerate(raw_items):
        try:
            items.append(structure(raw, ResultSummary, path=f"{path}[{index}]"))
        except ResponseValidationError as exc:  # names types and paths, never a value
            skipped.append(str(exc))
    return tuple(items), tuple(skipped)


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


def _unread_token_key(data: Any, contract: Contract) -> str | None:
    """The key of a token-like string on a page where none of the contract's cursor keys is
    (a filter the server echoes, such as ``completedAfter``, is no token)."""
    if not isinstance(data, Mapping) or any(key in data for key in contract.page_cursor_keys):
        return None
    echoed = {
        contract.param_completed_after,
        contract.param_template_id,
        contract.param_external_posting_id,
        contract.param_limit,
    }
    return next(
        (
            key
            for key, value in data.items()
            if isinstance(value, str)
            and value
            and key not in echoed
            and TOKEN_KEY_PATTERN.search(key)
        ),
        None,
    )


def _bound(completed_after: datetime | str | None) -> datetime | None:
    """The ``completed_after`` bound as an aware datetime; None when unset or unreadable."""
    if isinstance(completed_after, str):
        try:
            return parse_datetime(completed_after)
        except ValueError:
            return None
    return completed_after


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
    params = query_params(extra_params)
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
        self._warned: set[str] = set()

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

        ``extra_params`` are sent verbatim, for filters the SDK does not name yet. Results
        completed before ``completed_after`` are left out even when the server sends them.
        """
        contract = self._transport.contract
        response = await self._get(
            contract,
            cursor=cursor,
            template_id=template_id,
            external_posting_id=external_posting_id,
            completed_after=completed_after,
            limit=limit,
            extra_params=extra_params,
        )
        server_time = parse_http_date(response.headers.get("Date"))
        page = parse_page(response.data, contract, server_time=server_time)
        return self._checked(page, response.data, _bound(completed_after))

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
        response = await self._get(
            contract,
            cursor=cursor,
            template_id=template_id,
            external_posting_id=external_posting_id,
            completed_after=completed_after,
            limit=limit,
            extra_params=extra_params,
        )
        raw_items, _, next_cursor = _page_parts(response.data, contract)
        return Page(items=tuple(raw_items), next_cursor=next_cursor)

    async def _get(self, contract: Contract, **query: Any) -> Response:
        """One page's response, its body decoded as the server sent it."""
        transport = self._transport
        params = _query(contract, **query)
        return await transport.send(
            transport.build_request("GET", contract.results_path, params=params, safe=True)
        )

    def _checked(
        self, page: Page[ResultSummary], data: Any, bound: datetime | None
    ) -> Page[ResultSummary]:
        """``page`` without results older than ``bound``; warns (once per client) of a server
        that ignores the bound or pages under a token key the contract does not read."""
        contract = self._transport.contract
        if page.next_cursor is None:
            token_key = _unread_token_key(data, contract)
            if token_key is not None:
                self._warn_once(
                    "token-key",
                    f"a results page holds a token under {token_key[:40]!r}, a key the contract "
                    f"does not read ({', '.join(contract.page_cursor_keys)}): listings end "
                    "after the first page",
                )
        if bound is None:
            return page
        kept = tuple(
            item
            for item in page.items
            if item.completed_datetime is None or item.completed_datetime >= bound
        )
        if len(kept) == len(page.items):
            return page
        self._warn_once(
            "completed-after",
            f"the server sent results completed before the requested "
            f"{contract.param_completed_after}, so it seems to ignore that filter: they are "
            "left out here, but every listing reads the whole history",
        )
        return attrs.evolve(page, items=kept)

    def _warn_once(self, what: str, problem: str) -> None:
        """Log ``problem`` the first time this client meets it, naming the command that helps."""
        if what in self._warned:
            return
        self._warned.add(what)
        logger.warning(
            "%s. Run 'ntrvsta doctor --base-url %s' for the Contract setting that fixes it",
            problem,
            self._transport.base_url,
        )

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
        No order is promised (OP-8). An empty page with a cursor does not end the listing;
        a cursor the server repeats does, instead of looping forever. A result that cannot
        be read is logged (with its JSON path) and skipped.
        """
        contract = self._transport.contract
        bound = _bound(completed_after)
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
        data = (await fetch(cursor=None)).data
        ahead: asyncio.Task[Response] | None = None
        try:
            while True:
                _, _, cursor = _page_parts(data, contract)
                if cursor is not None:
                    if cursor in seen:
                        logger.warning("results listing stopped: the server repeated a page cursor")
                    else:
                        seen.add(cursor)
                        ahead = asyncio.create_task(fetch(cursor=cursor))
                        await asyncio.sleep(0)
                page = self._checked(parse_page(data, contract), data, bound)
                for description in page.skipped:
                    logger.warning("results listing: skipped a result: %s", description)
                for item in page.items:
                    yield item
                if ahead is None:
                    return
                data = (await ahead).data
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
        if not all(map(is_positive_number, (timeout, poll_interval, max_poll_interval))) or (
            max_poll_interval < poll_interval
        ):
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

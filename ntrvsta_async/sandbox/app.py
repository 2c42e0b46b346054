"""The sandbox's aiohttp application: the three ``/v1`` routes, auth, faults and JSON errors.

Order of work for each request: unknown route or method (404/405, no auth needed), then
the fault plan (latency, injected status, connection reset), then authentication (401),
then the handler. Every error body is ``{"message": ..., "code": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
import struct
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from aiohttp import web

from ntrvsta_async.assumptions import (
    DEFAULT_CONTRACT,
    PARAM_COMPLETED_AFTER,
    PARAM_CURSOR,
    PARAM_EXTERNAL_POSTING_ID,
    PARAM_LIMIT,
    PARAM_TEMPLATE_ID,
    Contract,
)
from ntrvsta_async.sandbox.cursor import CursorCodec, InvalidCursor
from ntrvsta_async.sandbox.faults import FaultInjector, RequestFault
from ntrvsta_async.sandbox.state import NotFound, SandboxState
from ntrvsta_async.sandbox.validation import (
    RequestError,
    parse_invitation,
    parse_json_body,
    parse_results_query,
    parse_template,
)

__all__ = ["InjectedFault", "SandboxContext", "build_app", "normalize_prefix"]

logger = logging.getLogger("ntrvsta_async.sandbox")

_ORGANIZATION: Final = web.RequestKey("organization", str)
_REASONS: Final = {
    429: ("rate_limited", "Too many requests (sandbox fault plan)"),
    500: ("internal_error", "Internal server error (sandbox fault plan)"),
    502: ("bad_gateway", "Bad gateway (sandbox fault plan)"),
    503: ("service_unavailable", "Service unavailable (sandbox fault plan)"),
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class InjectedFault:
    """A fault the plan applied: the route, the request's number on it (1-based), its kind."""

    route: str
    request_number: int
    kind: str
    delay: float


class SandboxContext:
    """What the routes share: state, cursor key, fault injector, request bookkeeping, and
    the wire they speak: a ``Contract`` and the sandbox-only ``reused_flag``/``accept_bearer``.
    """

    def __init__(
        self,
        state: SandboxState,
        *,
        faults: FaultInjector | None = None,
        cursors: CursorCodec | None = None,
        contract: Contract = DEFAULT_CONTRACT,
        reused_flag: bool = True,
        accept_bearer: bool = True,
    ) -> None:
        self.state = state
        self.faults = faults
        self.cursors = cursors or CursorCodec()
        self.contract = contract
        self.reused_flag = reused_flag
        self.accept_bearer = accept_bearer
        self.request_counts: Counter[str] = Counter()
        self.injected: list[InjectedFault] = []
        self.on_invitation_created: Callable[[str], None] | None = None


def normalize_prefix(prefix: str) -> str:
    """``"dev"``, ``"/dev/"`` -> ``"/dev"``; ``""`` and ``"/"`` -> ``""``."""
    stripped = prefix.strip().strip("/")
    if any(ch in stripped for ch in "?#") or any(ch.isspace() for ch in stripped):
        raise ValueError("path_prefix must be a plain path such as '/dev'")
    return f"/{stripped}" if stripped else ""


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON error in the shape the contract uses."""
    return web.json_response({"message": message, "code": code}, status=status, headers=headers)


def _presented_keys(request: web.Request, context: SandboxContext) -> list[str]:
    keys: list[str] = []
    header_key = request.headers.get(context.contract.api_key_header)
    if header_key is not None:
        keys.append(header_key.strip())
    authorization = request.headers.get("Authorization") if context.accept_bearer else None
    if authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":  # another scheme (Basic, from a proxy) is not ours
            keys.append(token.strip())
    return keys


def _authenticate(context: SandboxContext, request: web.Request) -> str | None:
    """The caller's organization; every key presented must be valid and agree."""
    keys = _presented_keys(request, context)
    if not keys:
        return None
    owners = {context.state.authenticate(key) if key else None for key in keys}
    if len(owners) != 1:
        return None
    return owners.pop()


def _reset(request: web.Request) -> web.Response:
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Linger 0 turns the close into a TCP RST instead of an orderly FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    return web.Response(status=500)


async def _apply_fault(
    context: SandboxContext, route: str, request: web.Request
) -> web.StreamResponse | None:
    if context.faults is None:
        return None
    fault: RequestFault = context.faults.next_request(route)
    if fault.kind != "ok" or fault.delay:
        context.injected.append(
            InjectedFault(
                route=route,
                request_number=context.request_counts[route],
                kind=fault.kind,
                delay=fault.delay,
            )
        )
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.reset:
        return _reset(request)
    if fault.status is not None:
        code, message = _REASONS.get(fault.status, ("injected_fault", "Injected fault"))
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        return error_response(fault.status, code, message, headers=headers)
    return None


def _make_middleware(context: SandboxContext) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await _dispatch(context, request, handler)
        response.headers.setdefault("X-Request-Id", f"req_{secrets.token_hex(8)}")
        return response

    return middleware


async def _dispatch(
    context: SandboxContext, request: web.Request, handler: Handler
) -> web.StreamResponse:
    match_info = request.match_info
    http_exception = match_info.http_exception
    if http_exception is not None:
        headers = {"Allow": http_exception.headers["Allow"]} if http_exception.status == 405 else {}
        code = "method_not_allowed" if http_exception.status == 405 else "not_found"
        return error_response(http_exception.status, code, http_exception.reason, headers=headers)
    route = match_info.route.name or "unknown"
    context.request_counts[route] += 1
    faulted = await _apply_fault(context, route, request)
    if faulted is not None:
        return faulted
    organization = _authenticate(context, request)
    if organization is None:
        bearer = " or Authorization: Bearer" if context.accept_bearer else ""
        return error_response(
            401,
            "unauthorized",
            f"missing or invalid API key (send {context.contract.api_key_header}{bearer})",
            headers={"WWW-Authenticate": "Bearer"} if context.accept_bearer else None,
        )
    request[_ORGANIZATION] = organization
    try:
        return await handler(request)
    except RequestError as exc:
        return web.json_response(exc.body(), status=exc.status, headers=exc.headers)
    except web.HTTPException as exc:
        return error_response(exc.status, "http_error", exc.reason)
    except Exception:
        logger.exception("sandbox handler for %s failed", route)
        return error_response(500, "internal_error", "Internal server error")


def _now() -> datetime:
    return datetime.now(UTC)


async def _json_body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    return parse_json_body(request.headers.get("Content-Type", ""), raw)


def _results_query(query: Mapping[str, str], contract: Contract) -> dict[str, str]:
    """The results query under the SDK's default parameter names, read by the names
    ``contract`` gives them; a default name the contract renamed is not read."""
    renamed = {
        contract.param_limit: PARAM_LIMIT,
        contract.param_cursor: PARAM_CURSOR,
        contract.param_template_id: PARAM_TEMPLATE_ID,
        contract.param_external_posting_id: PARAM_EXTERNAL_POSTING_ID,
        contract.param_completed_after: PARAM_COMPLETED_AFTER,
    }
    defaults = set(renamed.values())
    out: dict[str, str] = {}
    for key, value in query.items():
        if key in renamed:
            out.setdefault(renamed[key], value)
        elif key not in defaults:
            out.setdefault(key, value)
    return out


def build_app(context: SandboxContext, *, prefix: str = "") -> web.Application:
    """The aiohttp application serving ``/v1`` under ``prefix``, on ``context.contract``.

    A status the contract leaves unread (None) is served as 200 for both outcomes.
    """
    state = context.state
    contract = context.contract

    def created(body: dict[str, Any], reused: bool) -> web.Response:
        if not context.reused_flag:
            body.pop("reused", None)
        status = contract.status_reused if reused else contract.status_created
        return web.json_response(body, status=200 if status is None else status)

    async def create_template(request: web.Request) -> web.Response:
        data = parse_template(await _json_body(request))
        record, reused = state.create_template(request[_ORGANIZATION], data, _now())
        return created(record.to_json(reused=reused), reused)

    async def create_invitation(request: web.Request) -> web.Response:
        body = await _json_body(request)
        path_template = request.match_info.get("templateId")
        if (
            path_template is not None
            and body.setdefault("templateId", path_template) != path_template
        ):
            raise RequestError(
                400,
                "invalid_request",
                "templateId in the body differs from the one in the path",
                field="templateId",
            )
        data = parse_invitation(body)
        try:
            record, reused = state.create_invitation(request[_ORGANIZATION], data, _now())
        except NotFound:
            raise RequestError(
                404, "template_not_found", "no template with this templateId", field="templateId"
            ) from None
        if not reused and context.on_invitation_created is not None:
            context.on_invitation_created(record.invitation_id)
        return created(record.to_json(reused=reused), reused)

    async def list_results(request: web.Request) -> web.Response:
        organization = request[_ORGANIZATION]
        query = parse_results_query(_results_query(request.query, contract))
        after = 0
        if query.cursor is not None:
            try:
                after = context.cursors.decode(organization, query.cursor)
            except InvalidCursor as exc:
                raise RequestError(
                    400, "invalid_cursor", str(exc), field=contract.param_cursor
                ) from None
        records, more = state.page(organization, query, after)
        next_cursor = context.cursors.encode(organization, records[-1].position) if more else None
        items = [dict(record.summary) for record in records]
        return web.json_response(
            {contract.page_items_keys[0]: items, contract.page_cursor_keys[0]: next_cursor}
        )

    app = web.Application(middlewares=[_make_middleware(context)])
    app.router.add_post(prefix + contract.templates_path, create_template, name="templates")
    app.router.add_post(prefix + contract.invitations_path, create_invitation, name="invitations")
    app.router.add_get(prefix + contract.results_path, list_results, name="results")
    return app

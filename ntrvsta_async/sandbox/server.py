"""``SandboxServer``: the embedded NTRVSTA stand-in, started and stopped as an async context."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from aiohttp import web

from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from ntrvsta_async.models import Invitation, ResultCompletedEvent, ResultSummary, Template
from ntrvsta_async.sandbox.app import InjectedFault, SandboxContext, build_app, normalize_prefix
from ntrvsta_async.sandbox.delivery import WebhookDispatcher, WebhookRetryPolicy
from ntrvsta_async.sandbox.faults import FaultInjector, FaultPlan
from ntrvsta_async.sandbox.outcomes import OutcomeFactory
from ntrvsta_async.sandbox.state import ResultRecord, SandboxState

__all__ = ["CompletedResult", "SandboxOrganization", "SandboxServer"]

logger = logging.getLogger("ntrvsta_async.sandbox")


#: Wildcard bind addresses and the loopback address a client on this host can reach them by.
_CONNECTABLE: Final = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104


def _new_api_key() -> str:
    return f"sbx_{secrets.token_hex(20)}"


def _new_webhook_secret() -> str:
    return f"sbxsec_{secrets.token_hex(24)}"


@attrs.frozen
class SandboxOrganization:
    """One tenant of the sandbox and the API key that authenticates as it."""

    organization_id: str
    api_key: str = attrs.field(repr=False)


@attrs.frozen
class CompletedResult:
    """A result the sandbox completed: what polling lists and what the webhook carries.

    ``summary_json`` and ``payload`` are the exact wire JSON; ``summary`` and ``event`` are
    the same data as SDK models.
    """

    result_id: str
    event_id: str
    invitation_id: str
    organization_id: str
    overall_score: float
    summary: ResultSummary
    event: ResultCompletedEvent
    summary_json: Mapping[str, Any] = attrs.field(repr=False)
    payload: Mapping[str, Any] = attrs.field(repr=False)


class SandboxServer:
    """An in-memory server speaking the ``/v1`` contract, for demos, tests and benchmarks.

    ``async with SandboxServer() as sandbox:`` starts it on ``sandbox.base_url`` with a
    generated key ``sandbox.api_key``; leaving the block stops it and its deliveries.
    ``contract=Contract(...)`` makes it serve another wire than the SDK's assumptions (other
    paths, page keys, parameter names, statuses, key header), to rehearse a mismatch;
    ``reused_flag=False`` leaves the ``reused`` flag out of create answers and
    ``accept_bearer=False`` refuses ``Authorization: Bearer``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: str | Iterable[str] | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        faults: FaultPlan | None = None,
        auto_complete: float | None = None,
        seed: int = 0,
        path_prefix: str = "",
        webhook_retry: WebhookRetryPolicy | None = None,
        access_log: bool = False,
        contract: Contract = DEFAULT_CONTRACT,
        reused_flag: bool = True,
        accept_bearer: bool = True,
    ) -> None:
        if auto_complete is not None and auto_complete < 0:
            raise ValueError("auto_complete must be a delay in seconds (>= 0) or None")
        self.host = host
        self._requested_port = port
        self.path_prefix = normalize_prefix(path_prefix)
        self.faults = faults
        self.auto_complete = auto_complete
        self.seed = seed
        self._access_log = access_log
        self._state = SandboxState(seed)
        self._outcomes = OutcomeFactory(seed)
        injector = FaultInjector(faults) if faults is not None else None
        if not isinstance(contract, Contract):
            raise TypeError(f"contract must be a Contract, not {type(contract).__name__}")
        self.contract = contract
        self._context = SandboxContext(
            self._state,
            faults=injector,
            contract=contract,
            reused_flag=reused_flag,
            accept_bearer=accept_bearer,
        )
        self._context.on_invitation_created = self._invitation_created
        self._dispatcher = WebhookDispatcher(retry=webhook_retry, faults=injector)
        keys = [api_keys] if isinstance(api_keys, str) else list(api_keys or [])
        self._api_keys = tuple(keys) or (_new_api_key(),)
        self._default = self._state.add_organization()
        for key in self._api_keys:
            self._state.add_key(self._default.organization_id, key)
        if webhook_url is not None:
            self.configure_webhook(webhook_url, webhook_secret)
        elif webhook_secret is not None:
            self._state.set_webhook(self._default.organization_id, None, webhook_secret)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._results: list[CompletedResult] = []
        self._completed = asyncio.Condition()
        self._background: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<SandboxServer {where}>"

    # Lifecycle

    async def start(self) -> None:
        """Bind the port and start serving (idempotent)."""
        if self._runner is not None:
            return
        await self._dispatcher.start()
        app = build_app(self._context, prefix=self.path_prefix)
        runner = web.AppRunner(
            app,
            access_log=logging.getLogger("ntrvsta_async.sandbox.access")
            if self._access_log
            else None,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self._requested_port, backlog=2048)
            await site.start()
        except BaseException:
            await runner.cleanup()
            await self._dispatcher.close()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        logger.info("NTRVSTA sandbox serving on %s", self.base_url)

    async def stop(self) -> None:
        """Stop serving, cancel pending auto-completions and deliveries, close the session."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._dispatcher.close()

    close = stop
    aclose = stop

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # Where and how to connect

    @property
    def port(self) -> int:
        """The bound TCP port (known once started)."""
        if self._port is None:
            raise RuntimeError("the sandbox is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://host:port`` plus the path prefix: what a client's ``base_url`` should be."""
        host = _CONNECTABLE.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}{self.path_prefix}"

    @property
    def api_key(self) -> str:
        """The first API key of the default organization."""
        return self._api_keys[0]

    @property
    def api_keys(self) -> tuple[str, ...]:
        """Every API key of the default organization."""
        return self._api_keys

    @property
    def organization_id(self) -> str:
        """The default organization's id (the one ``api_key`` authenticates as)."""
        return self._default.organization_id

    @property
    def webhook_url(self) -> str | None:
        """Where the default organization's webhooks go."""
        return self._state.organizations[self.organization_id].webhook_url

    @property
    def webhook_secret(self) -> str | None:
        """The default organization's signing secret."""
        return self._state.organizations[self.organization_id].webhook_secret

    def add_organization(
        self,
        *,
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> SandboxOrganization:
        """Add another tenant (for isolation tests) and return its id and key."""
        org = self._state.add_organization()
        key = api_key or _new_api_key()
        self._state.add_key(org.organization_id, key)
        if webhook_url is not None:
            self.configure_webhook(webhook_url, webhook_secret, organization_id=org.organization_id)
        return SandboxOrganization(organization_id=org.organization_id, api_key=key)

    def configure_webhook(
        self, url: str | None, secret: str | None = None, *, organization_id: str | None = None
    ) -> str | None:
        """Send an organization's webhooks to ``url`` (None stops them); returns the secret.

        Without ``secret`` the current one is kept, or a new one is generated.
        """
        org_id = organization_id or self.organization_id
        if org_id not in self._state.organizations:
            raise LookupError(f"unknown organization {org_id}")
        current = self._state.organizations[org_id].webhook_secret
        secret = secret or current or (_new_webhook_secret() if url is not None else None)
        self._state.set_webhook(org_id, url, secret)
        return secret

    # Completing interviews

    async def complete(
        self,
        invitation_id: str,
        *,
        overall_score: float | None = None,
        completed_at: datetime | None = None,
        integrity_warning: bool | None = None,
    ) -> CompletedResult:
        """Finish the invitation's interview: list the result and send ``result.completed``.

        Scores not given are drawn from the seeded stream. ``completed_at`` back-dates the
        result (it is still listed after every result completed before it).
        """
        invitation = self._state.invitations.get(invitation_id)
        if invitation is None:
            raise LookupError(f"unknown invitation {invitation_id}")
        if invitation.result_id is not None:
            raise ValueError(f"invitation {invitation_id} is already completed")
        org = self._state.organizations[invitation.organization_id]
        delivers = org.webhook_url is not None and org.webhook_secret is not None
        if delivers and self._runner is None:
            raise RuntimeError("start the sandbox before completing interviews")
        template = self._state.templates[invitation.template_id]
        now = datetime.now(UTC)
        if completed_at is None:
            when = self._state.completion_time(now)
        else:
            when = completed_at if completed_at.tzinfo else completed_at.replace(tzinfo=UTC)
            when = when.replace(microsecond=when.microsecond // 1000 * 1000)
        outcome = self._outcomes.build(
            result_id=self._state.new_id("res"),
            event_id=self._state.new_id("evt"),
            organization_id=invitation.organization_id,
            template=template,
            invitation=invitation,
            completed_at=when,
            overall_score=overall_score,
            integrity_warning=integrity_warning,
        )
        record = ResultRecord(
            position=self._state.next_position(),
            result_id=outcome.result_id,
            organization_id=invitation.organization_id,
            template_id=template.template_id,
            external_posting_id=template.external_posting_id,
            completed_at=when,
            summary=outcome.summary,
            payload=outcome.payload,
        )
        self._state.add_result(record, invitation_id)
        result = CompletedResult(
            result_id=outcome.result_id,
            event_id=outcome.event_id,
            invitation_id=invitation_id,
            organization_id=invitation.organization_id,
            overall_score=outcome.overall_score,
            summary=ResultSummary.from_dict(outcome.summary),
            event=ResultCompletedEvent.from_dict(outcome.payload),
            summary_json=outcome.summary,
            payload=outcome.payload,
        )
        self._results.append(result)
        async with self._completed:
            self._completed.notify_all()
        if org.webhook_url is not None and org.webhook_secret is not None:
            self._dispatcher.submit(
                event_id=outcome.event_id,
                result_id=outcome.result_id,
                url=org.webhook_url,
                secret=org.webhook_secret,
                body=json.dumps(outcome.payload, separators=(",", ":")).encode("utf-8"),
            )
        return result

    def _invitation_created(self, invitation_id: str) -> None:
        if self.auto_complete is None or self._runner is None:
            return
        task = asyncio.create_task(self._auto_complete(invitation_id, self.auto_complete))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _auto_complete(self, invitation_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        invitation = self._state.invitations.get(invitation_id)
        if invitation is None or invitation.result_id is not None:
            return
        try:
            await self.complete(invitation_id)
        except Exception:
            logger.exception("auto-completion of %s failed", invitation_id)

    # Observation

    @property
    def results(self) -> tuple[CompletedResult, ...]:
        """Every completed result, in completion order."""
        return tuple(self._results)

    async def wait_for_results(self, count: int) -> tuple[CompletedResult, ...]:
        """Wait until at least ``count`` results exist (say, from ``auto_complete``).

        Bound the wait with ``asyncio.timeout``.
        """
        async with self._completed:
            await self._completed.wait_for(lambda: len(self._results) >= count)
        return self.results

    @property
    def templates(self) -> tuple[Template, ...]:
        """Every stored template of every organization, in creation order."""
        return tuple(
            Template.from_dict(record.to_json(reused=False) | {"reused": None})
            for record in self._state.templates.values()
        )

    @property
    def invitations(self) -> tuple[Invitation, ...]:
        """Every stored invitation of every organization, in creation order."""
        return tuple(
            Invitation.from_dict(record.to_json(reused=False) | {"reused": None})
            for record in self._state.invitations.values()
        )

    @property
    def deliveries(self) -> WebhookDispatcher:
        """The webhook sender: its attempts, accepted deliveries, drops and counters."""
        return self._dispatcher

    async def wait_deliveries_idle(self) -> None:
        """Wait until every result due is delivered: no ``auto_complete`` completion still
        pending and no webhook delivery in flight, retries and held events included.

        Bound the wait with ``asyncio.timeout``.
        """
        while self._background or self._dispatcher.pending:
            if self._background:
                await asyncio.wait(set(self._background))
            await self._dispatcher.wait_idle()

    @property
    def injected_faults(self) -> tuple[InjectedFault, ...]:
        """Every fault the plan applied to an API request (latency-only ones included)."""
        return tuple(self._context.injected)

    @property
    def request_counts(self) -> Mapping[str, int]:
        """Requests received per route name (``templates``, ``invitations``, ``results``)."""
        return dict(self._context.request_counts)

"""The end-to-end demo: fan out invitations to a faulty sandbox, then lose no result.

Everything runs in this process on loopback: the sandbox (with seeded API errors and
dropped or duplicated webhooks), a webhook receiver, and a ``ResultPoller`` beside it on a
shared in-memory inbox. The numbers in the summary are measured, never assumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from typing import Final

import attrs
from aiohttp import web

from ntrvsta_async.cli.progress import progress_reporter
from ntrvsta_async.client import NtrvstaClient
from ntrvsta_async.models import Candidate, ResultCompletedEvent, ResultSummary
from ntrvsta_async.reconcile import (
    Claim,
    ClaimState,
    Inbox,
    MemoryInbox,
    ReconcileReport,
    ResultKeys,
    ResultPoller,
    result_keys,
)
from ntrvsta_async.resources.bulk import InvitationRequest
from ntrvsta_async.sandbox import (
    FaultPlan,
    RouteFaults,
    SandboxServer,
    WebhookFaults,
    WebhookRetryPolicy,
)
from ntrvsta_async.transport import RetryPolicy
from ntrvsta_async.webhooks import WebhookVerifier, setup_webhooks

__all__ = ["DemoSummary", "demo_fault_plan", "run_demo"]

DEFAULT_SEED: Final = 2024
_SUPPRESSED_ANSWERS: Final = frozenset({"duplicate", "in_progress"})


def demo_fault_plan(seed: int) -> FaultPlan:
    """The demo's faults: 5xx and 429 on every API route, 30% of webhooks dropped, 10% doubled."""
    return FaultPlan(
        seed=seed,
        default=RouteFaults(rate_429=0.01, rate_500=0.03, rate_503=0.03, retry_after=0),
        webhooks=WebhookFaults(drop_rate=0.3, duplicate_rate=0.1),
    )


@attrs.frozen
class DemoSummary:
    """What the demo measured.

    ``duplicates_suppressed`` is ``duplicate_deliveries`` (webhook deliveries the receiver
    answered without running the handler, because the result was already handled or being
    handled) plus ``poller_skipped_webhook`` (results the poller found already handled by the
    webhook receiver, each counted once). ``lost`` is completed results handled by neither.
    """

    requested: int
    invited: int
    completed: int
    via_webhook: int
    recovered_by_poller: int
    duplicate_deliveries: int
    poller_skipped_webhook: int
    lost: int
    handled_twice: int
    unknown_handled: int
    api_faults: dict[str, int]
    webhook_events: int
    webhooks_dropped: int
    webhooks_duplicated: int
    webhooks_accepted: int
    poller_passes: int
    poller_skipped_total: int
    seconds: float

    @property
    def duplicates_suppressed(self) -> int:
        """Duplicate deliveries and cross-path claims that did not run a handler again."""
        return self.duplicate_deliveries + self.poller_skipped_webhook

    @property
    def problems(self) -> list[str]:
        """Why the run failed; empty when every invitation's result was handled exactly once."""
        found: list[str] = []
        if self.invited < self.requested:
            found.append(f"{self.requested - self.invited} invitation(s) failed")
        if self.completed < self.invited:
            found.append(f"{self.invited - self.completed} interview(s) never completed")
        if self.lost:
            found.append(f"{self.lost} result(s) lost")
        if self.handled_twice:
            found.append(f"{self.handled_twice} result(s) handled twice")
        if self.unknown_handled:
            found.append(f"{self.unknown_handled} handled result(s) the sandbox never completed")
        return found

    @property
    def ok(self) -> bool:
        """True when nothing in ``problems``."""
        return not self.problems

    def final_line(self) -> str:
        """The one-line verdict the demo ends with."""
        return (
            f"invited {self.invited} · completed {self.completed} · via webhook {self.via_webhook}"
            f" · recovered by poller {self.recovered_by_poller}"
            f" · duplicates suppressed {self.duplicates_suppressed} · lost {self.lost}"
        )

    def rows(self) -> list[tuple[str, str]]:
        """The summary table: (what, measured value)."""
        faults = ", ".join(f"{n} x {kind}" for kind, n in sorted(self.api_faults.items()))
        return [
            ("invitations requested", str(self.requested)),
            ("invited (created or reused)", str(self.invited)),
            ("API faults injected (retried by the SDK)", faults or "none"),
            ("interviews completed", str(self.completed)),
            ("webhook events sent", str(self.webhook_events)),
            ("  dropped by the fault plan", str(self.webhooks_dropped)),
            ("  duplicated by the fault plan", str(self.webhooks_duplicated)),
            ("  deliveries accepted by the receiver", str(self.webhooks_accepted)),
            ("handled via webhook (W)", str(self.via_webhook)),
            (
                f"recovered by poller (R), {self.poller_passes} passes",
                str(self.recovered_by_poller),
            ),
            ("duplicate deliveries answered without handling", str(self.duplicate_deliveries)),
            ("results the poller skipped: webhook had them", str(self.poller_skipped_webhook)),
            ("duplicates suppressed (D, the two above)", str(self.duplicates_suppressed)),
            ("poller skipped_duplicates, summed over passes", str(self.poller_skipped_total)),
            ("handled twice", str(self.handled_twice)),
            ("lost (completed - handled)", str(self.lost)),
            ("wall time", f"{self.seconds:.1f} s"),
        ]


@attrs.define
class _Trace:
    """Which path (webhook or poller) was refused a claim or completed each key."""

    refused: dict[str, set[str]] = attrs.Factory(lambda: {"webhook": set(), "poller": set()})
    completed_by: dict[str, str] = attrs.Factory(dict)


class _TracedInbox(Inbox):
    """One path's view of the shared inbox, noting refused claims and completions."""

    def __init__(self, inner: Inbox, path: str, trace: _Trace) -> None:
        self._inner = inner
        self._path = path
        self._trace = trace

    async def claim(self, keys: ResultKeys, *, ttl: float = 300.0) -> Claim:
        """See ``Inbox.claim``."""
        claim = await self._inner.claim(keys, ttl=ttl)
        if claim.state is not ClaimState.CLAIMED:
            self._trace.refused[self._path].add(result_keys(keys)[0])
        return claim

    async def renew(self, keys: ResultKeys, token: str, *, ttl: float = 300.0) -> bool:
        """See ``Inbox.renew``."""
        return await self._inner.renew(keys, token, ttl=ttl)

    async def complete(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.complete``."""
        await self._inner.complete(keys, token)
        self._trace.completed_by.setdefault(result_keys(keys)[0], self._path)

    async def release(self, keys: ResultKeys, token: str) -> None:
        """See ``Inbox.release``."""
        await self._inner.release(keys, token)

    async def is_done(self, keys: ResultKeys) -> bool:
        """See ``Inbox.is_done``."""
        return await self._inner.is_done(keys)

    async def get_checkpoint(self, name: str) -> str | None:
        """See ``Inbox.get_checkpoint``."""
        return await self._inner.get_checkpoint(name)

    async def set_checkpoint(self, name: str, value: str, *, fence: int | None = None) -> bool:
        """See ``Inbox.set_checkpoint``."""
        return await self._inner.set_checkpoint(name, value, fence=fence)

    async def close(self) -> None:
        """The shared inbox is closed by its owner, not by a view (nor by leaving one's
        ``async with``, which calls this)."""


def _ignore(_: int) -> None:
    pass


class _Handled:
    """Results handled by each path, in order (a key twice would be a bug)."""

    def __init__(self) -> None:
        self.webhook: list[str] = []
        self.poller: list[str] = []
        self.suppressed_deliveries = 0
        self.poller_skipped_total = 0
        self.poller_passes = 0
        self.on_change: Callable[[int], object] = _ignore
        self.changed = asyncio.Event()

    def _note(self) -> None:
        self.changed.set()
        self.on_change(len(self.keys))

    @property
    def keys(self) -> set[str]:
        """Every key handled by either path."""
        return set(self.webhook) | set(self.poller)

    async def on_event(self, event: ResultCompletedEvent) -> None:
        """The receiver's handler."""
        self.webhook.append(event.key)
        self._note()

    async def on_result(self, result: ResultSummary) -> None:
        """The poller's handler."""
        self.poller.append(result.key)
        self._note()

    @web.middleware
    async def count_answers(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Count deliveries the receiver answered as already handled or in progress."""
        response = await handler(request)
        if isinstance(response, web.Response) and isinstance(response.body, bytes):
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(response.body).get("status") in _SUPPRESSED_ANSWERS:
                    self.suppressed_deliveries += 1
        return response


def _candidates(count: int, template_id: str) -> Iterator[InvitationRequest]:
    for n in range(count):
        candidate = Candidate(
            email=f"candidate{n:04d}@example.com",
            first_name=f"Candidate{n:04d}",
            last_name="Demo",
            external_candidate_id=f"demo-{n:04d}",
        )
        yield InvitationRequest(template_id, candidate)


async def run_demo(
    invitations: int = 500,
    *,
    seed: int = DEFAULT_SEED,
    out: Callable[[str], object] | None = None,
    show_progress: bool = False,
    auto_complete: float = 0.2,
    poll_interval: float = 0.5,
    concurrency: int = 32,
    give_up_after: float = 45.0,
) -> DemoSummary:
    """Run the demo with ``invitations`` candidates and return what it measured.

    ``out`` receives a line per phase; ``show_progress`` draws progress on stderr.
    Stops waiting for results ``give_up_after`` seconds after the start; any still
    missing then count as lost.
    """
    say = out or (lambda _: None)
    started = time.monotonic()
    secret = f"demo_{secrets.token_hex(16)}"
    trace = _Trace()
    shared = MemoryInbox()
    handled = _Handled()

    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(shared.close)
        app = web.Application(middlewares=[handled.count_answers])
        setup_webhooks(
            app,
            WebhookVerifier(secret),
            handled.on_event,
            inbox=_TracedInbox(shared, "webhook", trace),
        )
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        receiver_url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks"

        sandbox = SandboxServer(
            webhook_url=receiver_url,
            webhook_secret=secret,
            faults=demo_fault_plan(seed),
            auto_complete=auto_complete,
            seed=seed,
            webhook_retry=WebhookRetryPolicy(max_attempts=3, initial_delay=0.05, max_delay=0.2),
        )
        await stack.enter_async_context(sandbox)
        say(f"sandbox on {sandbox.base_url}, webhook receiver on {receiver_url}")
        say(
            "faults: API 429 1%, 500 3%, 503 3%; webhooks 30% dropped, 10% duplicated"
            f" (seed {seed})"
        )

        client = NtrvstaClient(
            api_key=sandbox.api_key,
            base_url=sandbox.base_url,
            retry_policy=RetryPolicy(max_retries=8, initial_backoff=0.05, max_backoff=0.5),
        )
        await stack.enter_async_context(client)

        def on_report(report: ReconcileReport) -> None:
            handled.poller_passes += 1
            handled.poller_skipped_total += report.skipped_duplicates

        poller = ResultPoller(
            client,
            handled.on_result,
            inbox=_TracedInbox(shared, "poller", trace),
            interval=poll_interval,
            concurrency=16,
            page_size=100,
            on_report=on_report,
            name="demo",
        )
        await stack.enter_async_context(poller)

        template = await client.templates.create(
            title="Demo: Senior Backend Engineer",
            description="ntrvsta demo",
            external_posting_id=f"demo-posting-{seed}",
        )
        say(f"template {template.template_id}; inviting {invitations} candidates")

        invited = 0
        with progress_reporter(
            "inviting", invitations, enabled=show_progress, paced=client
        ) as progress:
            result = await client.invitations.create_many(
                _candidates(invitations, template.template_id),
                concurrency=concurrency,
                on_progress=lambda done, _: progress.update(done, invitations),
            )
            invited = len(result.succeeded)
        say(f"invited {invited}; waiting for every result (webhooks and the poller)")

        with (
            progress_reporter("results handled", invited, enabled=show_progress) as progress,
            contextlib.suppress(TimeoutError),
        ):
            handled.on_change = lambda n: progress.update(n, invited)
            progress.update(len(handled.keys), invited)
            async with asyncio.timeout(max(give_up_after - (time.monotonic() - started), 1.0)):
                await sandbox.wait_for_results(invited)
                await sandbox.wait_deliveries_idle()
                wanted = {r.result_id for r in sandbox.results}
                while not wanted <= handled.keys:
                    handled.changed.clear()
                    await handled.changed.wait()
        handled.on_change = _ignore
        await poller.stop()

    completed = {r.result_id for r in sandbox.results}
    webhook_keys, poller_keys = Counter(handled.webhook), Counter(handled.poller)
    every = webhook_keys + poller_keys
    stats = sandbox.deliveries.stats
    return DemoSummary(
        requested=invitations,
        invited=invited,
        completed=len(completed),
        via_webhook=len(webhook_keys),
        recovered_by_poller=len(poller_keys),
        duplicate_deliveries=handled.suppressed_deliveries,
        poller_skipped_webhook=len(trace.refused["poller"] & set(webhook_keys)),
        lost=len(completed - set(every)),
        handled_twice=sum(n - 1 for n in every.values()),
        unknown_handled=len(set(every) - completed),
        api_faults=dict(Counter(f.kind for f in sandbox.injected_faults if f.kind != "ok")),
        webhook_events=stats.events,
        webhooks_dropped=stats.dropped,
        webhooks_duplicated=stats.duplicated,
        webhooks_accepted=stats.delivered,
        poller_passes=handled.poller_passes,
        poller_skipped_total=handled.poller_skipped_total,
        seconds=time.monotonic() - started,
    )

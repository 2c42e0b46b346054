"""``run_doctor`` against the sandbox: all OK as assumed, each deviation named and fixed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import attrs
import pytest

from ntrvsta_async import AuthenticationError, Candidate, Contract, NtrvstaClient
from ntrvsta_async.assumptions import DEFAULT_CONTRACT
from ntrvsta_async.doctor import DoctorReport, Status, WriteProbe, run_doctor
from ntrvsta_async.sandbox import SandboxServer

EVERY_CHECK = {
    "base-url",
    "invitation-path",
    "auth",
    "template-reuse",
    "invitation-reuse",
    "results-endpoint",
    "page-items-key",
    "summary-fields",
    "page-size-param",
    "page-cursor-key",
    "second-page",
    "filter-completed-after",
    "filter-template-id",
    "filter-external-posting-id",
    "error-shape",
    "rate-limit-headers",
    "latency",
}
PROBE = WriteProbe(posting_id="doctor-probe-1", candidate_email="probe@example.com")
DEVIATING = Contract(
    page_items_keys=("results",),
    page_cursor_keys=("nextPageToken",),
    param_limit="pageSize",
    param_cursor="pageToken",
    invitations_path="/v1/templates/{templateId}/invitations",
    status_created=200,
    status_reused=200,
    api_key_header="X-Api-Key",
)
#: What a hand-written client needs to seed the deviating sandbox: its wire, default statuses.
DEVIATING_CONTRACT = attrs.evolve(
    DEVIATING,
    status_created=DEFAULT_CONTRACT.status_created,
    status_reused=DEFAULT_CONTRACT.status_reused,
)


async def _seed(sandbox: SandboxServer, contract: Contract = DEFAULT_CONTRACT, n: int = 3) -> None:
    async with NtrvstaClient(
        api_key=sandbox.api_key, base_url=sandbox.base_url, contract=contract
    ) as client:
        template = await client.templates.create(title="Seed", external_posting_id="seed-1")
        for i in range(n):
            invitation = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email=f"seed{i}@example.com")
            )
            await sandbox.complete(invitation.invitation_id, overall_score=60 + i)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=3) as server:
        await _seed(server)
        yield server


@pytest.fixture
async def deviating() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(seed=4, contract=DEVIATING, accept_bearer=False) as server:
        await _seed(server, DEVIATING_CONTRACT)
        yield server


def _statuses(report: DoctorReport) -> dict[str, Status]:
    return {finding.check: finding.status for finding in report.findings}


async def test_default_sandbox_every_check_ok(sandbox: SandboxServer) -> None:
    report = await run_doctor(sandbox.api_key, sandbox.base_url, write_probe=PROBE)

    assert set(_statuses(report)) == EVERY_CHECK
    not_ok = {f.check: f.observed for f in report.findings if f.status is not Status.OK}
    assert not_ok == {}
    assert report.ok
    assert report.suggested_contract() == DEFAULT_CONTRACT
    assert report.suggested_client_options() == {}
    assert "'nextCursor' holds the token" in report.finding("page-cursor-key").observed
    assert "created returned 201; reused returned 200" in report.finding("template-reuse").observed
    assert [f.op for f in report.findings] == sorted(
        (f.op for f in report.findings), key=lambda op: int(op.split("-")[1])
    )
    text = report.to_json()
    assert sandbox.api_key not in text
    assert json.loads(text)["counts"] == {"OK": len(EVERY_CHECK), "DIFFERS": 0, "UNKNOWN": 0}


async def test_deviating_sandbox_names_each_difference_and_its_fix(
    deviating: SandboxServer,
) -> None:
    report = await run_doctor(deviating.api_key, deviating.base_url, write_probe=PROBE)
    statuses = _statuses(report)
    expected_differs = {
        "auth": {"api_key_header": "X-Api-Key"},
        "page-items-key": {"page_items_keys": ("results",)},
        "page-cursor-key": {"page_cursor_keys": ("nextPageToken",)},
        "page-size-param": {"param_limit": "pageSize"},
        "second-page": {"param_cursor": "pageToken"},
        "invitation-path": {"invitations_path": "/v1/templates/{templateId}/invitations"},
        "template-reuse": {},
        "invitation-reuse": {},
    }
    assert {c for c, s in statuses.items() if s is Status.DIFFERS} == set(expected_differs)
    for check, override in expected_differs.items():
        assert report.finding(check).override == override, check
    assert {c for c, s in statuses.items() if s is Status.OK} == EVERY_CHECK - set(expected_differs)

    assert "X-Api-Key accepted" in report.finding("auth").observed
    assert "'results'" in report.finding("page-items-key").observed
    assert "'nextPageToken'" in report.finding("page-cursor-key").observed
    assert "limit=1 gave 3 results" in report.finding("page-size-param").observed
    assert "first page again" in report.finding("second-page").observed
    path = report.finding("invitation-path")
    assert "/v1/interview-invitations: HTTP 404" in path.observed
    assert path.fix == 'Contract(invitations_path="/v1/templates/{templateId}/invitations")'
    reuse = report.finding("template-reuse")
    assert "created returned 200; reused returned 200" in reuse.observed
    assert "does not tell them apart; rely on a body flag" in reuse.observed
    assert "reused: false, then true" in reuse.observed
    assert "reads the body flag first, so Template.reused is right" in (reuse.fix or "")

    assert report.suggested_contract() == DEVIATING_CONTRACT
    snippet = report.snippet()
    assert 'page_items_keys=("results",),' in snippet
    assert 'invitations_path="/v1/templates/{templateId}/invitations",' in snippet
    assert deviating.api_key not in report.to_json()


async def test_the_suggested_contract_makes_the_client_work(deviating: SandboxServer) -> None:
    report = await run_doctor(deviating.api_key, deviating.base_url, write_probe=PROBE)
    async with NtrvstaClient(api_key=deviating.api_key, base_url=deviating.base_url) as plain:
        with pytest.raises(AuthenticationError):
            await plain.templates.create(title="Refused")

    options = report.suggested_client_options()
    async with NtrvstaClient(
        api_key=deviating.api_key, base_url=deviating.base_url, **options
    ) as client:
        template = await client.templates.create(title="Fixed", external_posting_id="fixed-1")
        again = await client.templates.create(title="Fixed", external_posting_id="fixed-1")
        invitation = await client.invitations.create(
            template_id=template.template_id, candidate=Candidate(email="new@example.com")
        )
        repeat = await client.invitations.create(
            template_id=template.template_id, candidate=Candidate(email="new@example.com")
        )
        await deviating.complete(invitation.invitation_id, overall_score=77)
        keys = [result.key async for result in client.results.list(limit=1)]
        first = await client.results.list_page(limit=2)

    assert (template.reused, again.reused) == (False, True)
    assert (invitation.reused, repeat.reused) == (False, True)
    assert again.template_id == template.template_id
    assert len(keys) == len(set(keys)) == len(deviating.results) == 4
    assert len(first.items) == 2
    assert first.next_cursor is not None


async def test_statuses_without_a_body_flag_leave_reused_unknown_once_fixed() -> None:
    served = Contract(status_created=200, status_reused=200)
    unread = Contract(status_created=None, status_reused=None)
    async with SandboxServer(contract=served, reused_flag=False) as server:
        report = await run_doctor(server.api_key, server.base_url, write_probe=PROBE)
        async with NtrvstaClient(
            api_key=server.api_key, base_url=server.base_url, contract=report.suggested_contract()
        ) as client:
            template = await client.templates.create(title="U", external_posting_id="unread-1")
            new = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email="u@example.com")
            )
            repeat = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email="u@example.com")
            )
        again = await run_doctor(
            server.api_key,
            server.base_url,
            contract=unread,
            write_probe=WriteProbe(posting_id="doctor-probe-2", candidate_email="p2@example.com"),
        )
    reuse = report.finding("invitation-reuse")
    assert reuse.status is Status.DIFFERS
    assert "no reused/created flag in the body" in reuse.observed
    assert (reuse.fix or "").startswith("Contract(status_created=None, status_reused=None)")
    assert "rather than True for a new invitation" in (reuse.fix or "")
    assert report.suggested_contract() == unread
    assert (new.reused, repeat.reused) == (None, None)
    assert new.invitation_id == repeat.invitation_id
    assert again.finding("invitation-reuse").status is Status.OK
    assert again.finding("template-reuse").status is Status.OK
    assert again.suggested_contract() == unread


async def test_other_distinct_statuses_become_the_override() -> None:
    served = Contract(status_created=200, status_reused=208)
    async with SandboxServer(contract=served, reused_flag=False) as server:
        report = await run_doctor(server.api_key, server.base_url, write_probe=PROBE)
        contract = report.suggested_contract()
        async with NtrvstaClient(
            api_key=server.api_key, base_url=server.base_url, contract=contract
        ) as client:
            made = await client.templates.create(title="S", external_posting_id="status-2")
            reused = await client.templates.create(title="S", external_posting_id="status-2")
    assert report.finding("template-reuse").override == {
        "status_created": 200,
        "status_reused": 208,
    }
    assert (contract.status_created, contract.status_reused) == (200, 208)
    assert (made.reused, reused.reused) == (False, True)


async def test_bearer_only_environment_suggests_the_bearer_scheme() -> None:
    served = Contract(api_key_header="X-Sandbox-Internal-Key")
    async with SandboxServer(contract=served) as server:
        report = await run_doctor(server.api_key, server.base_url)
        options = report.suggested_client_options()
        async with NtrvstaClient(
            api_key=server.api_key, base_url=server.base_url, **options
        ) as client:
            page = await client.results.list_page()
    auth = report.finding("auth")
    assert auth.status is Status.DIFFERS
    assert "X-Ntrvsta-Api-Key: HTTP 401; Authorization: Bearer accepted" in auth.observed
    assert options == {"auth_scheme": "bearer"}
    assert 'auth_scheme="bearer"' in report.snippet()
    assert page.items == ()


async def test_read_only_run_sends_no_write_and_says_what_it_could_not_check() -> None:
    async with SandboxServer() as server:
        report = await run_doctor(server.api_key, server.base_url)
        counts = server.request_counts
    assert "templates" not in counts
    assert "invitations" not in counts
    for check in ("template-reuse", "invitation-reuse", "invitation-path"):
        found = report.finding(check)
        assert found.status is Status.UNKNOWN
        assert "read-only run" in found.observed
    summary = report.finding("summary-fields")
    assert summary.status is Status.UNKNOWN
    assert "no completed results" in summary.observed
    assert report.finding("page-items-key").status is Status.OK
    assert "'nextCursor' present (null: one page)" in report.finding("page-cursor-key").observed
    assert report.ok


async def test_a_refused_key_is_reported_without_showing_it() -> None:
    async with SandboxServer() as server:
        wrong = "ntr_live_wrongwrongwrong_SECRET"
        report = await run_doctor(wrong, server.base_url, write_probe=PROBE)
    auth = report.finding("auth")
    assert auth.status is Status.DIFFERS
    assert "refused in every form" in auth.observed
    assert report.finding("results-endpoint").status is Status.UNKNOWN
    assert report.finding("template-reuse").status is Status.UNKNOWN
    assert report.finding("error-shape").status is Status.OK
    assert wrong not in report.to_json()


async def test_a_missing_stage_path_is_a_base_url_difference() -> None:
    async with SandboxServer(path_prefix="/dev") as server:
        root = server.base_url.removesuffix("/dev")
        report = await run_doctor(server.api_key, root)
    base = report.finding("base-url")
    assert base.status is Status.DIFFERS
    assert "HTTP 404" in base.observed
    assert "stage path" in (base.fix or "")


async def test_an_unreachable_base_url_is_reported() -> None:
    async with SandboxServer() as server:
        url = server.base_url
    report = await run_doctor("some-key-value", url, request_timeout=2)
    assert report.finding("base-url").status is Status.DIFFERS
    assert "could not connect" in report.finding("base-url").observed
    assert report.finding("latency").status is Status.UNKNOWN

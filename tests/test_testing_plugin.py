"""The ``ntrvsta_sandbox`` pytest fixture: used directly here, and from a user's project."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from ntrvsta_async import Candidate
from ntrvsta_async.sandbox import FaultPlan, RouteFaults
from ntrvsta_async.testing import SandboxFixture
from ntrvsta_async.transport import RetryPolicy
from tests.conftest import run_ok


async def test_fixture_yields_a_running_sandbox_and_a_connected_client(
    ntrvsta_sandbox: SandboxFixture,
) -> None:
    assert ntrvsta_sandbox.client.base_url.rstrip("/") == ntrvsta_sandbox.base_url
    template = await ntrvsta_sandbox.client.templates.create(title="Fixture")
    invitation = await ntrvsta_sandbox.client.invitations.create(
        template_id=template.template_id, candidate=Candidate(email="f@x.io")
    )
    done = await ntrvsta_sandbox.complete(invitation.invitation_id, overall_score=64)
    listed = [r async for r in ntrvsta_sandbox.client.results.list()]
    assert listed == [done.summary]
    assert ntrvsta_sandbox.api_key == ntrvsta_sandbox.server.api_key


@pytest.mark.ntrvsta_sandbox(
    api_keys="sbx_marker_key",
    path_prefix="/stage",
    faults=FaultPlan(seed=2, routes={"templates": RouteFaults(rate_503=0.5)}),
    client_options={"retry_policy": RetryPolicy(max_retries=20, initial_backoff=0.0)},
)
async def test_marker_configures_server_and_client(ntrvsta_sandbox: SandboxFixture) -> None:
    assert ntrvsta_sandbox.api_key == "sbx_marker_key"
    assert ntrvsta_sandbox.base_url.endswith("/stage")
    for n in range(10):
        await ntrvsta_sandbox.client.templates.create(title="T", external_posting_id=f"p{n}")
    assert ntrvsta_sandbox.server.request_counts["templates"] > 10
    assert len(ntrvsta_sandbox.server.templates) == 10


@pytest.mark.ntrvsta_sandbox(seed=6, auto_complete=60)
class TestMarkerLevels:
    @pytest.mark.ntrvsta_sandbox(seed=5)
    async def test_the_closest_marker_wins(self, ntrvsta_sandbox: SandboxFixture) -> None:
        assert ntrvsta_sandbox.server.seed == 5
        assert ntrvsta_sandbox.server.auto_complete == 60


USER_TESTS = """
from __future__ import annotations

import aiohttp
import pytest
import pytest_asyncio

from ntrvsta_async.client import NtrvstaClient

SEEN = []


@pytest.fixture
def ntrvsta_sandbox_options():
    return {"seed": 123, "api_keys": "sbx_user_key"}


@pytest.mark.asyncio
async def test_uses_the_sandbox(ntrvsta_sandbox):
    assert isinstance(ntrvsta_sandbox.client, NtrvstaClient)
    assert ntrvsta_sandbox.server.seed == 123
    template = await ntrvsta_sandbox.client.templates.create(title="From a user project")
    assert template.reused is False
    SEEN.append(ntrvsta_sandbox.base_url)


@pytest.mark.asyncio
@pytest.mark.ntrvsta_sandbox(seed=7)
async def test_marker_overrides_options(ntrvsta_sandbox):
    assert ntrvsta_sandbox.server.seed == 7
    assert ntrvsta_sandbox.api_key == "sbx_user_key"


@pytest.mark.asyncio
async def test_the_sandbox_is_stopped_after_its_test():
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(SEEN[0] + "/v1/interview-results")
"""


def test_plugin_is_auto_loaded_in_a_user_project(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\naddopts = --strict-markers -p no:cacheprovider\n"
        "filterwarnings =\n    error::ResourceWarning\n"
    )
    output = run_ok(sys.executable, "-m", "pytest", "-q", tmp_path, cwd=tmp_path, timeout=120)
    assert "3 passed" in output

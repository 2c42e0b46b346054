"""The README's test examples pass in a fresh project: its own venv, the package installed
with ``[testing]`` from a wheel built from this checkout, and no pytest configuration."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest
from aiohttp import web

from ntrvsta_async import Candidate, NtrvstaClient
from ntrvsta_async.sandbox import SandboxServer
from tests.conftest import run_ok, serve

ROOT = Path(__file__).resolve().parent.parent
MARKER = "<!-- fresh-project-test -->"
_BLOCK = re.compile(re.escape(MARKER) + r"\n```python\n(.*?)\n```", re.DOTALL)
_TEST = re.compile(r"^(?:async )?def (test_\w+)", re.MULTILINE)


def readme_examples() -> list[str]:
    """The Python blocks the README marks for the fresh-project run, in order."""
    return _BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_the_readme_marks_its_test_examples() -> None:
    blocks = readme_examples()
    assert len(blocks) == 3
    assert all(_TEST.search(block) for block in blocks)
    assert "configure_webhook" in blocks[2]
    assert "wait_deliveries_idle" in blocks[2]


@pytest.mark.slow
def test_readme_examples_pass_in_a_fresh_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    names: list[str] = []
    for number, block in enumerate(readme_examples(), start=1):
        (project / f"test_readme_{number}.py").write_text(block + "\n", encoding="utf-8")
        names += _TEST.findall(block)
    assert not any(
        (parent / name).exists()
        for parent in (project, *project.parents)
        for name in ("pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini", "conftest.py")
    ), "the project must have no pytest configuration"

    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NTRVSTA_", "PYTHON", "VIRTUAL_ENV", "PYTEST"))
    }
    venv = tmp_path / "venv"
    run_ok(sys.executable, "-m", "venv", venv, cwd=tmp_path, env=env, timeout=120)
    python = venv / "bin" / "python"
    wheels = tmp_path / "wheels"
    run_ok(
        python, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, ROOT,
        cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    [wheel] = wheels.glob("ntrvsta_async-*.whl")
    run_ok(
        python, "-m", "pip", "install", "--quiet", f"{wheel}[testing]",
        cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    where = run_ok(
        python,
        "-c",
        "import ntrvsta_async; print(ntrvsta_async.__file__)",
        cwd=project,
        env=env,
        timeout=60,
    )
    assert str(venv) in where, "the package comes from the fresh install, not this checkout"

    output = run_ok(
        python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error::ResourceWarning",
        cwd=project, env=env, timeout=300,
    )  # fmt: skip

    assert f"{len(names)} passed" in output, output
    assert "skipped" not in output
    assert "PytestUnhandledCoroutineWarning" not in output


async def _receiver(seen: list[str]) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.headers["X-Ntrvsta-Idempotency-Key"])
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhooks", receive)
    return app


async def test_wait_deliveries_idle_waits_for_pending_auto_completions() -> None:
    seen: list[str] = []
    async with (
        serve(await _receiver(seen)) as url,
        SandboxServer(auto_complete=0.3, webhook_url=f"{url}/webhooks") as server,
        NtrvstaClient(api_key=server.api_key, base_url=server.base_url) as client,
    ):
        template = await client.templates.create(title="Idle")
        for n in range(4):
            await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email=f"i{n}@example.com")
            )
        assert server.results == (), "nothing is completed yet"
        async with asyncio.timeout(10):
            await server.wait_deliveries_idle()

        assert len(server.results) == 4
        assert sorted(seen) == sorted(result.event_id for result in server.results)

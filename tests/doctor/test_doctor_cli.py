"""The ``doctor`` command object, run with click's CliRunner against threaded sandboxes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ntrvsta_async import Candidate, Contract, NtrvstaClient
from ntrvsta_async.cli.app import cli
from ntrvsta_async.cli.common import EXIT_CONFIG, CliState
from ntrvsta_async.cli.doctor_cmd import doctor
from ntrvsta_async.sandbox import ThreadedSandbox

DEVIATING = Contract(
    page_items_keys=("results",),
    page_cursor_keys=("nextPageToken",),
    invitations_path="/v1/templates/{templateId}/invitations",
    status_created=200,
    status_reused=200,
)
PROBE_ARGS = ["--write-probe", "--posting-id", "cli-probe", "--candidate-email", "p@example.com"]


async def _seed(sandbox: ThreadedSandbox, contract: Contract) -> None:
    async with NtrvstaClient(
        api_key=sandbox.api_key, base_url=sandbox.base_url, contract=contract
    ) as client:
        template = await client.templates.create(title="Seed")
        for n in range(3):
            invitation = await client.invitations.create(
                template_id=template.template_id, candidate=Candidate(email=f"s{n}@example.com")
            )
            await sandbox.server.complete(invitation.invitation_id)


@pytest.fixture(scope="module")
def plain() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox(seed=5) as sandbox:
        sandbox.call(_seed(sandbox, Contract()))
        yield sandbox


@pytest.fixture(scope="module")
def deviating() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox(seed=6, contract=DEVIATING) as sandbox:
        contract = Contract(
            invitations_path=DEVIATING.invitations_path, page_items_keys=("results",)
        )
        sandbox.call(_seed(sandbox, contract))
        yield sandbox


def _invoke(sandbox: ThreadedSandbox, *args: str) -> tuple[int, str]:
    state = CliState(base_url=sandbox.base_url, api_key=sandbox.api_key)
    result = CliRunner().invoke(doctor, list(args), obj=state)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert sandbox.api_key not in result.output
    return result.exit_code, result.output


def test_default_sandbox_prints_every_check_ok(plain: ThreadedSandbox) -> None:
    code, output = _invoke(plain, *PROBE_ARGS)
    assert code == 0, output
    statuses = [line.split()[-1] for line in output.splitlines() if line.startswith("OP-")]
    assert statuses == ["OK"] * 17
    assert output.count("  assumed:  ") == 17
    assert "OP-8   page-items-key       OK" in output
    assert "17 checks against" in output
    assert "17 OK, 0 DIFFERS, 0 UNKNOWN" in output
    assert "Every check that could run matches" in output


def test_allow_insecure_http_reaches_the_doctor(plain: ThreadedSandbox) -> None:
    # 0.0.0.0 is not a loopback address, so the check applies, yet it reaches this machine.
    url = plain.base_url.replace("127.0.0.1", "0.0.0.0")  # noqa: S104
    for allow, expected in ((False, EXIT_CONFIG), (True, 0)):
        state = CliState(base_url=url, api_key=plain.api_key, allow_insecure_http=allow)
        result = CliRunner().invoke(doctor, [], obj=state)
        assert result.exit_code == expected, result.output
    assert (
        "--allow-insecure-http"
        in CliRunner().invoke(doctor, [], obj=CliState(base_url=url, api_key=plain.api_key)).output
    )


def test_deviating_sandbox_prints_fixes_and_saves_the_contract(
    deviating: ThreadedSandbox, tmp_path: Path
) -> None:
    saved = tmp_path / "contract.json"
    code, output = _invoke(deviating, *PROBE_ARGS, "--save-contract", str(saved))
    assert code == 1
    assert "OP-2   invitation-path      DIFFERS" in output
    assert (
        '  fix:      Contract(invitations_path="/v1/templates/{templateId}/invitations")' in output
    )
    assert "does not tell them apart; rely on a body flag" in output
    assert 'page_items_keys=("results",),' in output
    assert json.loads(saved.read_text(encoding="utf-8")) == {
        "invitations_path": "/v1/templates/{templateId}/invitations",
        "page_items_keys": ["results"],
        "page_cursor_keys": ["nextPageToken"],
    }

    fresh = ["--write-probe", "--posting-id", "cli-probe-2", "--candidate-email", "p@example.com"]
    code, output = _invoke(deviating, *fresh, "--contract", str(saved), "--json")
    report = json.loads(output)
    differs = {f["check"] for f in report["findings"] if f["status"] == "DIFFERS"}
    assert differs == {"template-reuse", "invitation-reuse"}
    assert code == 1

    code, output = _invoke(deviating, *PROBE_ARGS, "--contract", str(saved), "--json")
    again = {f["check"]: f for f in json.loads(output)["findings"]}
    assert again["template-reuse"]["status"] == "UNKNOWN"
    assert "already reused an existing template" in again["template-reuse"]["observed"]


def test_json_report(deviating: ThreadedSandbox) -> None:
    code, output = _invoke(deviating, "--json")
    assert code == 1
    (line,) = output.splitlines()
    report = json.loads(line)
    assert report["suggestedContract"] == {
        "page_items_keys": ["results"],
        "page_cursor_keys": ["nextPageToken"],
    }
    assert report["counts"]["UNKNOWN"] == 3
    by_check = {f["check"]: f for f in report["findings"]}
    assert by_check["page-items-key"]["override"] == {"page_items_keys": ["results"]}
    assert "read-only run" in by_check["template-reuse"]["observed"]


def test_usage_and_configuration_errors(plain: ThreadedSandbox, tmp_path: Path) -> None:
    runner = CliRunner()
    state = CliState(base_url=plain.base_url, api_key=plain.api_key)
    half = runner.invoke(doctor, ["--write-probe", "--posting-id", "x"], obj=state)
    assert half.exit_code == 2
    assert "--candidate-email" in half.output
    stray = runner.invoke(doctor, ["--posting-id", "x"], obj=state)
    assert stray.exit_code == 2

    bad = tmp_path / "bad.json"
    bad.write_text('{"page_items": ["x"]}', encoding="utf-8")
    wrong = runner.invoke(doctor, ["--contract", str(bad)], obj=state)
    assert wrong.exit_code == 3
    assert "unknown contract field" in wrong.output

    nokey = runner.invoke(
        doctor, [], obj=CliState(base_url=plain.base_url), env={"NTRVSTA_API_KEY": None}
    )
    assert nokey.exit_code == 3
    assert "NTRVSTA_API_KEY" in nokey.output


def test_a_refused_key_exits_4_without_showing_it(plain: ThreadedSandbox) -> None:
    wrong = "ntr_live_refused_0123456789_SECRET"
    state = CliState(base_url=plain.base_url, api_key=wrong)
    result = CliRunner().invoke(doctor, [], obj=state)
    assert result.exit_code == 4
    assert "the key was refused in every form tried" in result.output
    assert "could not run; their lines say why" in result.output
    assert wrong not in result.output


def test_the_global_contract_option_serves_every_command(
    deviating: ThreadedSandbox, tmp_path: Path
) -> None:
    saved = tmp_path / "contract.json"
    code, output = _invoke(deviating, *PROBE_ARGS, "--save-contract", str(saved))
    assert code == 1, output
    env = {"NTRVSTA_API_KEY": deviating.api_key, "NTRVSTA_BASE_URL": deviating.base_url}
    runner = CliRunner()
    created = runner.invoke(cli, ["templates", "create", "--title", "Contract", "--json"], env=env)
    assert created.exit_code == 0, created.output
    template_id = json.loads(created.output)["templateId"]
    people = tmp_path / "people.csv"
    people.write_text("email\ncontract@example.com\n", encoding="utf-8")
    invite = ["invite", "--template", template_id, "--csv", str(people), "--json"]

    plain = runner.invoke(cli, invite, env=env)
    assert plain.exit_code != 0
    with_contract = runner.invoke(cli, ["--contract", str(saved), *invite], env=env)
    assert with_contract.exit_code == 0, with_contract.output
    from_env = runner.invoke(cli, invite, env={**env, "NTRVSTA_CONTRACT_FILE": str(saved)})
    assert from_env.exit_code == 0, from_env.output
    emails = [i.candidate.email for i in deviating.server.invitations if i.candidate]
    assert emails.count("contract@example.com") == 1

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    refused = runner.invoke(cli, ["--contract", str(broken), *invite], env=env)
    assert refused.exit_code == EXIT_CONFIG
    assert "not JSON" in refused.output

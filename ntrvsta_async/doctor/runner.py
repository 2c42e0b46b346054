"""``run_doctor``: every check against one environment, each building on the ones before."""

from __future__ import annotations

import re
import time

import aiohttp
import attrs

from ntrvsta_async.assumptions import DEFAULT_CONTRACT, DEFAULT_TIMEOUT_TOTAL, Contract
from ntrvsta_async.doctor._shared import not_run
from ntrvsta_async.doctor.access import check_auth, check_base_url_and_errors
from ntrvsta_async.doctor.filters import check_filters, filter_assumptions
from ntrvsta_async.doctor.paging import check_results, results_assumptions
from ntrvsta_async.doctor.probe import Probe
from ntrvsta_async.doctor.report import DoctorReport, Finding
from ntrvsta_async.doctor.traffic import check_latency, check_rate_limits, latency_assumption
from ntrvsta_async.doctor.writes import check_invitations, check_templates, write_probe_assumptions
from ntrvsta_async.errors import ConfigurationError
from ntrvsta_async.transport.auth import redact
from ntrvsta_async.transport.config import resolve_api_key, resolve_base_url

__all__ = ["WriteProbe", "run_doctor"]

_READ_ONLY = "not checked: read-only run (add --write-probe --posting-id ID --candidate-email ADDR)"
_OP_NUMBER = re.compile(r"OP-(\d+)")


@attrs.frozen
class WriteProbe:
    """What the write probe creates or reuses, twice: a template for ``posting_id`` and an
    invitation of ``candidate_email`` to it. Use a posting id and an address of your own."""

    posting_id: str
    candidate_email: str
    title: str = "ntrvsta doctor probe"

    def __attrs_post_init__(self) -> None:
        if not self.posting_id.strip():
            raise ConfigurationError("the write probe needs a non-empty posting id")
        if "@" not in self.candidate_email:
            raise ConfigurationError("the write probe needs a candidate email address")


def _op_order(finding: Finding) -> int:
    match = _OP_NUMBER.match(finding.op)
    return int(match.group(1)) if match else 0


async def run_doctor(
    api_key: str | None = None,
    base_url: str | None = None,
    *,
    contract: Contract | None = None,
    auth_scheme: str = "api-key",
    write_probe: WriteProbe | None = None,
    samples: int = 5,
    request_timeout: float = 30.0,
    client_timeout: float = DEFAULT_TIMEOUT_TOTAL,
    allow_insecure_http: bool = False,
    session: aiohttp.ClientSession | None = None,
) -> DoctorReport:
    """Check a live environment against ``contract`` (the SDK's assumptions by default).

    Read-only unless ``write_probe`` is given. The key (``api_key`` or ``NTRVSTA_API_KEY``)
    never appears in the report. ``client_timeout`` is the timeout the latency is judged by.
    """
    key = resolve_api_key(api_key)
    url = str(resolve_base_url(base_url, allow_insecure_http=allow_insecure_http))
    contract = contract or DEFAULT_CONTRACT
    if auth_scheme not in ("api-key", "bearer"):
        raise ConfigurationError(f"auth_scheme must be 'api-key' or 'bearer', not {auth_scheme!r}")
    if samples < 1:
        raise ConfigurationError("samples must be at least 1")
    started = time.perf_counter()
    findings: list[Finding] = []
    async with Probe(url, key, timeout=request_timeout, session=session) as probe:
        findings += await check_base_url_and_errors(probe, contract)
        findings.append(await check_auth(probe, contract, auth_scheme))
        if probe.auth is not None:
            findings += await check_results(probe, contract)
            findings += await check_filters(probe, contract)
            findings.append(await check_latency(probe, contract, samples, client_timeout))
        else:
            for op, check, assumption in _read_assumptions(contract, client_timeout):
                findings.append(not_run(op, check, assumption, "not checked: no key was accepted"))
        if write_probe is None:
            for op, check, assumption in write_probe_assumptions(contract):
                findings.append(not_run(op, check, assumption, _READ_ONLY))
        elif probe.auth is None:
            for op, check, assumption in write_probe_assumptions(contract):
                findings.append(not_run(op, check, assumption, "not checked: no key was accepted"))
        else:
            findings += await _write_checks(probe, contract, write_probe)
        findings.append(check_rate_limits(probe.exchanges))
    scrubbed = [_scrub(finding, key) for finding in findings]
    return DoctorReport(
        base_url=url,
        findings=tuple(sorted(scrubbed, key=_op_order)),
        contract=contract,
        auth_scheme=auth_scheme,
        write_probe=write_probe is not None,
        duration=time.perf_counter() - started,
    )


async def _write_checks(probe: Probe, contract: Contract, plan: WriteProbe) -> list[Finding]:
    findings, template_id = await check_templates(
        probe, contract, posting_id=plan.posting_id, title=plan.title
    )
    if template_id is None:
        ops = [entry for entry in write_probe_assumptions(contract) if entry[1] != "template-reuse"]
        why = "not checked: no template to invite to"
        return findings + [not_run(op, check, text, why) for op, check, text in ops]
    findings += await check_invitations(
        probe, contract, template_id=template_id, email=plan.candidate_email
    )
    return findings


def _read_assumptions(contract: Contract, client_timeout: float) -> list[tuple[str, str, str]]:
    assumed = results_assumptions(contract) | filter_assumptions(contract)
    checks = [("OP-8", name, text) for name, text in assumed.items()]
    return [*checks, ("OP-17", "latency", latency_assumption(client_timeout))]


def _scrub(finding: Finding, key: str) -> Finding:
    """The finding with any echo of the key replaced by its redacted form."""
    hint = redact(key)

    def clean(text: str | None) -> str | None:
        return None if text is None else text.replace(key, hint)

    return attrs.evolve(
        finding,
        observed=clean(finding.observed) or "",
        advice=clean(finding.advice),
        assumption=clean(finding.assumption) or "",
    )

"""What ``ntrvsta doctor`` found: a ``Finding`` per assumption, and the configuration fixing it."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ntrvsta_async.assumptions import DEFAULT_CONTRACT, Contract
from ntrvsta_async.doctor.contract_file import contract_overrides, python_literal

__all__ = ["NO_SETTING_NEEDED", "DoctorReport", "Finding", "Status", "configuration_text"]

#: How the fix of a difference the SDK already copes with begins: reported, not a failure.
NO_SETTING_NEEDED: Final = "no setting needed: "


class Status(enum.StrEnum):
    """How reality compares with an assumption."""

    OK = "OK"
    """What was seen matches the assumption in force."""
    DIFFERS = "DIFFERS"
    """What was seen contradicts it; ``Finding.fix`` says what to change."""
    UNKNOWN = "UNKNOWN"
    """The check could not run or could not tell; ``Finding.observed`` says why."""


def _frozen_dict(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _call(name: str, arguments: Mapping[str, Any]) -> str:
    listed = ", ".join(f"{key}={python_literal(value)}" for key, value in arguments.items())
    return f"{name}({listed})"


def configuration_text(
    override: Mapping[str, Any], client_options: Mapping[str, Any] | None = None
) -> str | None:
    """The code a configuration reads as: ``Contract(...)`` for the ``Contract`` fields,
    ``NtrvstaClient(...)`` for the other client keywords, joined by "with"; None for none."""
    calls = []
    if override:
        calls.append(_call("Contract", override))
    if client_options:
        calls.append(_call("NtrvstaClient", client_options))
    return " with ".join(calls) or None


@attrs.frozen
class Finding:
    """One assumption checked against a live environment.

    ``override`` holds the ``Contract`` fields and ``client_options`` the other
    ``NtrvstaClient`` keywords that make the SDK match what was observed; ``advice`` says in
    words what to do where no setting can, or adds a remark to the setting.
    """

    op: str
    check: str
    assumption: str
    observed: str
    status: Status
    advice: str | None = None
    override: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict, hash=False)
    client_options: dict[str, Any] = attrs.field(factory=dict, converter=_frozen_dict, hash=False)

    @property
    def fix(self) -> str | None:
        """What to do: the configuration as code (from ``override`` and ``client_options``),
        then the advice; None when the finding needs neither."""
        parts = [configuration_text(self.override, self.client_options), self.advice]
        return "; ".join(part for part in parts if part) or None

    @property
    def harmless(self) -> bool:
        """True for a DIFFERS the SDK already copes with: its fix needs no setting."""
        return self.status is Status.DIFFERS and (self.fix or "").startswith(NO_SETTING_NEEDED)

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready data (tuples become lists)."""
        return {
            "op": self.op,
            "check": self.check,
            "assumption": self.assumption,
            "observed": self.observed,
            "status": self.status.value,
            "fix": self.fix,
            "override": _jsonable(self.override),
            "clientOptions": _jsonable(self.client_options),
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


@attrs.frozen
class DoctorReport:
    """Every finding of one doctor run, against ``contract`` (the configuration in force)."""

    base_url: str
    findings: tuple[Finding, ...]
    contract: Contract = DEFAULT_CONTRACT
    auth_scheme: str = "api-key"
    write_probe: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no finding DIFFERS (UNKNOWN ones included)."""
        return not self.differs

    @property
    def differs(self) -> tuple[Finding, ...]:
        """The findings whose observation contradicts the assumption."""
        return tuple(f for f in self.findings if f.status is Status.DIFFERS)

    @property
    def actionable(self) -> tuple[Finding, ...]:
        """The findings that DIFFER in a way the SDK does not cope with by itself."""
        return tuple(f for f in self.differs if not f.harmless)

    @property
    def unknown(self) -> tuple[Finding, ...]:
        """The findings the run could not decide."""
        return tuple(f for f in self.findings if f.status is Status.UNKNOWN)

    def finding(self, check: str) -> Finding:
        """The finding of one check by its name (``page-items-key``, ``auth``, ...)."""
        for found in self.findings:
            if found.check == check:
                return found
        raise KeyError(check)

    def suggested_contract(self) -> Contract:
        """The contract in force with every DIFFERS override applied."""
        changes: dict[str, Any] = {}
        for found in self.differs:
            changes.update(found.override)
        return attrs.evolve(self.contract, **changes) if changes else self.contract

    def suggested_client_options(self) -> dict[str, Any]:
        """``NtrvstaClient`` keyword arguments (``contract`` included when it changed)."""
        options: dict[str, Any] = {}
        if self.auth_scheme != "api-key":
            options["auth_scheme"] = self.auth_scheme
        for found in self.differs:
            options.update(found.client_options)
        if options.get("auth_scheme") == "api-key":
            del options["auth_scheme"]
        contract = self.suggested_contract()
        if contract != DEFAULT_CONTRACT:
            options["contract"] = contract
        return options

    def snippet(self) -> str:
        """Python code creating a client configured for what was observed."""
        options = self.suggested_client_options()
        lines = ["from ntrvsta_async import Contract, NtrvstaClient", "", "client = NtrvstaClient("]
        contract = options.pop("contract", None)
        if contract is not None:
            lines.append("    contract=Contract(")
            for name, value in contract_overrides(contract).items():
                lines.append(f"        {name}={python_literal(value)},")
            lines.append("    ),")
        for name, value in options.items():
            lines.append(f"    {name}={python_literal(value)},")
        lines.append(")")
        if len(lines) == 4:
            return "from ntrvsta_async import NtrvstaClient\n\nclient = NtrvstaClient()\n"
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: findings, counts and the suggested configuration."""
        counts = {status.value: 0 for status in Status}
        for found in self.findings:
            counts[found.status.value] += 1
        options = self.suggested_client_options()
        contract = options.pop("contract", None)
        return {
            "baseUrl": self.base_url,
            "ok": self.ok,
            "counts": counts,
            "writeProbe": self.write_probe,
            "durationSeconds": round(self.duration, 3),
            "findings": [found.to_dict() for found in self.findings],
            "suggestedContract": _jsonable(contract_overrides(contract or DEFAULT_CONTRACT)),
            "suggestedClientOptions": _jsonable(options),
            "snippet": self.snippet(),
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

"""The write probe: create-or-reuse one template and one invitation twice (OP-2, OP-4, OP-5).

It learns the invitation path and the status codes of created and reused objects. It runs
only when asked, with a posting id and a test address the user names.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from ntrvsta_async.assumptions import TEMPLATE_ID_PLACEHOLDER, Contract
from ntrvsta_async.doctor._shared import describe, name_found, names
from ntrvsta_async.doctor.probe import Exchange, Probe
from ntrvsta_async.doctor.report import Finding, Status
from ntrvsta_async.resources import reused_flag

__all__ = [
    "INVITATION_PATHS",
    "check_invitations",
    "check_templates",
    "reuse_assumption",
    "write_probe_assumptions",
]

#: OP-2: invitation paths tried when the assumed one answers 404 or 405.
INVITATION_PATHS: Final = (
    "/v1/interview-invitations",
    "/v1/templates/{templateId}/invitations",
    "/v1/invitations",
)
_PROBE_DESCRIPTION: Final = (
    "Created by 'ntrvsta doctor --write-probe' to learn how create-or-reuse is signalled."
)


def _id_of(body: Any, name: str) -> tuple[str | None, str | None]:
    """The object id and the key it came under (``name`` or ``id``)."""
    if isinstance(body, Mapping):
        for key in (name, "id"):
            if isinstance(body.get(key), str) and body[key]:
                return str(body[key]), key
    return None, None


def _flags(first: bool | None, second: bool | None) -> str:
    if first is None and second is None:
        return "no reused/created flag in the body"
    shown = ["absent" if f is None else str(f).lower() for f in (first, second)]
    return f"body flag reused: {shown[0]}, then {shown[1]}"


def reuse_assumption(kind: str, path: str, contract: Contract) -> str:
    """The OP-4 assumption for creating a ``kind`` (template, invitation) at ``path``."""
    created, reused = contract.status_created, contract.status_reused
    if created is None or reused is None:
        return (
            f"POST {path} tells a created {kind} from a reused one (same {kind}Id) by a body "
            f"flag; statuses read: created {created}, reused {reused}"
        )
    return (
        f"POST {path} answers {created} when it creates the {kind} and "
        f"{reused} when it reuses it (same {kind}Id)"
    )


def write_probe_assumptions(contract: Contract) -> list[tuple[str, str, str]]:
    """(op, check, assumption) of every write-probe check, for a run without the probe."""
    return [
        ("OP-2", "invitation-path", _path_assumption(contract)),
        ("OP-4", "template-reuse", reuse_assumption("template", contract.templates_path, contract)),
        (
            "OP-4",
            "invitation-reuse",
            reuse_assumption("invitation", contract.invitations_path, contract),
        ),
    ]


def _path_assumption(contract: Contract) -> str:
    return f"POST {contract.invitations_path} with templateId in the body creates an invitation"


def _create_reuse(
    *,
    check: str,
    kind: str,
    path: str,
    id_field: str,
    first: Exchange,
    second: Exchange,
    contract: Contract,
) -> Finding:
    """OP-4: does the status (or a body flag) tell a created object from a reused one?"""
    created, reused = contract.status_created, contract.status_reused
    assumption = reuse_assumption(kind, path, contract)
    found = functools.partial(Finding, op="OP-4", check=check, assumption=assumption)
    s1, s2 = first.status, second.status
    if s1 is None or s2 is None or not second.ok:
        return found(
            observed=f"first call {s1}; second call {describe(second)}", status=Status.UNKNOWN
        )
    first_id, _ = _id_of(first.body, id_field)
    second_id, _ = _id_of(second.body, id_field)
    flag_1, flag_2 = reused_flag(None, first.body), reused_flag(None, second.body)
    flags = _flags(flag_1, flag_2)
    if first_id != second_id:
        return found(
            observed=f"the second call returned another {kind} ({s1}, then {s2}): no reuse",
            status=Status.DIFFERS,
            advice=f"repeating this call creates another {kind}; do not rely on create-or-reuse",
        )
    if flag_1 is True:
        observed = f"the first call already reused an existing {kind} ({s1}; {flags})"
        if s2 == reused:
            return found(
                observed=f"{observed}; the created status was not seen: probe with a fresh "
                "posting id and address",
                status=Status.UNKNOWN,
            )
        return found(
            observed=f"{observed}; reused answered {s2}",
            status=Status.DIFFERS,
            override={"status_reused": s2},
        )
    observed = f"created returned {s1}; reused returned {s2} (same {id_field}; {flags})"
    if s1 == created and s2 == reused:
        return found(observed=observed, status=Status.OK)
    if s1 == s2:
        observed = (
            f"created returned {s1}; reused returned {s2}: the status does not tell them apart; "
            f"rely on a body flag ({flags})"
        )
        sdk = (
            reused_flag(s1, first.body, contract),
            reused_flag(s2, second.body, contract),
        )
        name = f"{kind.capitalize()}.reused"
        unflagged = flag_1 is None and flag_2 is None
        if unflagged and created is None and reused is None:
            return found(
                observed=f"{observed}; {name} is None, as this contract reads no status",
                status=Status.OK,
            )
        override: dict[str, Any] = {}
        if sdk == (False, True):
            advice = (
                f"no status setting can help; the SDK reads the body flag first, so {name} is right"
            )
        elif unflagged:
            override = {"status_created": None, "status_reused": None}
            advice = f"{name} is then None rather than {sdk[0]} for a new {kind}"
        else:
            advice = (
                f"no setting can help: {name} reads {sdk[0]} for a new {kind} and {sdk[1]} "
                "for a reused one; do not rely on it here"
            )
        if sdk != (False, True) and flag_1 is None and s1 == reused:
            advice += " (or the posting id was used before: probe with a fresh one)"
        return found(observed=observed, status=Status.DIFFERS, advice=advice, override=override)
    override = {}
    if s1 != created:
        override["status_created"] = s1
    if s2 != reused:
        override["status_reused"] = s2
    return found(observed=observed, status=Status.DIFFERS, override=override)


async def check_templates(
    probe: Probe, contract: Contract, *, posting_id: str, title: str
) -> tuple[list[Finding], str | None]:
    """OP-4/OP-5: create-or-reuse one template twice; returns the findings and its id."""
    path = contract.templates_path
    body = {"title": title, "description": _PROBE_DESCRIPTION, "externalPostingId": posting_id}
    first = await probe.send("POST", path, json=body)
    assumption = reuse_assumption("template", path, contract)
    if not first.ok:
        status = Status.DIFFERS if first.status in (404, 405) else Status.UNKNOWN
        return [
            Finding(
                op="OP-4",
                check="template-reuse",
                assumption=assumption,
                observed=f"creating the probe template answered {describe(first)}",
                status=status,
                advice="check the templates path" if status is Status.DIFFERS else None,
            )
        ], None
    template_id, _ = _id_of(first.body, "templateId")
    if template_id is None:
        keys = names(first.body) if isinstance(first.body, Mapping) else "-"
        return [
            Finding(
                op="OP-5",
                check="template-reuse",
                assumption=assumption,
                observed=f"HTTP {first.status} without templateId or id (keys: {keys})",
                status=Status.DIFFERS,
                advice="the SDK cannot read this template; report the response shape",
            )
        ], None
    second = await probe.send("POST", path, json=body)
    finding = _create_reuse(
        check="template-reuse",
        kind="template",
        path=path,
        id_field="templateId",
        first=first,
        second=second,
        contract=contract,
    )
    return [finding], template_id


async def check_invitations(
    probe: Probe, contract: Contract, *, template_id: str, email: str
) -> list[Finding]:
    """OP-2 (the invitation path) and OP-4/OP-6 (create-or-reuse) for one test address."""
    assumed = contract.invitations_path
    invitation_path = functools.partial(
        Finding, op="OP-2", check="invitation-path", assumption=_path_assumption(contract)
    )
    invitation_reuse = functools.partial(
        Finding,
        op="OP-4",
        check="invitation-reuse",
        assumption=reuse_assumption("invitation", assumed, contract),
    )
    body = {"templateId": template_id, "candidate": {"email": email}}

    def concrete(path: str) -> str:
        return path.replace(TEMPLATE_ID_PLACEHOLDER, quote(template_id, safe=""))

    first = await probe.send("POST", concrete(assumed), json=body)
    used = assumed
    tried: list[str] = []
    if first.status in (404, 405):
        tried.append(f"{assumed}: {describe(first)}")
        for alternative in INVITATION_PATHS:
            if alternative == assumed:
                continue
            attempt = await probe.send("POST", concrete(alternative), json=body)
            if attempt.ok:
                first, used = attempt, alternative
                break
            tried.append(f"{alternative}: {attempt.describe()}")
        if used == assumed:
            return [
                invitation_path(
                    observed="; ".join(tried),
                    status=Status.DIFFERS,
                    advice="no known invitation path answered; report it to NTRVSTA",
                ),
                invitation_reuse(
                    observed="not checked: no invitation path answered", status=Status.UNKNOWN
                ),
            ]
    elif not first.ok:
        refused = first.status in (400, 422)
        return [
            invitation_path(
                observed=f"{assumed}: {describe(first)}",
                status=Status.DIFFERS if refused else Status.UNKNOWN,
                advice=(
                    "the route exists but refused the body the SDK sends "
                    "({templateId, candidate: {email}}); see OP-6"
                    if refused
                    else None
                ),
            ),
            invitation_reuse(
                observed="not checked: the invitation was not created", status=Status.UNKNOWN
            ),
        ]
    observed = f"{used}: HTTP {first.status}"
    second = await probe.send("POST", concrete(used), json=body)
    return [
        name_found(
            invitation_path,
            contract,
            field="invitations_path",
            name=used,
            observed=observed,
            tried=tried,
        ),
        _create_reuse(
            check="invitation-reuse",
            kind="invitation",
            path=used,
            id_field="invitationId",
            first=first,
            second=second,
            contract=contract,
        ),
    ]

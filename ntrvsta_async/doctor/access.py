"""Reaching the API: the base URL (OP-1), the key's header (OP-3) and the error body (OP-10)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from ntrvsta_async.assumptions import REQUEST_ID_HEADERS, Contract
from ntrvsta_async.doctor._shared import describe
from ntrvsta_async.doctor.probe import AUTH_FORMS, AuthForm, Exchange, Probe
from ntrvsta_async.doctor.report import NO_SETTING_NEEDED, Finding, Status
from ntrvsta_async.transport.responses import error_fields

__all__ = ["check_auth", "check_base_url_and_errors"]


async def check_base_url_and_errors(probe: Probe, contract: Contract) -> list[Finding]:
    """OP-1 (the base URL answers) and OP-10 (the error body of a call without a key)."""
    path = contract.results_path
    ex = await probe.send("GET", path, auth=None)
    base = "the base URL answers and the /v1 routes live under it (a stage path is kept)"
    shape = (
        "a call without a key answers 401 (or 403) with a JSON body whose message the SDK finds "
        "(message, error.message, error or detail)"
    )
    gateway_404 = (
        ex.status == 403
        and isinstance(ex.body, Mapping)
        and ex.body.get("message") == "Missing Authentication Token"
    )
    base_url = functools.partial(Finding, op="OP-1", check="base-url", assumption=base)
    error_shape = functools.partial(Finding, op="OP-10", check="error-shape", assumption=shape)
    if ex.status is None:
        return [
            base_url(
                observed=f"GET {probe.url(path)}: {ex.describe()}",
                status=Status.DIFFERS,
                advice="check --base-url (scheme, host, port and stage path such as /dev)",
            ),
            error_shape(observed="not checked: the base URL did not answer", status=Status.UNKNOWN),
        ]
    if ex.status == 404 or gateway_404:
        why = (
            "API Gateway answered 403 'Missing Authentication Token', its answer for unknown routes"
            if gateway_404
            else "HTTP 404 without a key: there is no such route"
        )
        return [
            base_url(
                observed=f"GET {probe.url(path)}: {why}",
                status=Status.DIFFERS,
                advice="check the stage path of --base-url (for example https://host/dev)",
            ),
            error_shape(
                observed="not checked: the results route was not found", status=Status.UNKNOWN
            ),
        ]
    exists = " (the route exists)" if ex.ok or ex.status in (401, 403) else ""
    return [
        base_url(
            observed=f"GET {probe.url(path)} without a key: {ex.describe()}{exists}",
            status=Status.OK,
        ),
        _error_shape(ex, error_shape),
    ]


def _error_shape(ex: Exchange, found: functools.partial[Finding]) -> Finding:
    if ex.ok:
        return found(
            observed=f"HTTP {ex.status} without any key: the results are served unauthenticated",
            status=Status.DIFFERS,
            advice="check --base-url: this does not look like the authenticated partner API",
        )
    if ex.status not in (401, 403):
        return found(
            observed=f"a call without a key answered {describe(ex)}, so a refused key was not seen",
            status=Status.UNKNOWN,
        )
    content_type = (ex.header("Content-Type") or "no Content-Type").split(";")[0]
    request_id = next((name for name in REQUEST_ID_HEADERS if ex.header(name)), None)
    rid = f"; request id in {request_id}" if request_id else "; no request-id header"
    if not ex.is_json or not isinstance(ex.body, Mapping):
        return found(
            observed=f"HTTP {ex.status}, {content_type}, not a JSON object: {ex.text[:80]!r}{rid}",
            status=Status.DIFFERS,
            advice=(
                NO_SETTING_NEEDED + "errors are mapped by status; the message falls back to the "
                "reason phrase and the raw body stays in APIStatusError.body"
            ),
        )
    message, code, _ = error_fields(ex.body)
    keys = "{" + ", ".join(sorted(str(key) for key in ex.body)) + "}"
    where = f"message at '{message[0]}'" if message else "no message field the SDK knows"
    where += f", code at '{code[0]}'" if code else ", no code"
    observed = f"HTTP {ex.status}, {content_type} {keys}: {where}{rid}"
    if message is None:
        return found(
            observed=observed,
            status=Status.DIFFERS,
            advice=(
                NO_SETTING_NEEDED + "errors are mapped by status and the body stays in "
                "APIStatusError.body; the message will read as the reason phrase"
            ),
        )
    return found(observed=observed, status=Status.OK)


# OP-3: which header carries the key.


async def check_auth(probe: Probe, contract: Contract, auth_scheme: str) -> Finding:
    """OP-3: the key is accepted in the assumed form; else find the form that works.

    Sets ``probe.auth`` to the accepted form, or to the assumed one when the answer was
    neither a success nor a refusal (the later checks then show that answer).
    """
    bearer = AuthForm("Authorization", bearer=True)
    assumed = bearer if auth_scheme == "bearer" else AuthForm(contract.api_key_header)
    found = functools.partial(
        Finding, op="OP-3", check="auth", assumption=f"the key is accepted in {assumed.label}"
    )
    path = contract.results_path
    ex = await probe.send("GET", path, auth=assumed)
    if ex.ok:
        probe.auth = assumed
        other = AuthForm(contract.api_key_header) if assumed.bearer else bearer
        also = await probe.send("GET", path, auth=other)
        note = "also accepted" if also.ok else f"not accepted ({also.describe()})"
        return found(
            observed=f"{assumed.label} accepted ({ex.describe()}); {other.label} {note}",
            status=Status.OK,
        )
    if ex.status not in (401, 403):
        if ex.status is not None:
            probe.auth = assumed
        why = f"GET {path} with the key answered {describe(ex)}; the key could not be judged"
        return found(observed=why, status=Status.UNKNOWN)
    tried = [f"{assumed.label}: {ex.describe()}"]
    forms = [AuthForm(contract.api_key_header), *AUTH_FORMS]
    for form in {f.label: f for f in forms if f.label != assumed.label}.values():
        attempt = await probe.send("GET", path, auth=form)
        if not attempt.ok:
            tried.append(f"{form.label}: {attempt.describe()}")
            continue
        probe.auth = form
        override: dict[str, Any] = {}
        options: dict[str, Any] = {}
        if form.bearer:
            options["auth_scheme"] = "bearer"
        else:
            if form.header != contract.api_key_header:
                override["api_key_header"] = form.header
            if auth_scheme == "bearer":
                options["auth_scheme"] = "api-key"
        return found(
            observed=f"{'; '.join(tried)}; {form.label} accepted ({attempt.describe()})",
            status=Status.DIFFERS,
            override=override,
            client_options=options,
        )
    return found(
        observed=f"the key was refused in every form tried ({'; '.join(tried)})",
        status=Status.DIFFERS,
        advice="check the key: it must be an external API key of this environment's organization",
    )

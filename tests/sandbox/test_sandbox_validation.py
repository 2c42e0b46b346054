"""The sandbox validates as the contract says: email format, RFC 3339 filters, auth headers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ntrvsta_async.sandbox import ThreadedSandbox

INVITATIONS = "/v1/interview-invitations"
RESULTS = "/v1/interview-results"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[ThreadedSandbox]:
    with ThreadedSandbox(seed=3) as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox: ThreadedSandbox) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["X-Ntrvsta-Api-Key"] = sandbox.api_key
        yield session


@pytest.fixture(scope="module")
def template_id(sandbox: ThreadedSandbox, http: requests.Session) -> str:
    response = http.post(sandbox.base_url + "/v1/templates", json={"title": "Validation"})
    assert response.status_code == 201
    value: str = response.json()["templateId"]
    return value


def _invite(sandbox: ThreadedSandbox, http: requests.Session, body: dict[str, Any]) -> Any:
    return http.post(sandbox.base_url + INVITATIONS, json=body, timeout=10)


def _listed_emails(sandbox: ThreadedSandbox, http: requests.Session) -> set[str]:
    emails: set[str] = set()
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = http.get(sandbox.base_url + RESULTS, params=params, timeout=10).json()
        emails |= {item["candidate"]["email"] for item in page["items"] if item.get("candidate")}
        cursor = page.get("nextCursor")
        if not cursor:
            return emails


@pytest.mark.parametrize(
    "email", ["a@b@example.com", "@example.com", "jane@", "jane", "ja ne@example.com", "j\x00@x.io"]
)
def test_an_address_that_is_not_one_local_at_domain_is_refused_and_never_served(
    sandbox: ThreadedSandbox, http: requests.Session, template_id: str, email: str
) -> None:
    response = _invite(sandbox, http, {"templateId": template_id, "candidate": {"email": email}})

    assert response.status_code == 422
    assert response.json()["details"] == {"field": "candidate.email"}
    assert email not in {i.candidate.email for i in sandbox.server.invitations if i.candidate}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(local=st.from_regex(r"[a-z0-9.+_-]{1,12}", fullmatch=True), extra=st.integers(1, 3))
def test_any_address_with_more_than_one_at_sign_is_refused(
    sandbox: ThreadedSandbox, http: requests.Session, template_id: str, local: str, extra: int
) -> None:
    email = local + "@x" * extra + "@example.com"
    response = _invite(sandbox, http, {"templateId": template_id, "candidate": {"email": email}})
    assert response.status_code == 422


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(email=st.emails())
def test_valid_addresses_are_accepted_and_served_back_as_sent(
    sandbox: ThreadedSandbox, http: requests.Session, template_id: str, email: str
) -> None:
    response = _invite(sandbox, http, {"templateId": template_id, "candidate": {"email": email}})
    assert response.status_code in (200, 201), response.text
    if response.status_code == 201:
        sandbox.complete(response.json()["invitationId"])
    listed = {listed.casefold() for listed in _listed_emails(sandbox, http)}
    assert email.casefold() in listed


@pytest.mark.parametrize(
    "value",
    ["2020-01-01", "2020-01-01T00:00:00", "2020-01-01T00:00Z", "20200101T000000Z", "yesterday"],
)
def test_completed_after_must_be_an_rfc3339_date_time_with_an_offset(
    sandbox: ThreadedSandbox, http: requests.Session, value: str
) -> None:
    response = http.get(sandbox.base_url + RESULTS, params={"completedAfter": value}, timeout=10)

    assert response.status_code == 400
    assert response.json()["details"] == {"field": "completedAfter"}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    when=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
    offset_minutes=st.integers(-23 * 60, 23 * 60),
)
def test_every_rfc3339_date_time_with_an_offset_is_accepted(
    sandbox: ThreadedSandbox, http: requests.Session, when: datetime, offset_minutes: int
) -> None:
    aware = when.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    text = aware.isoformat()
    response = http.get(sandbox.base_url + RESULTS, params={"completedAfter": text}, timeout=10)
    assert response.status_code == 200, (text, response.text)


def test_a_valid_key_is_accepted_beside_an_unrelated_basic_authorization(
    sandbox: ThreadedSandbox, http: requests.Session
) -> None:
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}  # a proxy's credentials, not ours
    with_key = http.get(sandbox.base_url + RESULTS, headers=basic, timeout=10)
    basic_alone = requests.get(sandbox.base_url + RESULTS, headers=basic, timeout=10)
    wrong_bearer = http.get(
        sandbox.base_url + RESULTS, headers={"Authorization": "Bearer sbx_other"}, timeout=10
    )

    assert with_key.status_code == 200
    assert basic_alone.status_code == 401
    assert wrong_bearer.status_code == 401, "two keys that disagree are still refused"

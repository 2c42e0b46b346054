"""TLS verification stays on: a server with a self-signed certificate is refused before the key
is sent, no client option turns the check off, and only a caller-owned session can trust it."""

from __future__ import annotations

import inspect
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from ntrvsta_async import APIConnectionError, ConfigurationError, NtrvstaClient, RetryPolicy
from tests.conftest import RecordingSleep, serve

API_KEY = "ntr_live_tls_0123456789abcdef"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 - a fixed command line
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def https_server(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, list[str]]]:
    """A loopback HTTPS API whose certificate no public authority signed."""
    cert, key = certificate
    keys_seen: list[str] = []

    async def templates(request: web.Request) -> web.Response:
        keys_seen.append(request.headers.get("X-Ntrvsta-Api-Key", ""))
        return web.json_response({"templateId": "tpl_tls", "title": "t"}, status=201)

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = web.Application()
    app.router.add_post("/v1/templates", templates)
    async with serve(app, ssl_context=context) as url:
        yield url, keys_seen


async def test_self_signed_certificate_is_refused_before_the_key_is_sent(
    https_server: tuple[str, list[str]],
) -> None:
    base, keys_seen = https_server
    sleeps = RecordingSleep()
    policy = RetryPolicy(max_retries=1, sleep=sleeps)
    async with NtrvstaClient(api_key=API_KEY, base_url=base, retry_policy=policy) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.templates.create(title="t", external_posting_id="p")

    assert "certificate" in str(info.value).lower()
    assert info.value.request_sent is False
    assert API_KEY not in str(info.value)
    assert keys_seen == [], "no request, and so no key, reached the unverified server"


async def test_globally_disabled_stdlib_verification_does_not_reach_the_client(
    https_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, keys_seen = https_server
    monkeypatch.setattr(ssl, "_create_default_https_context", ssl._create_unverified_context)
    monkeypatch.setenv("PYTHONHTTPSVERIFY", "0")
    async with NtrvstaClient(api_key=API_KEY, base_url=base, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            await client.templates.create(title="t", external_posting_id="p")
    assert keys_seen == []


async def test_only_a_caller_owned_session_can_trust_another_certificate(
    https_server: tuple[str, list[str]], certificate: tuple[Path, Path]
) -> None:
    base, keys_seen = https_server
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    connector = aiohttp.TCPConnector(ssl=trusting)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        NtrvstaClient(api_key=API_KEY, base_url=base, session=session) as client,
    ):
        template = await client.templates.create(title="t", external_posting_id="p")

    assert template.template_id == "tpl_tls"
    assert keys_seen == [API_KEY]


def test_no_client_option_disables_certificate_checks() -> None:
    options = set(inspect.signature(NtrvstaClient.__init__).parameters)
    risky = {"ssl", "verify", "verify_ssl", "ssl_context", "insecure", "cafile", "connector"}
    assert not options & risky
    assert not [name for name in options if "ssl" in name or "verify" in name or "cert" in name]


async def test_the_clients_own_pool_verifies_certificates() -> None:
    async with NtrvstaClient(api_key=API_KEY, base_url="https://partners.ntrvsta.test") as client:
        connector = client._transport._pool.get().connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector._ssl is True


@pytest.mark.parametrize(
    "url", ["http://partners.ntrvsta.com", "http://203.0.113.7/dev", "http://[2001:db8::1]"]
)
def test_plain_http_to_a_public_host_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("NTRVSTA_API_KEY", API_KEY)
    monkeypatch.setenv("NTRVSTA_BASE_URL", url)
    with pytest.raises(ConfigurationError, match="http://") as info:
        NtrvstaClient()
    assert API_KEY not in str(info.value)

"""Recording real webhook deliveries and naming what they carry (OP-12, OP-13, OP-15).

``CaptureRecorder`` is an aiohttp receiver that writes each delivery to a folder
(``NNNN-headers.json``, ``NNNN-body.bin``, ``NNNN-analysis.json``) and answers 200. The
analysis says which signature form matched with which configured secret (by index, never the
secret), whether the SDK's ``WebhookVerifier`` accepts it, and which payload fields arrived.
A captured pair of headers and body is ready to become a test fixture (``load_capture``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hmac
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import attrs
from aiohttp import web

from ntrvsta_async.assumptions import (
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WEBHOOK_TOLERANCE,
)
from ntrvsta_async.doctor.report import NO_SETTING_NEEDED, Finding, Status
from ntrvsta_async.errors import WebhookVerificationError
from ntrvsta_async.webhooks import DEFAULT_MAX_BODY_SIZE, WebhookVerifier
from ntrvsta_async.webhooks.signing import (
    SignatureHeader,
    SigningKey,
    check_secrets,
    parse_signature_header,
    signed_message,
)

__all__ = [
    "CAPTURE_RECORDER",
    "EXPECTED_HEADERS",
    "EXPECTED_PAYLOAD_FIELDS",
    "MISSING",
    "OPTIONAL_PAYLOAD_FIELDS",
    "UNRECOGNISED",
    "CaptureRecorder",
    "DeliveryAnalysis",
    "PayloadFields",
    "SignatureMatch",
    "analyse_delivery",
    "capture_app",
    "load_capture",
]

#: OP-15: the payload fields the SDK assumes, as dotted paths (objects are descended into).
EXPECTED_PAYLOAD_FIELDS: Final = (
    "event",
    "eventId",
    "occurredAt",
    "resultId",
    "organizationId",
    "templateId",
    "externalPostingId",
    "invitationId",
    "candidate",
    "candidate.email",
    "interview",
    "interview.status",
    "interview.language",
    "interview.startedAt",
    "interview.completedAt",
    "interview.durationSeconds",
    "interview.whiteboardUsed",
    "aiAnalysis",
    "aiAnalysis.summary",
    "aiAnalysis.strengths",
    "aiAnalysis.concerns",
    "aiAnalysis.integrityWarning",
    "aiAnalysis.scoring",
    "aiAnalysis.scoring.overallScore",
    "aiAnalysis.scoring.maxScore",
    "aiAnalysis.scoring.categories",
    "resultUrl",
)
#: OP-6 / OP-15: fields that come only when the data has them (a candidate without a name).
OPTIONAL_PAYLOAD_FIELDS: Final = (
    "candidate.firstName",
    "candidate.lastName",
    "candidate.externalCandidateId",
)
#: OP-12: the delivery headers the SDK assumes; the timestamp header is optional.
EXPECTED_HEADERS: Final = (
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
)
#: ``SignatureMatch.header_format`` of a delivery without a signature header.
MISSING: Final = "missing"
#: ``SignatureMatch.header_format`` of a signature header in none of the known forms.
UNRECOGNISED: Final = "unrecognised"
_OBJECTS: Final = frozenset({"candidate", "interview", "aiAnalysis", "aiAnalysis.scoring"})
_REDACTED_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
_NUMBERED: Final = re.compile(r"^(\d{4,})-")
_SIGNATURE_ASSUMPTION: Final = (
    "X-Ntrvsta-Signature is a hex HMAC-SHA256 of the raw body (bare or sha256=<hex>), or "
    "t=<unix>,v1=<hex> over '<t>.<body>'"
)
_HEADERS_ASSUMPTION: Final = (
    "a delivery carries X-Ntrvsta-Event, X-Ntrvsta-Signature and X-Ntrvsta-Idempotency-Key "
    "(X-Ntrvsta-Timestamp optional)"
)
_PAYLOAD_ASSUMPTION: Final = (
    "the body is a flat JSON object with resultId and the OP-15 fields (event, eventId, "
    "candidate, interview, aiAnalysis.scoring, resultUrl, ...)"
)


@attrs.frozen
class SignatureMatch:
    """How a delivery was signed: the header's form, the scheme and encoding that matched,
    and the index of the configured secret that matched (never the secret itself)."""

    header_format: str
    scheme: str | None = None
    encoding: str | None = None
    secret_index: int | None = None
    timestamp_source: str | None = None
    timestamp_age: float | None = None
    sdk_verified: bool = False
    sdk_reason: str | None = None

    @property
    def matched(self) -> bool:
        """True when some configured secret reproduces the signature."""
        return self.secret_index is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "headerFormat": self.header_format,
            "scheme": self.scheme,
            "encoding": self.encoding,
            "secretIndex": self.secret_index,
            "timestampSource": self.timestamp_source,
            "timestampAgeSeconds": (
                None if self.timestamp_age is None else round(self.timestamp_age, 3)
            ),
            "sdkVerified": self.sdk_verified,
            "sdkReason": self.sdk_reason,
        }


@attrs.frozen
class PayloadFields:
    """Which OP-15 fields a body carried (dotted paths), and whether it was enveloped."""

    present: tuple[str, ...]
    missing: tuple[str, ...]
    optional_missing: tuple[str, ...]
    extra: tuple[str, ...]
    enveloped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "present": list(self.present),
            "missing": list(self.missing),
            "optionalMissing": list(self.optional_missing),
            "extra": list(self.extra),
            "enveloped": self.enveloped,
        }


@attrs.frozen
class DeliveryAnalysis:
    """One recorded delivery: where it went, how it was signed, its headers and fields."""

    number: int
    received_at: str
    method: str
    path: str
    body_size: int
    signature: SignatureMatch
    headers_present: tuple[str, ...]
    headers_missing: tuple[str, ...]
    headers_extra: tuple[str, ...]
    payload: PayloadFields | None
    event: str | None = None
    result_id: str | None = None
    files: tuple[str, ...] = ()

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The delivery judged as doctor findings: OP-12 headers, OP-13 scheme, OP-15 fields."""
        return (_headers_finding(self), _signature_finding(self.signature), _payload_finding(self))

    def summary(self) -> str:
        """One line for a terminal."""
        sig = self.signature
        if sig.matched:
            how = f"{sig.scheme} ({sig.header_format}, {sig.encoding})"
            how += f" matched secret #{sig.secret_index}"
        elif sig.header_format == MISSING:
            how = "no signature header"
        else:
            how = f"{sig.header_format}: no configured secret matched"
        verdict = "accepted" if sig.sdk_verified else f"refused ({sig.sdk_reason})"
        fields = "not a JSON object"
        if self.payload is not None:
            fields = (
                f"{len(self.payload.present)} fields, {len(self.payload.missing)} missing, "
                f"{len(self.payload.extra)} extra"
            )
        return f"#{self.number:04d} {self.method} {self.path}: {how}; SDK {verdict}; {fields}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data, findings included."""
        return {
            "number": self.number,
            "receivedAt": self.received_at,
            "method": self.method,
            "path": self.path,
            "bodySize": self.body_size,
            "event": self.event,
            "resultId": self.result_id,
            "signature": self.signature.to_dict(),
            "headers": {
                "present": list(self.headers_present),
                "missing": list(self.headers_missing),
                "extra": list(self.headers_extra),
            },
            "payload": None if self.payload is None else self.payload.to_dict(),
            "findings": [finding.to_dict() for finding in self.findings],
            "files": list(self.files),
        }


# Analysis


def _header_items(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), str(value)) for name, value in pairs]


def _first(items: Sequence[tuple[str, str]], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in items if key.lower() == lowered), None)


def _parsed(value: str | None) -> SignatureHeader | None:
    """The signature header taken apart; None when it is absent or in none of the forms."""
    if value is None or not value.strip():
        return None
    try:
        return parse_signature_header(value)
    except WebhookVerificationError:
        return None


def _encodings(mac: bytes) -> list[tuple[str, str]]:
    b64 = base64.b64encode(mac).decode("ascii")
    url = base64.urlsafe_b64encode(mac).decode("ascii")
    return [
        ("hex", mac.hex()),
        ("base64", b64),
        ("base64", b64.rstrip("=")),
        ("base64url", url),
        ("base64url", url.rstrip("=")),
    ]


def _match(
    body: bytes, header: SignatureHeader, header_timestamp: str | None, keys: Sequence[SigningKey]
) -> SignatureMatch:
    messages: list[tuple[str, bytes, str | None]] = []
    if header.timestamp is None:
        messages.append(("hex", signed_message(body), None))
    timestamp = header.timestamp or header_timestamp
    source = "signature" if header.timestamp else ("header" if header_timestamp else None)
    if timestamp is not None:
        messages.append(("timestamped", signed_message(body, timestamp), source))
    for index, key in enumerate(keys):
        for scheme, message, ts_source in messages:
            for encoding, expected in _encodings(key.digest(message)):
                for signature in header.signatures:
                    given = signature.lower() if encoding == "hex" else signature
                    if hmac.compare_digest(given.encode(), expected.encode()):
                        return SignatureMatch(
                            header_format=header.form,
                            scheme=scheme,
                            encoding=encoding,
                            secret_index=index,
                            timestamp_source=ts_source,
                        )
    return SignatureMatch(header_format=header.form, timestamp_source=source)


def _walk(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if path in _OBJECTS and isinstance(value, Mapping):
            paths += _walk(value, f"{path}.")
    return paths


def _payload_fields(payload: Any) -> tuple[PayloadFields | None, Mapping[str, Any] | None]:
    if not isinstance(payload, Mapping):
        return None, None
    data, enveloped = payload, False
    inner = payload.get("data")
    if "resultId" not in payload and isinstance(inner, Mapping) and "resultId" in inner:
        data, enveloped = inner, True
    seen = _walk(data)
    known = {*EXPECTED_PAYLOAD_FIELDS, *OPTIONAL_PAYLOAD_FIELDS}
    fields = PayloadFields(
        present=tuple(path for path in seen if path in known),
        missing=tuple(path for path in EXPECTED_PAYLOAD_FIELDS if path not in seen),
        optional_missing=tuple(path for path in OPTIONAL_PAYLOAD_FIELDS if path not in seen),
        extra=tuple(path for path in seen if path not in known),
        enveloped=enveloped,
    )
    return fields, data


def analyse_delivery(
    body: bytes,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
    secrets: str | Sequence[str],
    *,
    number: int = 0,
    method: str = "POST",
    path: str = "/",
    tolerance: float | None = WEBHOOK_TOLERANCE,
    clock: Callable[[], float] = time.time,
) -> DeliveryAnalysis:
    """Analyse one delivery: signature form and secret, SDK verdict, headers, payload fields."""
    secret_list = check_secrets(secrets, "capture")
    keys = [SigningKey(secret) for secret in secret_list]
    items = _header_items(headers)
    value = _first(items, WEBHOOK_SIGNATURE_HEADER)
    header_timestamp = _first(items, WEBHOOK_TIMESTAMP_HEADER)
    header = _parsed(value)
    if value is None or not value.strip():
        signature = SignatureMatch(header_format=MISSING)
    elif header is None:
        signature = SignatureMatch(header_format=UNRECOGNISED)
    else:
        signature = _match(body, header, header_timestamp, keys)
    try:
        WebhookVerifier(secret_list, tolerance=tolerance, clock=clock).verify(body, dict(items))
        signature = attrs.evolve(signature, sdk_verified=True)
    except WebhookVerificationError as exc:
        signature = attrs.evolve(signature, sdk_reason=exc.reason)
    stamp = _signed_timestamp(header, header_timestamp)
    if stamp is not None:
        signature = attrs.evolve(signature, timestamp_age=clock() - stamp)
    names = {name.lower(): name for name, _ in items}
    present = tuple(h for h in EXPECTED_HEADERS if h.lower() in names)
    missing = tuple(h for h in EXPECTED_HEADERS if h.lower() not in names)
    expected = {h.lower() for h in (*EXPECTED_HEADERS, WEBHOOK_TIMESTAMP_HEADER)}
    extra = tuple(
        original
        for lowered, original in names.items()
        if lowered.startswith("x-ntrvsta-") and lowered not in expected
    )
    if WEBHOOK_TIMESTAMP_HEADER.lower() in names:
        present += (WEBHOOK_TIMESTAMP_HEADER,)
    try:
        decoded: Any = json.loads(body)
    except (ValueError, RecursionError):
        decoded = None
    fields, data = _payload_fields(decoded)
    event = _first(items, WEBHOOK_EVENT_HEADER)
    result_id = None
    if data is not None:
        event = event or _text(data.get("event")) or _text(data.get("type"))
        result_id = _text(data.get("resultId"))
    return DeliveryAnalysis(
        number=number,
        received_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        method=method,
        path=path,
        body_size=len(body),
        signature=signature,
        headers_present=present,
        headers_missing=missing,
        headers_extra=extra,
        payload=fields,
        event=event,
        result_id=result_id,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _signed_timestamp(header: SignatureHeader | None, header_timestamp: str | None) -> int | None:
    stamp = (header.timestamp if header else None) or header_timestamp
    if stamp is None or not stamp.strip().isdigit():
        return None
    return int(stamp.strip())


# Findings


def _signature_finding(sig: SignatureMatch) -> Finding:
    found = functools.partial(
        Finding, op="OP-13", check="signature", assumption=_SIGNATURE_ASSUMPTION
    )
    verdict = (
        "the SDK verifier accepts it"
        if sig.sdk_verified
        else f"the SDK verifier refuses it ({sig.sdk_reason})"
    )
    if sig.header_format == MISSING:
        return found(
            observed=f"no {WEBHOOK_SIGNATURE_HEADER} header",
            status=Status.DIFFERS,
            advice="unsigned, or signed in another header: keep the sample and report it",
        )
    if sig.header_format == UNRECOGNISED:
        return found(
            observed=f"{WEBHOOK_SIGNATURE_HEADER} in none of the known forms; {verdict}",
            status=Status.DIFFERS,
            advice="the SDK cannot read this signature header: keep the sample and report it",
        )
    if not sig.matched:
        return found(
            observed=f"{sig.header_format}: no configured secret reproduces it in any known form",
            status=Status.UNKNOWN,
            advice="check the signing secret (Settings > Integrations); then capture again",
        )
    observed = (
        f"{sig.scheme}: {sig.header_format} with a {sig.encoding} digest, "
        f"secret #{sig.secret_index}; {verdict}"
    )
    if sig.encoding != "hex":
        return found(
            observed=observed,
            status=Status.DIFFERS,
            advice=(
                f"the SDK checks hex digests only; a {sig.encoding} digest needs a verifier change"
            ),
        )
    pin = f'pin it: WebhookVerifier(secrets, scheme="{sig.scheme}")'
    return found(observed=observed, status=Status.OK, advice=pin)


def _headers_finding(analysis: DeliveryAnalysis) -> Finding:
    found = functools.partial(
        Finding, op="OP-12", check="delivery-headers", assumption=_HEADERS_ASSUMPTION
    )
    present = ", ".join(analysis.headers_present) or "none"
    observed = f"present: {present}"
    if analysis.headers_extra:
        observed += f"; other X-Ntrvsta headers: {', '.join(analysis.headers_extra)}"
    if not analysis.headers_missing:
        return found(observed=observed, status=Status.OK)
    notes = []
    if WEBHOOK_IDEMPOTENCY_HEADER in analysis.headers_missing:
        notes.append("without the idempotency key the receiver de-duplicates by resultId")
    if WEBHOOK_EVENT_HEADER in analysis.headers_missing:
        notes.append("the event header is optional for the SDK")
    return found(
        observed=f"{observed}; missing: {', '.join(analysis.headers_missing)}",
        status=Status.DIFFERS,
        advice=NO_SETTING_NEEDED + "; ".join(notes) if notes else None,
    )


def _payload_finding(analysis: DeliveryAnalysis) -> Finding:
    fields = analysis.payload
    found = functools.partial(
        Finding, op="OP-15", check="payload-fields", assumption=_PAYLOAD_ASSUMPTION
    )
    if fields is None:
        return found(observed="the body is not a JSON object", status=Status.DIFFERS)
    observed = f"{len(fields.present)} known fields present"
    if fields.extra:
        observed += f"; extra (kept in .extra): {', '.join(fields.extra)}"
    if fields.optional_missing:
        observed += f"; optional absent: {', '.join(fields.optional_missing)}"
    if fields.enveloped:
        observed = "enveloped under 'data'; " + observed
    if "resultId" in fields.missing:
        return found(
            observed=f"{observed}; no resultId",
            status=Status.DIFFERS,
            advice="the SDK refuses a payload without resultId; report the sample",
        )
    if fields.missing or fields.enveloped:
        missing = f"; missing: {', '.join(fields.missing)}" if fields.missing else ""
        return found(
            observed=observed + missing,
            status=Status.DIFFERS,
            advice=NO_SETTING_NEEDED + "missing fields read as None; an envelope is unwrapped",
        )
    return found(observed=observed, status=Status.OK)


# Recording


def load_capture(directory: str | Path, number: int) -> tuple[list[tuple[str, str]], bytes]:
    """The headers and raw body of capture ``number``, for a test fixture or re-analysis."""
    folder = Path(directory)
    meta = json.loads((folder / f"{number:04d}-headers.json").read_text(encoding="utf-8"))
    headers = [(str(name), str(value)) for name, value in meta["headers"]]
    return headers, (folder / f"{number:04d}-body.bin").read_bytes()


class CaptureRecorder:
    """Receives deliveries on any path, records each to ``directory`` and analyses it.

    ``secrets`` are the signing secrets to try (several during a rotation); only their index
    is ever written. ``on_capture`` hears of each analysis. Numbering continues after the
    captures already in the folder.
    """

    def __init__(
        self,
        directory: str | Path,
        secrets: str | Sequence[str],
        *,
        tolerance: float | None = WEBHOOK_TOLERANCE,
        on_capture: Callable[[DeliveryAnalysis], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secrets = check_secrets(secrets, "capture")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tolerance = tolerance
        self.on_capture = on_capture
        self._clock = clock
        self._next = 1 + max(
            (
                int(match.group(1))
                for entry in self.directory.iterdir()
                if (match := _NUMBERED.match(entry.name))
            ),
            default=0,
        )
        self.captures: list[DeliveryAnalysis] = []
        self._changed = asyncio.Condition()

    def __repr__(self) -> str:
        return (
            f"CaptureRecorder(directory={str(self.directory)!r}, "
            f"secrets=<{len(self._secrets)} hidden>, captures={len(self.captures)})"
        )

    def app(self) -> web.Application:
        """An aiohttp application recording every POST (any path) with this recorder."""
        app = web.Application(client_max_size=DEFAULT_MAX_BODY_SIZE)
        app[CAPTURE_RECORDER] = self
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """Record a POST and answer 200; other methods get a short note (GET) or 405."""
        if request.method == "GET":
            return web.Response(text="ntrvsta webhook capture: POST deliveries to this URL\n")
        if request.method != "POST":
            return web.Response(status=405, headers={"Allow": "GET, POST"})
        body = await request.read()
        number, self._next = self._next, self._next + 1
        items = list(request.headers.items())
        analysis = analyse_delivery(
            body,
            items,
            self._secrets,
            number=number,
            method=request.method,
            path=request.path,
            tolerance=self.tolerance,
            clock=self._clock,
        )
        files = await asyncio.to_thread(self._write, analysis, items, request.query_string, body)
        analysis = attrs.evolve(analysis, files=files)
        self.captures.append(analysis)
        async with self._changed:
            self._changed.notify_all()
        if self.on_capture is not None:
            self.on_capture(analysis)
        return web.json_response({"captured": number})

    async def wait_for(self, count: int) -> tuple[DeliveryAnalysis, ...]:
        """Wait until ``count`` deliveries were recorded (bound it with ``asyncio.timeout``)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.captures) >= count)
        return tuple(self.captures)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[secret]")
        return text

    def _write(
        self,
        analysis: DeliveryAnalysis,
        items: list[tuple[str, str]],
        query: str,
        body: bytes,
    ) -> tuple[str, ...]:
        stem = f"{analysis.number:04d}"
        headers = [
            [name, "[redacted]" if name.lower() in _REDACTED_HEADERS else self._scrub(value)]
            for name, value in items
        ]
        meta = {
            "number": analysis.number,
            "receivedAt": analysis.received_at,
            "method": analysis.method,
            "path": analysis.path,
            "query": self._scrub(query),
            "headers": headers,
        }
        paths = (
            self.directory / f"{stem}-headers.json",
            self.directory / f"{stem}-body.bin",
            self.directory / f"{stem}-analysis.json",
        )
        paths[0].write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
        paths[1].write_bytes(body)
        report = attrs.evolve(analysis, files=tuple(p.name for p in paths)).to_dict()
        paths[2].write_text(
            self._scrub(json.dumps(report, indent=2, ensure_ascii=False)) + "\n", "utf-8"
        )
        return tuple(str(path) for path in paths)


CAPTURE_RECORDER: Final = web.AppKey("ntrvsta_capture_recorder", CaptureRecorder)
"""Where ``capture_app`` keeps its ``CaptureRecorder`` on the application."""


def capture_app(
    directory: str | Path,
    secrets: str | Sequence[str],
    *,
    tolerance: float | None = WEBHOOK_TOLERANCE,
    on_capture: Callable[[DeliveryAnalysis], None] | None = None,
) -> web.Application:
    """An aiohttp application recording deliveries to ``directory``; its recorder is at
    ``app[CAPTURE_RECORDER]``."""
    recorder = CaptureRecorder(directory, secrets, tolerance=tolerance, on_capture=on_capture)
    return recorder.app()

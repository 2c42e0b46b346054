"""Checking a live environment against the SDK's contract assumptions (the open points
OP-1..OP-18 named in ``ntrvsta_async/assumptions.py``).

``run_doctor`` probes an environment and returns a ``DoctorReport``: one ``Finding`` per
assumption (OK, DIFFERS or UNKNOWN) and the ``Contract`` that makes the client follow what
was observed. ``CaptureRecorder`` records real webhook deliveries and says which signature
scheme and payload fields they carry.
"""

from __future__ import annotations

from ntrvsta_async.doctor.capture import (
    CAPTURE_RECORDER,
    CaptureRecorder,
    DeliveryAnalysis,
    PayloadFields,
    SignatureMatch,
    analyse_delivery,
    capture_app,
    load_capture,
)
from ntrvsta_async.doctor.contract_file import (
    SavedContract,
    contract_file_data,
    contract_from_mapping,
    contract_overrides,
    load_contract,
    read_contract_file,
)
from ntrvsta_async.doctor.report import DoctorReport, Finding, Status
from ntrvsta_async.doctor.runner import WriteProbe, run_doctor

__all__ = [
    "CAPTURE_RECORDER",
    "CaptureRecorder",
    "DeliveryAnalysis",
    "DoctorReport",
    "Finding",
    "PayloadFields",
    "SavedContract",
    "SignatureMatch",
    "Status",
    "WriteProbe",
    "analyse_delivery",
    "capture_app",
    "contract_file_data",
    "contract_from_mapping",
    "contract_overrides",
    "load_capture",
    "load_contract",
    "read_contract_file",
    "run_doctor",
]

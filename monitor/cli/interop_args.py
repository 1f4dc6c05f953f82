"""The command-line arguments of ``hl7-listen``, ``fhir-listen`` and ``import-fhir`` (argparse
only: the commands import their modules when they run)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

INTEROP_COMMANDS = ("hl7-listen", "fhir-listen", "import-fhir")


def add_interop_parsers(sub: Any, bootstrap_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    hl = sub.add_parser(
        "hl7-listen",
        help="MLLP listener: HL7 v2 ORU^R01 and RAS^O17 to the input topics, with ACKs",
        description="Accept HL7 v2 ORU^R01 (laboratory and IHE PCD-01 device results) and RAS^O17 "
        "(administrations) over MLLP, publish their observations as contract events keyed by "
        "patient, and answer each message with an ACK: AA once the broker has its events, AE or "
        "AR with the reason otherwise. Settings: NMS_HL7_* and NMS_INTEROP_CODES_FILE.",
    )
    bootstrap_arg(hl)
    hl.add_argument("--host", help="bind address (default NMS_HL7_HOST, 127.0.0.1)")
    hl.add_argument("--port", type=int, help="port (default NMS_HL7_PORT, 2575; 0: a free one)")

    fl = sub.add_parser(
        "fhir-listen",
        help="FHIR R4 HTTP server: Observation, MedicationAdministration and Bundle in; "
        "DetectedIssue out",
        description="POST /fhir/Bundle, /fhir/Observation and /fhir/MedicationAdministration "
        "(validated as FHIR R4, converted and published); GET /fhir/DetectedIssue?patient=ID "
        "(the current alerts). A non-loopback host needs a bearer token file "
        "(NMS_FHIR_TOKEN_FILE). Settings: NMS_FHIR_* and NMS_INTEROP_CODES_FILE.",
    )
    bootstrap_arg(fl)
    fl.add_argument("--host", help="bind address (default NMS_FHIR_HOST, 127.0.0.1)")
    fl.add_argument("--port", type=int, help="port (default NMS_FHIR_PORT, 8080; 0: a free one)")

    im = sub.add_parser(
        "import-fhir",
        help="publish FHIR R4 files (a Bundle or a resource as JSON, or NDJSON of resources)",
        description="Validate, convert and publish FHIR R4 files: JSON (a Bundle or one "
        "resource) or NDJSON (one resource per line, as FHIR Bulk Data exports write them). "
        "Refused resources are reported as FILE:LINE: reason: detail. Exit 0 when it ran, 1 when "
        "some resource was refused, 2 for unusable arguments or unreadable files.",
    )
    bootstrap_arg(im)
    im.add_argument("files", nargs="+", metavar="FILE", help="JSON or NDJSON file")

"""The command-line arguments of ``hl7-listen`` (argparse only: the commands import their
modules when they run)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

INTEROP_COMMANDS = ("hl7-listen",)


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

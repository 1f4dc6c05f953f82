"""HL7 v2 acknowledgements (original mode): MSH, MSA and one ERR per problem or warning.

``AA`` accepts; ``AE`` refuses a message for its content (MSA-3 and ERR-8 say why, ERR-2 where);
``AR`` refuses it for reasons that are not its content, or because it cannot be read at all
(unsupported type, unparseable, too large, broker unavailable). Reasons map to HL7 table 0357.
Pure: the caller passes the time and the ACK's own control id.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from monitor.interop.hl7.message import Message

AckCode = Literal["AA", "AE", "AR"]
STANDARD_ENCODING = "^~\\&"
# HL7 table 0357 (message error condition codes).
ERROR_CODES: dict[str, tuple[int, str]] = {
    "accepted": (0, "Message accepted"),
    "missing_field": (101, "Required field missing"),
    "invalid_field": (102, "Data type error"),
    "naive_timestamp": (102, "Data type error"),
    "unknown_unit": (103, "Table value not found"),
    "unsupported_message": (200, "Unsupported message type"),
    "duplicate_id": (205, "Duplicate key identifier"),
    "unparseable": (102, "Data type error"),
    "not_hl7": (102, "Data type error"),
    "too_large": (207, "Application internal error"),
    "unavailable": (207, "Application internal error"),
}
_WHERE = re.compile(r"^(?P<seg>[A-Z][A-Z0-9]{2})(?:\[(?P<seq>\d+)\])?(?:-(?P<field>\d+))?$")


@dataclass(frozen=True, slots=True)
class AckError:
    where: str  # "OBX[3]-5", "PID-3", "MSH-9" or ""
    reason: str  # a key of ERROR_CODES (others count as application errors)
    text: str
    severity: Literal["E", "W", "I"] = "E"


def escape(text: str) -> str:
    """HL7 escape sequences for the delimiters; line breaks become spaces."""
    text = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    text = text.replace("&", "\\T\\").replace("~", "\\R\\")
    return " ".join(text.splitlines())


def _location(where: str) -> str:
    m = _WHERE.match(where)
    if m is None:
        return ""
    return "^".join(p for p in (m["seg"], m["seq"] or "1", m["field"]) if p)


def _ts(now: dt.datetime) -> str:
    return now.strftime("%Y%m%d%H%M%S%z")


def build_ack(
    original: Message | None,
    code: AckCode,
    *,
    now: dt.datetime,
    control_id: str,
    errors: list[AckError] | tuple[AckError, ...] = (),
    app: str = "NMS-MONITOR",
) -> bytes:
    """The ACK answering ``original`` (None: a payload that could not be read as HL7)."""
    if original is not None:
        msh = original.msh
        standard = msh.get(2) == STANDARD_ENCODING

        def copy(field: int) -> str:
            return msh.raw(field) if standard else escape(msh.get(field))

        receiving = copy(5) or app
        receiving_facility = copy(6)
        sending, sending_facility = copy(3), copy(4)
        trigger = escape(msh.get(9, 2))
        processing, version = copy(11) or "P", copy(12) or "2.5"
        acked = escape(original.control_id)
    else:
        receiving, receiving_facility, sending, sending_facility = app, "", "", ""
        trigger, processing, version, acked = "", "P", "2.5", ""
    header = (
        f"MSH|{STANDARD_ENCODING}|{receiving}|{receiving_facility}|{sending}|{sending_facility}|"
        f"{_ts(now)}||ACK^{trigger}^ACK|{escape(control_id)}|{processing}|{version}"
    )
    failures = [e for e in errors if e.severity == "E"]
    summary = "; ".join(f"{e.where}: {e.text}" if e.where else e.text for e in failures)
    segments = [header, f"MSA|{code}|{acked}|{escape(summary)[:200]}"]
    for e in errors:
        number, label = ERROR_CODES.get(e.reason, (207, "Application internal error"))
        segments.append(
            f"ERR||{_location(e.where)}|{number}^{label}^HL70357|{e.severity}|||||"
            f"{escape(e.text)[:250]}"
        )
    return ("\r".join(segments) + "\r").encode("utf-8")

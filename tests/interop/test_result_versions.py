"""Corrections and withdrawals of lab results through the adapters (contract version 3).

The published NIST LRI CBC message (../shared/fixtures, read as published) is the original; the
correction and the withdrawal are that same message as its lab would resend it (OBX-11 ``C`` or
``W``, a new message id and report time), made here from its text. The FHIR original is the
specification's serum creatinine example, given a time of day (it is dated to the day only).
"""

from __future__ import annotations

import copy
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from monitor.contracts.events import Event, LabEvent
from monitor.engine import new_state, step
from monitor.interop.codes import load_tables
from monitor.interop.fhir.convert import FhirContext, Resolver, convert_resource
from monitor.interop.hl7.convert import Hl7Context, convert_message
from monitor.interop.hl7.message import Message
from monitor.knowledge.thresholds import ClinicalSettings
from tests.interop.paths import FHIR_FIXTURES, HL7_FIXTURES

TABLES = load_tables()
HL7 = Hl7Context(TABLES, ZoneInfo("UTC"))
CBC = (HL7_FIXTURES / "lab" / "LRI_2.0-NG_CBC_Typ_Message.hl7").read_bytes()
WBC_OBX = b"OBX|4|NM|26464-8^"


def resend(status: bytes, value: bytes | None, control_id: bytes, reported: bytes) -> bytes:
    """The published message as its lab would resend the WBC result: a new message id, a new
    report time (OBR-22) and the WBC's OBX-11 (and value) changed; nothing else touched."""
    out = []
    for line in CBC.split(b"\n"):
        fields = line.split(b"|")
        if fields[0].lstrip(b"\xef\xbb\xbf") == b"MSH":
            fields[9] = control_id
        elif fields[0] == b"OBR":
            fields[22] = reported
        elif line.startswith(WBC_OBX):
            fields[11] = status
            if value is not None:
                fields[5] = value
        out.append(b"|".join(fields))
    return b"\n".join(out)


def wbc(data: bytes) -> LabEvent:
    out = convert_message(Message.from_bytes(data), HL7)
    assert not out.problems
    [event] = [e for e in out.events if isinstance(e, LabEvent) and e.code == "wbc"]
    return event


def counted(events: list[Event], code: str) -> list[float]:
    cfg = ClinicalSettings()
    state = new_state(events[0].patient_id)
    for ev in events:
        state = step(state, ev, cfg).state
    return [r[1] for r in state.labs.get(code, [])]


def test_the_published_result_is_named_by_its_order_and_test() -> None:
    original = wbc(CBC)
    assert original.status == "final" and original.value == pytest.approx(105.6)
    assert original.result_id == "v2:NIST Lab Filler:R-991133:26464-8^LN:"
    assert (
        original.issued is not None and original.issued.isoformat() == "2011-01-04T17:00:28-08:00"
    )


CORRECTED = resend(b"C", b"10560", b"NIST-LRI-C1", b"20110105090000-0800")
WITHDRAWN = resend(b"W", b"", b"NIST-LRI-W1", b"20110105100000-0800")


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([CBC], [105.6]),
        ([CBC, CORRECTED], [10.56]),
        ([CORRECTED, CBC], [10.56]),  # the original, arriving late, was issued before
        ([CBC, WITHDRAWN], []),
        ([CBC, CORRECTED, WITHDRAWN], []),
        ([WITHDRAWN, CBC], []),
    ],
    ids=["original", "corrected", "corrected-first", "withdrawn", "corrected-withdrawn", "late"],
)
def test_hl7_corrections_replace_and_withdrawals_remove(
    messages: list[bytes], expected: list[float]
) -> None:
    events = [wbc(m) for m in messages]
    assert len({e.result_id for e in events}) == 1
    assert counted(events, "wbc") == pytest.approx(expected)


def test_an_hl7_withdrawal_of_a_result_without_an_order_number_is_dropped_as_before() -> None:
    numbered = b"OBR|1|ORD666555^NIST EHR|R-991133^NIST Lab Filler|"
    assert numbered in WITHDRAWN
    no_order = WITHDRAWN.replace(numbered, b"OBR|1|||")
    out = convert_message(Message.from_bytes(no_order), HL7)
    assert not [e for e in out.events if isinstance(e, LabEvent) and e.code == "wbc"]
    assert out.skipped["cancelled"] >= 1


FHIR = FhirContext(TABLES)


def creatinine(**changes: Any) -> LabEvent:
    resource = json.loads(
        (FHIR_FIXTURES / "observation" / "observation-serum-creatinine.json").read_text()
    )
    resource = copy.deepcopy(resource)
    resource["effectiveDateTime"] = "2005-07-05T08:00:00+02:00"
    for key, value in changes.items():
        if value is None:
            resource.pop(key, None)
        else:
            resource[key] = value
    out = convert_resource(resource, FHIR, Resolver())
    assert not out.problems
    [event] = out.events
    assert isinstance(event, LabEvent)
    return event


def test_fhir_corrections_replace_and_entered_in_error_withdraws() -> None:
    original = creatinine(issued="2005-07-05T09:00:00+02:00")
    assert original.result_id == "fhir:Observation/serum-creatinine"
    corrected = creatinine(
        status="corrected",
        issued="2005-07-05T12:00:00+02:00",
        valueQuantity={
            "value": 2.4,
            "unit": "mg/dL",
            "system": "http://unitsofmeasure.org",
            "code": "mg/dL",
        },
    )
    withdrawn = creatinine(status="entered-in-error", issued="2005-07-05T13:00:00+02:00")
    assert corrected.status == "corrected" and corrected.event_id != original.event_id
    assert withdrawn.status == "entered-in-error" and withdrawn.value is None
    mg_dl = 88.4  # creatinine is kept in umol/L
    assert counted([original], "creatinine") == pytest.approx([mg_dl])
    assert counted([original, corrected], "creatinine") == pytest.approx([2.4 * mg_dl])
    assert counted([corrected, original], "creatinine") == pytest.approx([2.4 * mg_dl])
    assert counted([original, corrected, withdrawn], "creatinine") == []


def test_a_fhir_observation_without_an_identity_has_no_versions() -> None:
    anonymous = creatinine(id=None)
    assert anonymous.result_id is None and anonymous.status == "final"

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
from tests.interop.paths import FHIR_FIXTURES, HL7_FIXTURES, STORY

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


def edit(
    msh: dict[int, bytes] | None = None,
    obr: dict[int, bytes] | None = None,
    obx: dict[int, bytes] | None = None,
) -> bytes:
    """The published message with fields of MSH, the OBR and the WBC OBX set (index = HL7
    field number; MSH's index is one less, as MSH-1 is the separator itself)."""
    out = []
    for line in CBC.split(b"\n"):
        fields = line.split(b"|")
        head = fields[0].lstrip(b"\xef\xbb\xbf")
        change = {b"MSH": msh, b"OBR": obr}.get(head)
        if line.startswith(WBC_OBX):
            change = obx
        for k, v in (change or {}).items():
            fields += [b""] * (k + 1 - len(fields))
            fields[k] = v
        out.append(b"|".join(fields))
    return b"\n".join(out)


LATER = b"20110105090000-0800"


@pytest.mark.parametrize(
    ("change", "skipped"),
    [
        ({11: b"C", 2: b"ST", 5: b"Specimen clotted, result invalid"}, "non_numeric"),
        ({11: b"C", 2: b"SN", 5: b"<^1000"}, "censored"),
        ({11: b"X", 5: b""}, None),
    ],
    ids=["corrected-to-text", "corrected-to-censored", "cannot-be-obtained"],
)
def test_a_version_without_a_number_withdraws_the_number(
    change: dict[int, bytes], skipped: str | None
) -> None:
    out = convert_message(Message.from_bytes(edit({9: b"C9"}, {22: LATER}, change)), HL7)
    assert not out.problems
    [version] = [e for e in out.events if isinstance(e, LabEvent) and e.code == "wbc"]
    assert version.value is None and version.status == "corrected"
    assert counted([wbc(CBC), version], "wbc") == []
    if skipped:
        assert out.skipped[skipped] == 1


@pytest.mark.parametrize(
    "change",
    [
        {11: b"W", 5: b"", 14: b""},
        {11: b"W", 5: b"", 14: b"20110103"},
        {11: b"W", 5: b"", 6: b"cells/hpf^per hpf"},
        {11: b"W", 5: b"", 6: b""},
    ],
    ids=["no-time", "time-to-the-day", "unknown-unit", "no-unit"],
)
def test_a_withdrawal_is_never_refused_for_what_it_does_not_use(change: dict[int, bytes]) -> None:
    """Before withdrawals were published a W was dropped before its time and unit were read;
    a message that was acknowledged AA then must not be refused now."""
    out = convert_message(Message.from_bytes(edit({9: b"W9"}, {7: b""}, change)), HL7)
    assert not out.problems
    [version] = [e for e in out.events if isinstance(e, LabEvent) and e.code == "wbc"]
    assert version.status == "entered-in-error"
    assert counted([wbc(CBC), version], "wbc") == []


def test_a_correction_issued_at_the_same_time_still_comes_after_the_original() -> None:
    """OBR-22 left as it was: the status orders them, in the replay order and the live one."""
    correction = wbc(edit({9: b"A-CORR"}, None, {11: b"C", 5: b"10560"}))
    original = wbc(CBC)
    assert correction.issued == original.issued
    assert counted([original, correction], "wbc") == pytest.approx([10.56])
    assert counted([correction, original], "wbc") == pytest.approx([10.56])


def test_issued_falls_back_to_msh7_when_obr22_is_not_a_time() -> None:
    assert wbc(edit(None, {22: b"20110104"})).issued == wbc(edit(None, {22: b""})).issued
    assert wbc(edit(None, {22: b""})).issued is not None


def test_an_order_named_by_a_universal_id_keeps_its_identity_through_another_sender() -> None:
    order = b"R-991133^^2.16.840.1.113883.3.72.5.24^ISO"
    original = wbc(edit(None, {3: order}))
    correction = wbc(
        edit({2: b"Interface Engine", 9: b"C7"}, {3: order, 22: LATER}, {11: b"C", 5: b"10560"})
    )
    assert original.result_id == correction.result_id
    assert counted([original, correction], "wbc") == pytest.approx([10.56])


def test_a_test_repeated_under_one_order_without_obx4_counts_each_time() -> None:
    lines = CBC.split(b"\n")
    at = next(i for i, line in enumerate(lines) if line.startswith(WBC_OBX))
    again = lines[at].replace(b"OBX|4|", b"OBX|40|").replace(b"|105600|", b"|9000|")
    out = convert_message(
        Message.from_bytes(b"\n".join([*lines[: at + 1], again, *lines[at + 1 :]])), HL7
    )
    results = [e for e in out.events if isinstance(e, LabEvent) and e.code == "wbc"]
    assert len({e.result_id for e in results}) == 2
    assert sorted(counted(results, "wbc")) == pytest.approx([9.0, 105.6])


def test_fhir_a_correction_back_to_an_earlier_value_is_a_new_version() -> None:
    quantity = {"unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
    versions = [
        creatinine(issued="2005-07-05T09:00:00+02:00"),
        creatinine(
            status="corrected",
            issued="2005-07-05T10:00:00+02:00",
            valueQuantity={**quantity, "value": 2.4},
        ),
        creatinine(
            status="corrected",
            issued="2005-07-05T11:00:00+02:00",
            valueQuantity={**quantity, "value": 5.0},
        ),
        creatinine(
            status="corrected",
            issued="2005-07-05T12:00:00+02:00",
            valueQuantity={**quantity, "value": 2.4},
        ),
    ]
    assert len({v.event_id for v in versions}) == 4
    assert counted(versions, "creatinine") == pytest.approx([2.4 * 88.4])


def test_fhir_a_correction_without_a_value_or_cancelled_withdraws_it() -> None:
    original = creatinine(issued="2005-07-05T09:00:00+02:00")
    absent = creatinine(
        status="corrected",
        issued="2005-07-05T10:00:00+02:00",
        valueQuantity=None,
        dataAbsentReason={"text": "specimen haemolysed"},
    )
    cancelled = creatinine(status="cancelled", issued="2005-07-05T10:00:00+02:00")
    for version in (absent, cancelled):
        assert version.value is None and version.status == "corrected"
        assert counted([original, version], "creatinine") == []


def test_fhir_entered_in_error_without_a_time_is_skipped_as_before() -> None:
    resource = json.loads(
        (FHIR_FIXTURES / "observation" / "observation-serum-creatinine.json").read_text()
    )
    resource.update(status="entered-in-error")
    for key in ("effectiveDateTime", "issued"):
        resource.pop(key, None)
    out = convert_resource(resource, FHIR, Resolver())
    assert not out.problems and not out.events and out.skipped["cancelled"] == 1


def test_the_nms_story_drops_its_ck_criterion_when_the_ck_is_corrected() -> None:
    """The repository's NMS story (HL7 v2: medium on exposure, fever, lability and
    hypermetabolism, then a CK of 2,650 U/L adds its 10 points), then the lab's correction of
    that CK to 265 U/L: the alert is updated at once without the CK criterion."""
    labs = STORY[-1].read_bytes()
    assert b"|2650|" in labs and b"OBX|1|NM|2157-6^" in labs
    corrected = (
        labs.replace(b"|STORY-0009|", b"|STORY-0010|")
        .replace(b"|20260303073000+0000|", b"|20260303113000+0000|")
        .replace(b"|2650|", b"|265|")
        .replace(b"|H|||F|||20260303060000+0000", b"|N|||C|||20260303060000+0000", 1)
    )

    def alerts(messages: list[bytes]) -> list[Any]:
        cfg = ClinicalSettings()
        state = new_state("STORY-1")
        out: list[Any] = []
        for m in messages:
            for ev in convert_message(Message.from_bytes(m), HL7).events:
                result = step(state, ev, cfg)
                state, out = result.state, out + result.transitions
        return out

    def ck_met(alert: Any) -> bool:
        return bool(next(c for c in alert.criteria if c.name == "ck_elevation").met)

    story = [m.read_bytes() for m in STORY]
    before = alerts(story)[-1]
    assert (before.transition, before.priority, ck_met(before)) == ("updated", "medium", True)
    after = alerts([*story, corrected])[-1]
    assert (after.transition, after.priority, ck_met(after)) == ("updated", "medium", False)
    assert after.score == before.score - 10

"""HL7 v2 to contract events, without I/O: the mapping tables as data, and published messages
nobody here wrote (../shared/fixtures/hl7v2, read as published: LF, CRLF, byte-order marks)."""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any
from zoneinfo import ZoneInfo

import hl7
import pytest

from monitor.contracts.events import LabEvent, MedicationEvent, PatientEvent, VitalEvent
from monitor.interop.codes import load_tables
from monitor.interop.events import Conversion
from monitor.interop.hl7.convert import Hl7Context, convert_message, reference_high
from monitor.interop.hl7.message import Message, decode_text, parse_dtm
from tests.interop.paths import HL7_FIXTURES, STORY

TABLES = load_tables()
UTC = ZoneInfo("UTC")
CTX = Hl7Context(TABLES, UTC)

# (coding system as written, code, contract kind, contract code, site). Written out here, not
# read from the table it checks.
OBSERVATION_CODES: list[tuple[str, str, str, str, str | None]] = [
    ("LN", "8310-5", "vital", "temperature", None),
    ("LN", "8331-1", "vital", "temperature", "oral"),
    ("LN", "8328-7", "vital", "temperature", "axillary"),
    ("LN", "8867-4", "vital", "heart_rate", None),
    ("LN", "8480-6", "vital", "systolic_bp", None),
    ("LN", "8462-4", "vital", "diastolic_bp", None),
    ("LN", "8478-0", "vital", "mean_bp", None),
    ("LN", "9279-1", "vital", "respiratory_rate", None),
    ("LN", "2708-6", "vital", "spo2", None),
    ("LN", "59408-5", "vital", "spo2", None),
    ("LN", "2157-6", "lab", "ck", None),
    ("LN", "6690-2", "lab", "wbc", None),
    ("LN", "26464-8", "lab", "wbc", None),
    ("LN", "2160-0", "lab", "creatinine", None),
    ("LN", "14682-9", "lab", "creatinine", None),
    ("LN", "2639-3", "lab", "myoglobin", None),
    ("MDC", "150344", "vital", "temperature", None),
    ("MDC", "150364", "vital", "temperature", None),
    ("MDC", "188420", "vital", "temperature", "rectal"),
    ("MDC", "188424", "vital", "temperature", "oral"),
    ("MDC", "188428", "vital", "temperature", "tympanic"),
    ("MDC", "188452", "vital", "temperature", "axillary"),
    ("MDC", "147842", "vital", "heart_rate", None),
    ("MDC", "149530", "vital", "heart_rate", None),
    ("MDC", "150021", "vital", "systolic_bp", None),
    ("MDC", "150022", "vital", "diastolic_bp", None),
    ("MDC", "150023", "vital", "mean_bp", None),
    ("MDC", "150033", "vital", "systolic_bp", None),
    ("MDC", "150034", "vital", "diastolic_bp", None),
    ("MDC", "150035", "vital", "mean_bp", None),
    ("MDC", "150037", "vital", "systolic_bp", None),
    ("MDC", "150038", "vital", "diastolic_bp", None),
    ("MDC", "150039", "vital", "mean_bp", None),
    ("MDC", "151562", "vital", "respiratory_rate", None),
    ("MDC", "151578", "vital", "respiratory_rate", None),
    ("MDC", "150456", "vital", "spo2", None),
    # Other spellings of the systems, and reference ids of MDC codes.
    ("LOINC", "2157-6", "lab", "ck", None),
    ("http://loinc.org", "8867-4", "vital", "heart_rate", None),
    ("2.16.840.1.113883.6.1", "9279-1", "vital", "respiratory_rate", None),
    ("urn:iso:std:iso:11073:10101", "150456", "vital", "spo2", None),
    ("MDC", "MDC_ECG_HEART_RATE", "vital", "heart_rate", None),
    ("MDC", "MDC_TEMP_ORAL", "vital", "temperature", "oral"),
]
# Codes that must mean nothing: the same digits in another system, pulmonary pressures, panels.
UNKNOWN_CODES = [
    ("CDCREC", "2157-6"),  # "Guatemalan" in the CDC race and ethnicity codes
    ("urn:oid:2.16.840.1.113883.6.238", "2157-6"),
    ("L", "8867-4"),  # a local code that happens to look like LOINC
    ("", "8310-5"),
    ("MDC", "150045"),  # MDC_PRESS_BLD_ART_PULM_SYS
    ("MDC", "150047"),  # MDC_PRESS_BLD_ART_PULM_MEAN
    ("MDC", "149522"),  # MDC_BLD_PULS_RATE_INV (not in the table)
    ("LN", "85354-9"),  # blood pressure panel
    ("LN", "8480-6 "),  # stripped: still systolic (checked below as a known code)
]


@pytest.mark.parametrize(("system", "code", "kind", "target", "site"), OBSERVATION_CODES)
def test_observation_codes(
    system: str, code: str, kind: str, target: str, site: str | None
) -> None:
    found = TABLES.observation(system, code)
    assert found is not None
    assert (found.kind, found.code, found.site) == (kind, target, site)


@pytest.mark.parametrize(("system", "code"), UNKNOWN_CODES[:-1])
def test_codes_are_known_only_with_their_system(system: str, code: str) -> None:
    assert TABLES.observation(system, code) is None


def test_every_bundled_observation_code_is_in_this_table() -> None:
    listed = {(TABLES.system(s), c) for s, c, *_ in OBSERVATION_CODES}
    bundled = {key for key in TABLES.observations if not key[1].startswith("MDC_")}
    assert bundled <= listed


# (contract code, unit as written, value, contract unit, contract value)
UNITS: list[tuple[str, str, float, str, float]] = [
    ("temperature", "Cel", 38.5, "Cel", 38.5),
    ("temperature", "268192", 38.5, "Cel", 38.5),
    ("temperature", "MDC_DIM_FAHR", 101.3, "[degF]", 101.3),
    ("temperature", "[degF]", 101.3, "[degF]", 101.3),
    ("heart_rate", "/min", 120, "/min", 120),
    ("heart_rate", "{beats}/min", 120, "/min", 120),
    ("heart_rate", "264864", 120, "/min", 120),
    ("respiratory_rate", "MDC_DIM_RESP_PER_MIN", 24, "/min", 24),
    ("systolic_bp", "mmHg", 150, "mm[Hg]", 150),
    ("systolic_bp", "266016", 150, "mm[Hg]", 150),
    ("systolic_bp", "kPa", 20, "mm[Hg]", 150.01234),
    ("spo2", "%", 95, "%", 95),
    ("spo2", "262688", 95, "%", 95),
    ("ck", "U/L", 2650, "U/L", 2650),
    ("ck", "IU/L", 2650, "U/L", 2650),
    ("ck", "ukat/L", 44, "ukat/L", 44),
    ("wbc", "10*9/L", 12.4, "10*9/L", 12.4),
    ("wbc", "{cells}/uL", 105600, "10*3/uL", 105.6),
    ("wbc", "K/uL", 12.4, "10*3/uL", 12.4),
    ("creatinine", "mg/dl", 1.3, "mg/dL", 1.3),
    ("creatinine", "mmol/L", 0.12, "umol/L", 120),
    ("myoglobin", "ng/mL", 900, "ng/mL", 900),
]


@pytest.mark.parametrize(("target", "unit", "value", "to", "expected"), UNITS)
def test_units(target: str, unit: str, value: float, to: str, expected: float) -> None:
    rule = TABLES.unit(target, [unit])
    assert rule is not None
    assert rule.to == to
    assert value * rule.factor == pytest.approx(expected)


@pytest.mark.parametrize(
    ("target", "unit"), [("spo2", "mmHg"), ("ck", "%"), ("heart_rate", "Cel"), ("wbc", "mg/dL")]
)
def test_a_unit_is_known_only_for_what_it_measures(target: str, unit: str) -> None:
    assert TABLES.unit(target, [unit]) is None


@pytest.mark.parametrize(
    ("text", "high"),
    [("39-308", 308), ("70_105", 105), ("4300 to 10800", 10800), ("<120", 120), ("75 - 90", 90),
     ("0.2-0.6", 0.6), ("<=5", 5), (">5", None), ("negative", None), ("", None)],
)  # fmt: skip
def test_reference_range_upper_limit(text: str, high: float | None) -> None:
    assert reference_high(text) == high


@pytest.mark.parametrize(
    ("text", "expected", "assumed"),
    [
        ("20260303061530+0100", "2026-03-03T06:15:30+01:00", False),
        ("202603030615-0500", "2026-03-03T06:15:00-05:00", False),
        (
            "20150624084727.655-0500",
            "2026-06-24T08:47:27.655000-05:00".replace("2026", "2015"),
            False,
        ),
        ("202603030615", "2026-03-03T06:15:00+00:00", True),
        ("20260303", None, False),  # a date is not a time
        ("2026030306", None, False),
        ("20261303061500", None, False),
        ("garbage", None, False),
    ],
)
def test_hl7_times(text: str, expected: str | None, assumed: bool) -> None:
    parsed = parse_dtm(text, UTC)
    if expected is None:
        assert parsed is None
        return
    assert parsed is not None
    assert parsed[0] == dt.datetime.fromisoformat(expected)
    assert parsed[1] is assumed


def message(lines: list[str]) -> Message:
    return Message("\r".join(lines))


MSH = "MSH|^~\\&|GW|WARD|NMS||20260303060000+0000||ORU^R01|M1|P|2.5"
PID = "PID|1||P-1^^^HOSP^MR"


def obx(status: str, value: str = "38.6", kind: str = "NM", unit: str = "Cel") -> str:
    return f"OBX|1|{kind}|8310-5^Temp^LN||{value}|{unit}|||||{status}|||20260303060000+0000"


@pytest.mark.parametrize(
    ("status", "published", "skipped"),
    [("F", True, None), ("C", True, None), ("A", True, None), ("R", True, None),
     ("U", True, None), ("", True, None), ("P", False, "preliminary"), ("S", False, "preliminary"),
     ("D", False, "cancelled"), ("W", False, "cancelled"), ("X", False, "cancelled"),
     ("I", False, "no_result"), ("N", False, "no_result"), ("O", False, "no_result")],
)  # fmt: skip
def test_result_status(status: str, published: bool, skipped: str | None) -> None:
    out = convert_message(message([MSH, PID, obx(status)]), CTX)
    assert not out.problems
    assert (len(out.events) == 1) is published
    if skipped:
        assert out.skipped == {skipped: 1}


@pytest.mark.parametrize(
    ("kind", "value", "outcome"),
    [("NM", "38.6", 38.6), ("SN", "^38.6", 38.6), ("SN", "=^38.6", 38.6), ("SN", ">^38.6", 38.6),
     ("SN", "<^38.6", "censored"), ("ST", "38.6", 38.6), ("ST", "haemolysed", "non_numeric"),
     ("NM", "", "no_value"), ("NM", "high", "problem"), ("SN", "^1^-^2", "problem"),
     ("NM", "38~39", "problem")],
)  # fmt: skip
def test_values(kind: str, value: str, outcome: float | str) -> None:
    out = convert_message(message([MSH, PID, obx("F", value, kind)]), CTX)
    if outcome == "problem":
        assert out.problems and out.problems[0].where == "OBX[1]-5" and not out.events
    elif isinstance(outcome, str):
        assert out.skipped == {outcome: 1} and not out.events and not out.problems
    else:
        assert [e.value for e in out.events if isinstance(e, VitalEvent)] == [outcome]


def test_an_unknown_unit_of_a_known_code_refuses_the_message_with_the_known_ones() -> None:
    out = convert_message(message([MSH, PID, obx("F", unit="furlongs")]), CTX)
    assert not out.events
    [problem] = out.problems
    assert problem.reason == "unknown_unit" and "'furlongs'" in problem.message
    assert "[degF]" in problem.message


def test_an_observation_time_falls_back_to_obr7_and_a_missing_time_is_a_problem() -> None:
    no_time = "OBX|1|NM|8867-4^HR^LN||120|/min|||||F"
    obr = "OBR|1|||X^Y^L|||20260303053000+0100"
    out = convert_message(message([MSH, PID, obr, no_time]), CTX)
    assert [e.time.isoformat() for e in out.events] == ["2026-03-03T05:30:00+01:00"]
    out = convert_message(message([MSH, PID, no_time]), CTX)
    assert not out.events and out.problems[0].where == "OBX[1]-14"


def test_a_time_without_offset_takes_the_configured_zone_and_says_so() -> None:
    naive = "OBX|1|NM|8867-4^HR^LN||120|/min|||||F|||202607011200"
    ctx = Hl7Context(TABLES, ZoneInfo("Europe/Amsterdam"))
    out = convert_message(message([MSH, PID, naive]), ctx)
    [ev] = out.events
    assert ev.time.isoformat() == "2026-07-01T12:00:00+02:00"
    assert out.notes == ["OBX-14 has no UTC offset: read in Europe/Amsterdam"]
    assert ev.source is not None and "read in Europe/Amsterdam" in ev.source


@pytest.mark.parametrize(
    ("authority", "expected"),
    [(None, "STORY-1"), ("TESTHOSP", "STORY-1"), ("NATIONAL", "900000001"), ("OTHER", None)],
)
def test_patient_identifier_and_its_assigning_authority(
    authority: str | None, expected: str | None
) -> None:
    out = convert_message(
        Message.from_bytes(STORY[0].read_bytes()), Hl7Context(TABLES, UTC, authority)
    )
    if expected is None:
        assert not out.events
        assert out.problems[0].where == "PID[1]-3" and "OTHER" in out.problems[0].message
    else:
        assert {e.patient_id for e in out.events} == {expected}


def test_event_ids_are_message_id_order_and_set_id_and_unique_per_message() -> None:
    lines = [MSH, PID, "OBR|1", obx("F"), "OBR|2", obx("F"), obx("F")]
    out = convert_message(message(lines), CTX)
    assert [e.event_id for e in out.events] == ["v2:GW:M1:1.1", "v2:GW:M1:2.1", "v2:GW:M1:2.1:2"]


def test_story_administration_becomes_a_coded_medication_event() -> None:
    out = convert_message(Message.from_bytes(STORY[1].read_bytes()), CTX)
    assert not out.problems
    [patient, med] = out.events
    assert isinstance(patient, PatientEvent) and patient.location == "ICU-2 14 1 TESTHOSP"
    assert isinstance(med, MedicationEvent)
    assert (
        med.drug == "Haloperidol" and med.route == "im" and (med.dose, med.dose_unit) == (5, "mg")
    )
    assert [(c.system, c.code) for c in med.codes or []] == [("atc", "N05AD01"), ("rxnorm", "5093")]
    assert med.time.isoformat() == "2026-03-02T08:30:00+00:00"


@pytest.mark.parametrize(
    ("status", "action", "skipped"), [("RE", "A", "not_administered"), ("CP", "D", "cancelled")]
)
def test_refused_or_deleted_administrations_are_skipped(
    status: str, action: str, skipped: str
) -> None:
    rxa = f"RXA|0|1|20260302083000+0000||N05AD01^Haloperidol^ATC|5|mg{'|' * 13}{status}|{action}"
    out = convert_message(message([MSH.replace("ORU^R01", "RAS^O17"), PID, rxa]), CTX)
    assert not out.events and out.skipped == {skipped: 1}


# ---- published messages, read as published -------------------------------------------------


def convert_fixture(name: str) -> Conversion:
    return convert_message(Message.from_bytes((HL7_FIXTURES / name).read_bytes()), CTX)


def summary(out: Conversion) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for e in out.events:
        if isinstance(e, VitalEvent | LabEvent):
            rows.append((e.patient_id, e.code, e.value, e.unit, e.time.isoformat()))
    return rows


def test_fixture_pcd01_noninvasive_blood_pressure_in_mdc_units() -> None:
    out = convert_fixture("device/valid-pcd01-request.hl7v2")
    at = "2009-08-13T09:57:15+05:00"  # OBR-7: these OBX have no OBX-14
    assert summary(out) == [
        ("789567", "systolic_bp", 120, "mm[Hg]", at),
        ("789567", "diastolic_bp", 80, "mm[Hg]", at),
        ("789567", "mean_bp", 100, "mm[Hg]", at),
    ]
    assert out.skipped == {"unknown_code": 2} and not out.problems


def test_fixture_pcd01_gateway_skips_pulmonary_pressures_and_assumes_the_zone() -> None:
    out = convert_fixture("device/valid-pcd01-request2.hl7v2")
    codes = [row[1:3] for row in summary(out)]
    assert codes == [
        ("heart_rate", 60),
        ("mean_bp", 92),
        ("systolic_bp", 120),
        ("diastolic_bp", 80),
    ]
    assert out.skipped == {"unknown_code": 5}  # PVC count, invasive pulse rate, 3 pulmonary
    assert "OBR-7 has no UTC offset: read in UTC" in out.notes
    [patient] = [e for e in out.events if isinstance(e, PatientEvent)]
    assert patient.location == "3 WEST ICU 3001 1"


def test_fixture_continua_thermometer_in_fahrenheit_at_the_oral_site() -> None:
    out = convert_fixture("device/valid-thermometer-continua-wan.hl7v2")
    [temp] = [e for e in out.events if isinstance(e, VitalEvent)]
    assert (temp.code, temp.value, temp.unit, temp.site) == ("temperature", 98.6, "[degF]", "oral")


def test_fixture_continua_oximeter_saturation_and_its_waveform_skipped() -> None:
    out = convert_fixture("device/valid-oximeter-continua-wan.hl7v2")
    assert summary(out) == [("789567", "spo2", 80.5, "%", "2009-07-15T07:07:07+00:00")]


def test_fixture_pcd01_maximum_message_statuses_and_nonexistent_codes() -> None:
    out = convert_fixture("device/valid-pcd01-MaximumRequest2.hl7")
    # OBX 3 is a correction (C): published; OBX 4 deleted (D): dropped; OBX 5 final. The
    # second group's codes (5283912, 1500212, ...) do not exist: their text is not trusted.
    assert [row[1:3] for row in summary(out)] == [("systolic_bp", 140), ("mean_bp", 100)]
    assert out.skipped == {"unknown_code": 7, "cancelled": 1}
    assert {e.patient_id for e in out.events} == {"111222333444"}


def test_fixture_lab_cbc_white_cells_per_microlitre_with_their_reference_range() -> None:
    out = convert_fixture("lab/LRI_2.0-NG_CBC_Typ_Message.hl7")  # BOM, LF
    [wbc] = [e for e in out.events if isinstance(e, LabEvent)]
    assert (wbc.code, wbc.unit) == ("wbc", "10*3/uL")
    assert wbc.value == pytest.approx(105.6) and wbc.reference_high == pytest.approx(10.8)
    assert wbc.time.isoformat() == "2011-01-03T14:34:28-08:00"
    assert out.skipped == {"unknown_code": 27}


@pytest.mark.parametrize(
    "name",
    ["lab/LAB-ORU-1.hl7", "lab/LAB-ORU-2.hl7", "lab/ORU-R01-RMGEAD.hl7", "lab/ORU-R01-01.hl7"],
)
def test_fixture_lab_results_without_known_codes_are_skipped_not_refused(name: str) -> None:
    out = convert_fixture(name)
    assert not out.problems
    assert not summary(out)
    assert sum(out.skipped.values()) >= 1


def test_fixture_immunization_administration_segments_need_a_time_to_the_minute() -> None:
    out = convert_fixture("pharmacy/VXU.hl7")  # RXA/RXR as RAS^O17 has them; dates only
    assert [p.where for p in out.problems] == ["RXA[1]-3", "RXA[2]-3", "RXA[3]-3"]
    assert all("not a time to the minute" in p.message for p in out.problems)


def _reference(pseg: Any, pmsg: Any, field: int, comp: int, rep: int, sub: int) -> str:
    """The same read through python-hl7's parse tree."""
    node: Any = pseg[field] if field < len(pseg) else ""
    for index in (rep, comp, sub):
        if isinstance(node, str):
            node = node if index == 1 else ""
            continue
        node = node[index - 1] if 0 < index <= len(node) else ""
    text = node if isinstance(node, str) else str(node)
    if str(pseg[0]) == "MSH" and field in (1, 2):
        return text
    return str(pmsg.unescape(text)) if "\\" in text else text


@pytest.mark.parametrize(
    "path",
    sorted(p for p in HL7_FIXTURES.rglob("*") if p.is_file()) + STORY,
    ids=lambda p: p.name,
)
def test_every_field_reads_as_python_hl7_parses_it(path: Any) -> None:
    text = decode_text(path.read_bytes())
    mine, theirs = Message(text), hl7.parse(text)
    assert [s.name for s in mine.segments] == [str(s[0]) for s in theirs]
    for seg, pseg in zip(mine.segments, theirs, strict=True):
        for field in range(1, len(pseg) + 2):
            for rep in (1, 2, 3):
                for comp in range(1, 8):
                    for sub in (1, 2, 3):
                        expected = _reference(pseg, theirs, field, comp, rep, sub)
                        assert seg.get(field, comp, rep, sub) == expected, (seg.name, field)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in HL7_FIXTURES.rglob("*") if p.is_file()) + STORY,
    ids=lambda p: p.name,
)
def test_reading_a_message_leaves_no_reference_cycle(path: Any) -> None:
    """Every object of a parse and its conversion is freed by its reference count: a cycle
    (a segment pointing back at its message) left each message to the garbage collector,
    which then took a fifth of a busy listener's time."""
    payload = path.read_bytes()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        gc.collect()
        for _ in range(3):
            msg = Message.from_bytes(payload)
            out = convert_message(msg, CTX)
            for seg in msg.segments:  # every field read, escapes decoded
                for field in range(1, len(seg._fields) + 1):
                    seg.get(field, 2)
            del msg, out
        assert gc.collect() == 0
    finally:
        if was_enabled:
            gc.enable()

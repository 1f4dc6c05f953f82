"""The input contract: valid events of every kind, and clear reasons for invalid ones."""

from __future__ import annotations

import orjson
import pytest

from monitor.contracts.decode import MAX_EVENT_BYTES, DecodeError, decode_event
from monitor.contracts.events import AckEvent, AssessmentEvent, LabEvent, VitalEvent

BASE = {"event_id": "e1", "patient_id": "p1", "time": "2026-01-01T10:00:00+01:00"}


def raw(**fields: object) -> bytes:
    return orjson.dumps({**BASE, **fields})


def reason(data: bytes) -> tuple[str, str]:
    with pytest.raises(DecodeError) as exc:
        decode_event(data)
    return exc.value.rejection.reason, exc.value.rejection.detail


@pytest.mark.parametrize(
    "fields",
    [
        {
            "kind": "vital",
            "code": "temperature",
            "value": 101.2,
            "unit": "[degF]",
            "site": "tympanic",
        },
        {"kind": "vital", "code": "spo2", "value": 97, "unit": "%"},
        {"kind": "lab", "code": "ck", "value": 12.5, "unit": "ukat/L", "reference_high": 3.2},
        {"kind": "lab", "code": "creatinine", "value": 1.2, "unit": "mg/dL"},
        {
            "kind": "medication",
            "drug": "Haloperidol decanoate",
            "action": "administered",
            "dose": 100,
            "dose_unit": "mg",
            "route": "im",
        },
        {"kind": "medication", "drug": "levodopa", "action": "discontinued"},
        {"kind": "assessment", "code": "rigidity", "present": True},
        {"kind": "assessment", "code": "gcs", "value": 9},
        {
            "kind": "patient",
            "action": "admit",
            "sex": "female",
            "birth_date": "1980-02-29",
            "location": "ICU-2 bed 14",
            "history": ["parkinson_disease"],
        },
        {
            "kind": "ack",
            "alert_id": "nms-1",
            "action": "snooze",
            "by": "rn-4",
            "until": "2026-01-01T11:00:00Z",
            "reason": "family meeting",
        },
    ],
)
def test_valid_events_of_every_kind(fields: dict[str, object]) -> None:
    event = decode_event(raw(**fields, source="ward-7"))
    assert event.kind == fields["kind"]
    assert event.time.utcoffset() is not None


def test_unknown_extra_fields_are_ignored() -> None:
    event = decode_event(raw(kind="vital", code="heart_rate", value=80, unit="/min", device="x"))
    assert isinstance(event, VitalEvent) and not hasattr(event, "device")


@pytest.mark.parametrize(
    ("data", "expected", "fragment"),
    [
        (b"{not json", "invalid_json", "Invalid JSON"),
        (b"[1, 2]", "not_an_object", "object"),
        (raw(kind="ventilator"), "unknown_kind", "'ventilator'"),
        (
            orjson.dumps({"event_id": "e", "patient_id": "p", "time": "2026-01-01T00:00:00Z"}),
            "missing_field",
            "kind",
        ),
        (raw(kind="vital", code="heart_rate", value=80), "missing_field", "unit"),
        (
            orjson.dumps(
                {
                    **BASE,
                    "time": "2026-01-01T10:00:00",
                    "kind": "vital",
                    "code": "heart_rate",
                    "value": 80,
                    "unit": "/min",
                }
            ),
            "naive_timestamp",
            "UTC offset",
        ),
        (raw(kind="vital", code="heart_rate", value="fast", unit="/min"), "invalid_field", "value"),
        (raw(kind="vital", code="heart_rate", value=80, unit="mm[Hg]"), "invalid_field", "/min"),
        (
            raw(kind="vital", code="heart_rate", value=80, unit="/min", site="oral"),
            "invalid_field",
            "site",
        ),
        (raw(kind="lab", code="ck", value=100, unit="mg/dL"), "invalid_field", "U/L"),
        (raw(kind="assessment", code="gcs", value=2), "invalid_field", "3 to 15"),
        (raw(kind="assessment", code="gcs", value=12.5), "invalid_field", "whole number"),
        (raw(kind="assessment", code="rigidity"), "invalid_field", "present"),
        (raw(kind="medication", drug="", action="administered"), "invalid_field", "drug"),
        (raw(kind="patient", action="admit", sex="yes"), "invalid_field", "sex"),
        (
            orjson.dumps(
                {
                    **BASE,
                    "event_id": "x" * 129,
                    "kind": "vital",
                    "code": "spo2",
                    "value": 97,
                    "unit": "%",
                }
            ),
            "invalid_field",
            "event_id",
        ),
        (
            b'{"event_id":"e","patient_id":"p","time":"2026-01-01T00:00:00Z","kind":"vital",'
            b'"code":"spo2","value":NaN,"unit":"%"}',
            "invalid_field",
            "finite",
        ),
        (b" " * (MAX_EVENT_BYTES + 1), "too_large", "bytes"),
    ],
)
def test_invalid_events_have_a_reason(data: bytes, expected: str, fragment: str) -> None:
    got, detail = reason(data)
    assert got == expected, detail
    assert fragment in detail


def test_typed_models_by_kind() -> None:
    assert isinstance(decode_event(raw(kind="lab", code="wbc", value=9, unit="10*3/uL")), LabEvent)
    assert isinstance(
        decode_event(raw(kind="assessment", code="clonus", present=False)), AssessmentEvent
    )
    ack = decode_event(raw(kind="ack", alert_id="a", action="resolve", by="dr"))
    assert isinstance(ack, AckEvent) and ack.until is None

"""FHIR R4 resources to contract events, without I/O, on the specification's own examples
(../shared/fixtures/fhir, read as published) and on resources built here."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from monitor.contracts.events import LabEvent, MedicationEvent, VitalEvent
from monitor.interop.codes import load_tables
from monitor.interop.events import Conversion
from monitor.interop.fhir.convert import FhirContext, Resolver, convert_resource, parse_time
from monitor.interop.fhir.ingest import ingest
from monitor.interop.fhir.validate import FhirInputError, validate
from tests.interop.paths import FHIR_FIXTURES

CTX = FhirContext(load_tables())


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FHIR_FIXTURES / name).read_text())
    return data


def convert(resource: dict[str, Any], ctx: FhirContext = CTX) -> Conversion:
    validate(resource)
    return convert_resource(resource, ctx, Resolver())


def test_every_specification_example_validates_as_r4() -> None:
    names = sorted(p.relative_to(FHIR_FIXTURES).as_posix() for p in FHIR_FIXTURES.rglob("*.json"))
    assert len(names) == 18
    for name in names:
        assert validate(fixture(name)) == fixture(name)["resourceType"]


def test_pulse_oximetry_with_loinc_and_mdc_codings() -> None:
    out = convert(fixture("observation/observation-satO2-fiO2.json"))
    [ev] = out.events
    assert isinstance(ev, VitalEvent)
    assert (ev.patient_id, ev.code, ev.value, ev.unit) == ("example", "spo2", 95, "%")
    assert ev.time.isoformat() == "2014-12-05T09:30:10+01:00"
    assert ev.event_id == "fhir:http://example.org/FHIR/observation/identifiers|o1223435-10"
    assert out.skipped == {"unknown_code": 1}  # the inhaled oxygen flow component


@pytest.mark.parametrize(
    ("name", "skipped"),
    [
        ("observation/Observation-f202.json", {"cancelled": 1}),  # entered in error: no fever
        ("observation/Observation-f204.json", {"unknown_code": 1}),  # a local code only
        ("observation/Observation-f001.json", {"unknown_code": 1}),  # glucose
        ("observation/Observation-vitals-panel.json", {}),  # members by reference, no value
        ("medication/MedicationAdministration-medadminexample03.json", {"no_result": 1}),
    ],
)
def test_examples_that_publish_nothing(name: str, skipped: dict[str, int]) -> None:
    out = convert(fixture(name))
    assert not out.events and not out.problems
    assert dict(out.skipped) == skipped


@pytest.mark.parametrize(
    "name",
    [
        "observation/Observation-body-temperature.json",
        "observation/Observation-heart-rate.json",
        "observation/Observation-respiratory-rate.json",
        "observation/Observation-blood-pressure.json",
        "observation/observation-serum-creatinine.json",
    ],
)
def test_examples_dated_to_the_day_are_refused_with_the_reason(name: str) -> None:
    out = convert(fixture(name))
    assert not out.events
    [problem] = out.problems
    assert problem.where == "Observation.effective[x]"
    assert "is not a time to the minute" in problem.message


def timed(name: str, when: str = "2026-03-03T04:00:00+01:00") -> dict[str, Any]:
    resource = fixture(name)
    resource["effectiveDateTime"] = when
    return resource


def test_blood_pressure_components_become_two_events() -> None:
    out = convert(timed("observation/Observation-blood-pressure.json"))
    rows = [(e.code, e.value, e.unit, e.event_id) for e in out.events if isinstance(e, VitalEvent)]
    ident = "fhir:urn:ietf:rfc:3986|urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281"
    assert rows == [
        ("systolic_bp", 107, "mm[Hg]", f"{ident}#8480-6"),
        ("diastolic_bp", 60, "mm[Hg]", f"{ident}#8462-4"),
    ]


def test_a_component_with_a_data_absent_reason_is_skipped() -> None:
    out = convert(timed("observation/Observation-blood-pressure-dar.json"))
    assert [e.code for e in out.events if isinstance(e, VitalEvent)] == ["systolic_bp"]
    assert out.skipped == {"no_value": 1}


def test_collection_bundle_labs_take_the_time_of_their_report() -> None:
    result = ingest(fixture("bundle/Bundle-101.json"), CTX)
    [wbc] = result.events
    assert isinstance(wbc, LabEvent)
    assert (wbc.patient_id, wbc.code, wbc.value, wbc.unit) == ("pat2", "wbc", 4.6, "10*9/L")
    assert wbc.reference_high == 11.0
    assert wbc.time.isoformat() == "2011-03-04T08:30:00+11:00"  # DiagnosticReport.effective
    assert result.skipped == {"unknown_code": 16, "other_resource": 1}


def test_transaction_bundle_of_patients_ingests_nothing_and_refuses_nothing() -> None:
    result = ingest(fixture("bundle/Bundle-bundle-transaction.json"), CTX)
    assert not result.events
    assert result.skipped == {"other_resource": 6, "no_resource": 4}


def test_administration_with_a_contained_medication_coded_in_snomed() -> None:
    out = convert(fixture("medication/MedicationAdministration-medadmin0307.json"))
    [med] = out.events
    assert isinstance(med, MedicationEvent)
    assert med.drug == "Lorazepam 2mg/ml injection solution 1ml vial (product)"
    assert [(c.system, c.code) for c in med.codes or []] == [("snomed", "400621001")]
    assert (med.dose, med.dose_unit, med.route) == (7, "mg", "iv")
    assert med.time.isoformat() == "2015-01-15T04:30:00+01:00" and med.patient_id == "pat1"


def test_administration_of_a_medication_known_by_its_ingredients() -> None:
    out = convert(fixture("medication/MedicationAdministration-medadmin0302.json"))
    [med] = out.events
    assert isinstance(med, MedicationEvent)
    assert [(c.system, c.code) for c in med.codes or []] == [
        ("rxnorm", "204520"),
        ("rxnorm", "313002"),
    ]


def haloperidol(**changes: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationAdministration",
        "id": "mar-1",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [
                {"system": "http://www.whocc.no/atc", "code": "N05AD01"},
                {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5093"},
                {"system": "http://snomed.info/sct", "code": "386837002"},
                {"system": "http://hl7.org/fhir/sid/ndc", "code": "0641-6104-25"},
            ],
            "text": "Haloperidol 5 mg/mL injection",
        },
        "subject": {"reference": "Patient/P-9"},
        "effectiveDateTime": "2026-03-02T08:30:00Z",
        "dosage": {
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "78421000"}]},
            "dose": {"value": 5, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
        },
    }
    resource.update(changes)
    return resource


def test_administration_codings_become_contract_codes_and_text_the_drug() -> None:
    [med] = convert(haloperidol()).events
    assert isinstance(med, MedicationEvent)
    assert [(c.system, c.code) for c in med.codes or []] == [
        ("atc", "N05AD01"),
        ("rxnorm", "5093"),
        ("snomed", "386837002"),
    ]  # NDC names nothing in the catalogue: not a contract code
    assert (med.drug, med.route, med.dose, med.event_id) == (
        "Haloperidol 5 mg/mL injection",
        "im",
        5,
        "fhir:MedicationAdministration/mar-1",
    )


@pytest.mark.parametrize(
    ("status", "published", "skipped"),
    [("completed", True, None), ("in-progress", True, None), ("stopped", True, None),
     ("not-done", False, "not_administered"), ("entered-in-error", False, "cancelled"),
     ("on-hold", False, "no_result"), ("unknown", False, "no_result")],
)  # fmt: skip
def test_administration_status(status: str, published: bool, skipped: str | None) -> None:
    out = convert(haloperidol(status=status))
    assert bool(out.events) is published
    if skipped:
        assert out.skipped == {skipped: 1}


def test_an_unresolvable_medication_reference_is_a_problem() -> None:
    resource = haloperidol(medicationReference={"reference": "Medication/elsewhere"})
    del resource["medicationCodeableConcept"]
    out = convert(resource)
    assert not out.events and out.problems[0].reason == "not_found"


def test_patient_identifier_of_the_configured_system() -> None:
    ctx = FhirContext(CTX.tables, patient_system="urn:oid:1.2.3")
    subject = {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-1"}}
    assert convert(haloperidol(subject=subject), ctx).events[0].patient_id == "MRN-1"
    out = convert(haloperidol(), ctx)  # a bare Patient/<id> is not of that system
    assert not out.events and "urn:oid:1.2.3" in out.problems[0].message
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:0d1c3a94-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:oid:1.2.3", "value": "MRN-2"}],
                },
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": haloperidol(
                    subject={"reference": "urn:uuid:0d1c3a94-0000-4000-8000-000000000001"}
                ),
                "request": {"method": "POST", "url": "MedicationAdministration"},
            },
        ],
    }
    assert [e.patient_id for e in ingest(bundle, ctx).events] == ["MRN-2"]


def test_corrections_get_new_event_ids_and_resends_the_same() -> None:
    obs = timed("observation/observation-satO2-fiO2.json")
    final = convert(obs).events[0].event_id
    obs["status"] = "corrected"
    corrected = convert(obs).events[0].event_id
    assert corrected.startswith(final + "@") and convert(obs).events[0].event_id == corrected
    obs["valueQuantity"] = {**obs["valueQuantity"], "value": 93}
    assert convert(obs).events[0].event_id != corrected


def test_a_lab_range_in_another_unit_is_converted_to_the_value_unit() -> None:
    obs = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2160-0"}]},
        "subject": {"reference": "Patient/P-9"},
        "effectiveDateTime": "2026-03-03T06:00:00Z",
        "valueQuantity": {"value": 150, "code": "umol/L", "system": "http://unitsofmeasure.org"},
        "referenceRange": [{"high": {"value": 1.2, "code": "mg/dL"}}],
    }
    [ev] = convert(obs).events
    assert isinstance(ev, LabEvent)
    assert (ev.value, ev.unit) == (150, "umol/L")
    assert ev.reference_high == pytest.approx(1.2 * 88.4)  # 1.2 mg/dL in umol/L


@pytest.mark.parametrize(
    ("text", "reason"),
    [("2026-03-03", "invalid_field"), ("2026-03-03T06:00:00", "naive_timestamp"),
     ("2026-03-03T25:00:00Z", "invalid_field")],
)  # fmt: skip
def test_times(text: str, reason: str) -> None:
    out = Conversion()
    assert parse_time(text, "x", out) is None
    assert out.problems[0].reason == reason


def test_single_resources_are_refused_whole_with_the_reasons() -> None:
    with pytest.raises(FhirInputError) as exc:
        ingest(fixture("observation/Observation-heart-rate.json"), CTX, "Observation")
    assert exc.value.status == 422
    with pytest.raises(FhirInputError) as exc:
        ingest(fixture("observation/Observation-heart-rate.json"), CTX, "Bundle")
    assert exc.value.status == 400 and "cannot be posted to /fhir/Bundle" in str(exc.value)
    broken = copy.deepcopy(fixture("observation/observation-satO2-fiO2.json"))
    broken["valueQuantity"]["value"] = "ninety-five"
    with pytest.raises(FhirInputError) as exc:
        ingest(broken, CTX, "Observation")
    assert exc.value.status == 400
    assert exc.value.issues[0].expression == "Observation.valueQuantity.value"

"""The event contract (input): one JSON object per event, discriminated on ``kind``.

Unknown extra fields are ignored. A missing or invalid required field rejects the event;
:func:`decode_event` turns the pydantic error into a machine-readable reason and a clear message.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    model_validator,
)

from monitor.knowledge.units import LAB_UNITS, VITAL_UNITS

EventId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
_ATC = re.compile(r"[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}")
PatientId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]

VitalCode = Literal[
    "temperature",
    "heart_rate",
    "systolic_bp",
    "diastolic_bp",
    "mean_bp",
    "respiratory_rate",
    "spo2",
]
VitalUnit = Literal["Cel", "[degF]", "/min", "mm[Hg]", "%"]
TemperatureSite = Literal["oral", "axillary", "tympanic", "temporal", "rectal", "core"]
LabCode = Literal["ck", "wbc", "creatinine", "myoglobin"]
LabStatus = Literal["final", "corrected", "entered-in-error"]
ResultId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
LabUnit = Literal[
    "U/L", "[IU]/L", "ukat/L", "10*9/L", "10*3/uL", "mg/dL", "umol/L", "ng/mL", "ug/L"
]
Route = Literal["oral", "im", "iv", "sc", "ng", "transdermal", "other"]
AssessmentCode = Literal[
    "rigidity",
    "mental_status",
    "diaphoresis",
    "incontinence",
    "tremor",
    "clonus",
    "hyperreflexia",
    "gcs",
    "negative_workup",
]


class _EventBase(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)

    event_id: EventId = Field(description="Unique per event at its source; re-delivery is ignored.")
    patient_id: PatientId
    time: AwareDatetime = Field(
        description="RFC 3339 event time with a UTC offset (observed, sampled, given or charted)."
    )
    source: ShortText | None = Field(None, description="Device, lab system or ward.")


class VitalEvent(_EventBase):
    """A vital sign in UCUM units; temperature may carry its measurement site."""

    kind: Literal["vital"]
    code: VitalCode
    value: float
    unit: VitalUnit
    site: TemperatureSite | None = Field(None, description="Temperature only; default oral.")

    @model_validator(mode="after")
    def _unit_matches_code(self) -> Self:
        allowed = VITAL_UNITS[self.code]
        if self.unit not in allowed:
            raise ValueError(
                f"unit {self.unit!r} is not valid for {self.code}; "
                f"expected {' or '.join(sorted(allowed))}"
            )
        if self.site is not None and self.code != "temperature":
            raise ValueError("site is only valid for temperature")
        return self


class LabEvent(_EventBase):
    """A laboratory result, optionally with the reporting lab's upper limit of normal.

    Since event contract version 3 a result may carry its identity at the source
    (``result_id``): a later version of the same result (``corrected``) replaces the value of
    the earlier one, and ``entered-in-error`` (or a correction without a value) withdraws it
    (HL7 v2 OBX-11 C, A, W, D, X; FHIR Observation.status). Which version is the latest is
    decided by ``issued``, the status and the event id, never by arrival."""

    kind: Literal["lab"]
    code: LabCode
    value: float | None = Field(
        None,
        description="Required in a final result. A corrected version without one (the result "
        "has no number now) and an entered-in-error version withdraw the result.",
    )
    unit: LabUnit
    reference_high: float | None = Field(
        None, gt=0, description="The reporting lab's upper limit of normal, in the same unit."
    )
    result_id: ResultId | None = Field(
        None,
        description="The result's identity at its source, the same in every version of it (for "
        "example the lab system, filler order number and test code). Since version 3.",
    )
    status: LabStatus = Field(
        "final",
        description="final; corrected (replaces the version of result_id issued before it); "
        "entered-in-error (withdraws result_id: counted as never reported). Since version 3.",
    )
    issued: AwareDatetime | None = Field(
        None,
        description="When this version was issued (RFC 3339 with offset). Of the versions of one "
        "result_id the latest issued counts (equal or none: a withdrawal over a correction over "
        "a final result, then the greater event_id; a version without issued comes before "
        "every version with it). Since version 3.",
    )

    @model_validator(mode="after")
    def _unit_matches_code(self) -> Self:
        allowed = LAB_UNITS[self.code]
        if self.unit not in allowed:
            raise ValueError(
                f"unit {self.unit!r} is not valid for {self.code}; "
                f"expected {' or '.join(sorted(allowed))}"
            )
        if self.status != "final" and self.result_id is None:
            raise ValueError(f"a {self.status} result needs the result_id of the result it amends")
        if self.value is None and self.status == "final":
            raise ValueError(
                "a final lab result needs a value (only a corrected or entered-in-error version "
                "of a result may have none)"
            )
        return self


class MedicationCode(BaseModel):
    """A coded drug: WHO ATC (e.g. N05AD01), RxNorm ingredient RXCUI (digits) or SNOMED CT
    substance concept id (digits)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    system: Literal["atc", "rxnorm", "snomed"]
    code: Annotated[str, StringConstraints(min_length=1, max_length=32, strip_whitespace=True)]

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.system == "atc":
            if not _ATC.fullmatch(self.code.upper()):
                raise ValueError(f"ATC code {self.code!r} is not like N05AD01")
        elif not self.code.isdigit():
            raise ValueError(f"{self.system} code {self.code!r} must be digits")
        return self


class MedicationEvent(_EventBase):
    """A medication administration, or the stop of an order, named by text, codes or both."""

    kind: Literal["medication"]
    drug: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="The drug as the record writes it (name, strength, form, route)."
    )
    codes: list[MedicationCode] | None = Field(
        None, max_length=16, description="Codes of the drug (since event contract version 2)."
    )
    action: Literal["administered", "discontinued"]
    dose: float | None = Field(None, ge=0)
    dose_unit: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    route: Route | None = None

    @model_validator(mode="after")
    def _named(self) -> Self:
        if self.drug is None and not self.codes:
            raise ValueError("a medication needs drug (its name) or codes")
        return self


class AssessmentEvent(_EventBase):
    """A charted sign (present/absent), or a Glasgow Coma Scale with a numeric value."""

    kind: Literal["assessment"]
    code: AssessmentCode
    present: bool | None = None
    value: float | None = Field(None, description="GCS only: 3-15.")

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.code == "gcs":
            if self.value is None:
                raise ValueError("gcs needs a numeric value (3-15)")
            if not 3 <= self.value <= 15 or self.value != int(self.value):
                raise ValueError(f"gcs value {self.value:g} is not a whole number from 3 to 15")
        elif self.present is None:
            raise ValueError(f"{self.code} needs present: true or false")
        return self


class PatientEvent(_EventBase):
    """Admission, update of demographics or location, or discharge."""

    kind: Literal["patient"]
    action: Literal["admit", "update", "discharge"]
    sex: Literal["female", "male", "other", "unknown"] | None = None
    birth_date: dt.date | None = None
    location: ShortText | None = None
    history: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None = Field(
        None, max_length=64, description="Understood: parkinson_disease, prior_nms."
    )


class AckEvent(_EventBase):
    """Acknowledge, snooze or resolve an alert (from a dashboard or a pager)."""

    kind: Literal["ack"]
    alert_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    action: Literal["acknowledge", "snooze", "resolve"]
    by: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    until: AwareDatetime | None = Field(None, description="Snooze end (RFC 3339).")
    reason: Annotated[str, StringConstraints(max_length=512)] | None = None


Event = Annotated[
    VitalEvent | LabEvent | MedicationEvent | AssessmentEvent | PatientEvent | AckEvent,
    Field(discriminator="kind"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_KINDS = ("vital", "lab", "medication", "assessment", "patient", "ack")

"""The alert contract (output): one JSON object per alert transition.

Consumers keep the latest object per ``alert_id`` (also the pager de-duplication key) and may drop
a redelivered transition by its ``transition_id``, which is derived deterministically from the
alert and the transition, so reprocessing reproduces it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Transition = Literal[
    "opened", "escalated", "deescalated", "updated", "acknowledged", "snoozed", "resolved"
]
Priority = Literal["low", "medium", "high"]
CriterionName = Literal[
    "exposure",
    "hyperthermia",
    "rigidity",
    "mental_status",
    "ck_elevation",
    "sympathetic_lability",
    "hypermetabolism",
    "negative_workup",
]
PRIORITY_RANK: dict[str | None, int] = {None: 0, "low": 1, "medium": 2, "high": 3}
ALERT_VERSION = 3


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Out):
    """One observation behind a criterion, with the threshold or baseline it was judged against."""

    event_id: str | None = Field(
        None, description="Source event; null for an hourly mean of vital signs."
    )
    time: AwareDatetime
    code: str
    value: float | bool | str | None = None
    unit: str | None = None
    threshold: float | None = None
    baseline: float | None = None
    note: str | None = Field(None, description="Conversion, site offset or aggregation applied.")


class Criterion(_Out):
    """One International Expert Consensus criterion (Gurrera 2011)."""

    name: CriterionName
    met: bool
    points: int = Field(description="Points awarded (0 when not met).")
    weight: int = Field(description="Points the criterion is worth when met.")
    detail: str
    evidence: list[Evidence] = Field(default_factory=list)


class ExposureDrug(_Out):
    drug: str
    drug_class: str
    route: str | None = None
    long_acting: bool
    product: str | None = Field(
        None, description="The long-acting product counting as exposure (since alert version 2)."
    )
    last_dose_time: AwareDatetime
    exposure_until: AwareDatetime
    doses_in_window: int
    im_doses_in_window: int


class WithdrawnDrug(_Out):
    drug: str
    stopped_at: AwareDatetime
    how: Literal["discontinued", "dose_cut"]


class Exposure(_Out):
    drugs: list[ExposureDrug] = Field(default_factory=list)
    withdrawn_dopaminergics: list[WithdrawnDrug] = Field(default_factory=list)
    risk_factors: list[str] = Field(default_factory=list)


class Differential(_Out):
    condition: str
    reason: str


class CkPoint(_Out):
    time: AwareDatetime
    value: float = Field(description="U/L")
    uln: float = Field(description="The upper limit of normal used for this result (U/L).")


class Trends(_Out):
    """Hourly series of the vital signs behind the criteria, for trend lines (since contract
    version 3): one value per hour from ``start``, null where nothing was charted."""

    start: AwareDatetime = Field(description="Start of the first hour of every series.")
    hours: int
    temperature: list[float | None] = Field(
        description="Highest oral-equivalent temperature of each hour (Cel)."
    )
    heart_rate: list[float | None] = Field(description="Hourly mean (/min).")
    respiratory_rate: list[float | None] = Field(description="Hourly mean (/min).")
    systolic_bp: list[float | None] = Field(description="Hourly mean (mm[Hg]).")
    diastolic_bp: list[float | None] = Field(description="Hourly mean (mm[Hg]).")
    ck: list[CkPoint] = Field(default_factory=list, description="Every CK result in the period.")
    ck_uln_multiple: float = Field(description="The CK criterion: this many times the ULN.")


class Alert(_Out):
    """One alert transition for one patient episode of one condition."""

    schema_version: int = Field(
        ALERT_VERSION,
        description="Version of this contract: 1 the first; 2 adds exposure.drugs[].product "
        "(the long-acting product) and this field; 3 adds trends.",
    )
    alert_id: str = Field(description="Stable per patient episode and condition; pager dedup key.")
    transition_id: str = Field(description="Deterministic id of this transition, for dedup.")
    sequence: int = Field(ge=1, description="1 for 'opened', then +1 per transition of the alert.")
    patient_id: str
    condition: Literal["nms"]
    location: str | None = None
    transition: Transition
    status: Literal["firing", "resolved"]
    priority: Priority
    time: AwareDatetime = Field(description="Event time at which the transition happened.")
    opened_at: AwareDatetime
    score: int = Field(ge=0, le=100)
    cutoff: int = Field(ge=0, le=100)
    max_computable_score: int = Field(
        description="Criterion 8 (negative work-up) cannot be computed from streams: 93 unless an "
        "event provided it."
    )
    criteria: list[Criterion]
    exposure: Exposure
    differential: list[Differential] = Field(default_factory=list)
    recommendations: list[str] = Field(default_factory=list)
    acknowledged_by: str | None = None
    snoozed_until: AwareDatetime | None = None
    reason: str | None = Field(None, description="Why resolved, snoozed or acknowledged.")
    trends: Trends | None = Field(
        None, description="Hourly vital signs and CK of the last hours (since version 3)."
    )

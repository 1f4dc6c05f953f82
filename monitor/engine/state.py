"""Per-patient engine state: bounded summaries, not raw streams.

What is kept, and why it stays bounded (architecture.md, "Per-patient state"):
- vital signs as hourly buckets ``[count, sum]`` per sign, only for the look-back windows;
- temperatures as hourly buckets of the highest reading and the fever-occasion span;
- the baseline as at most ``baseline_hours`` hourly buckets per sign, from the first readings;
- labs, doses, GCS and assessments as short lists pruned by their horizons (a few a day);
- the two latest single readings of temperature and blood pressure (consecutive charted readings,
  for patients observed every 8-24 h);
- for the alert's trend series, one rounded value per hour for ``trend_hours`` (72 h) of the
  vital signs the criteria no longer need;
- event ids: every non-vital id within the allowed lateness, and the last ``vital_dedupe_memory``
  vital-sign ids as 64-bit hashes (vital signs come every minute; a redelivered batch is recent).
Hourly buckets are commutative, so a late reading lands where it belongs in time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

# A dose record: (time, dose or None, route or None, long-acting product or None, event_id).
# The product is a catalogue id, "?id1|id2" when the record fits several products, or "*name"
# for any product of that ingredient (states written before products were identified).
Dose = tuple[float, float | None, str | None, str | None, str]
# A lab record: (time, canonical value, canonical reference high or None, event_id, raw value, unit)
LabResult = tuple[float, float, float | None, str, float, str]
# The latest version of an identified lab result (LabEvent.result_id): (time, issued or None,
# event_id of the result that counts or "" when the version withdrew it, code, status rank,
# event_id of the version)
LabVersion = tuple[float, float | None, str, str, int, str]
# An assessment record: (time, present, event_id)
Charted = tuple[float, bool, str]
# A GCS record: (time, value, event_id)
Gcs = tuple[float, int, str]
# A single reading: (time, value, event_id); temperatures as their oral equivalent
Reading = tuple[float, float, str]


@dataclass(slots=True)
class TempBucket:
    """One hour of temperatures: the highest (oral-equivalent) reading and the fever span."""

    max_oral: float
    max_t: float
    max_eid: str
    max_raw: float
    max_unit: str
    max_site: str
    n_elevated: int = 0
    first_elevated: float | None = None
    last_elevated: float | None = None
    core_max: float | None = None


@dataclass(slots=True)
class MedRecord:
    """Doses of one catalogue drug, sorted by time, and when its order was stopped."""

    drug_class: str
    doses: list[Dose] = field(default_factory=list)
    discontinued_at: float | None = None
    discontinued_eid: str | None = None


@dataclass(slots=True)
class AlertState:
    """The open alert episode of the patient (at most one per condition)."""

    alert_id: str
    opened_at: float
    priority: str
    seq: int = 1
    met_mask: int = 0
    differential: tuple[str, ...] = ()
    drugs: tuple[str, ...] = ()
    last_published_t: float = 0.0
    acknowledged_by: str | None = None
    snoozed_until: float | None = None
    lower_since: float | None = None
    clear_since: float | None = None


@dataclass(slots=True)
class Cached:
    """One result of the hot path (``monitor.engine.hotpath``): valid while the inputs it read
    are at ``key`` and the evaluation time is in [``since``, ``until``)."""

    key: object
    since: float
    until: float
    value: Any


@dataclass(slots=True)
class Memo:
    """Derived from the state, never serialised; a state loaded from bytes starts with a new one.

    Input versions: ingest bumps the counter of what it changed, so the hot path can tell that a
    criterion's inputs are as they were when it cached the criterion. ``labs`` and ``charted``
    count per code; ``elevated`` counts temperatures above the fever threshold (the only ones
    that change a bucket's fever span); ``temp_marks`` also counts core-site temperatures and
    pruned temperature buckets (what the heat-stroke hint reads). ``readings`` counts the
    readings added to each sign's hourly buckets (with a bucket's own count, it tells whether any
    hour before the current one changed). The cached results belong to the settings object
    ``cfg`` they were computed with."""

    meds: int = 0
    gcs: int = 0
    elevated: int = 0
    temp_marks: int = 0
    patient: int = 0
    labs: dict[str, int] = field(default_factory=dict)
    charted: dict[str, int] = field(default_factory=dict)
    readings: dict[str, int] = field(default_factory=dict)
    baseline_first: dict[str, int] = field(default_factory=dict)  # min(state.baseline[code])
    cfg: object = None
    cached: dict[str, Cached] = field(default_factory=dict)


@dataclass(slots=True)
class PatientState:
    """Everything the engine remembers about one patient."""

    patient_id: str
    clock: float | None = None  # latest event time seen (drives the lateness rule)
    first_seen: float | None = None
    last_eval: float | None = None
    sex: str | None = None
    location: str | None = None
    location_t: float = float("-inf")
    history: set[str] = field(default_factory=set)
    discharged_at: float | None = None
    seen: dict[str, float] = field(default_factory=dict)
    vital_ring: deque[int] = field(default_factory=deque)
    vital_seen: set[int] = field(default_factory=set)
    vitals: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    baseline: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    temps: dict[int, TempBucket] = field(default_factory=dict)
    latest: dict[str, list[Reading]] = field(default_factory=dict)
    # One rounded value per hour (hourly mean; temperature: the highest) of hours that have left
    # the criteria's windows, for the alert's trend series: hour -> value, per sign.
    trend: dict[str, dict[int, float]] = field(default_factory=dict)
    labs: dict[str, list[LabResult]] = field(default_factory=dict)
    lab_versions: dict[str, LabVersion] = field(default_factory=dict)
    meds: dict[str, MedRecord] = field(default_factory=dict)
    charted: dict[str, Charted] = field(default_factory=dict)
    first_present: dict[str, float] = field(default_factory=dict)
    gcs: list[Gcs] = field(default_factory=list)
    episodes: int = 0
    suppress_rank: int = 0
    alert: AlertState | None = None
    dirty: bool = False
    # Derived caches, never serialised (and not part of a state's identity).
    baseline_cache: dict[str, tuple[float, str]] = field(default_factory=dict, compare=False)
    memo: Memo = field(default_factory=Memo, compare=False, repr=False)


def new_state(patient_id: str) -> PatientState:
    """A fresh state for a patient never seen before (or evicted)."""
    return PatientState(patient_id=patient_id)

"""Ground truth (``truth.json``) and the compact records an evaluation works on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from monitor.errors import TruthError

__all__ = ["DAY_S", "Mark", "PatientTruth", "Sample", "TruthError", "parse_truth"]

DAY_S = 86400.0


@dataclass(frozen=True, slots=True)
class PatientTruth:
    patient_id: str
    condition: str
    positive: bool
    admitted_at: float
    end_at: float
    features: dict[str, float]
    established_at: float | None
    charting: str = "routine"  # the simulator's charting profile of the patient

    @property
    def first_onset(self) -> float | None:
        return min(self.features.values()) if self.features else None

    @property
    def days(self) -> float:
        return max(0.0, self.end_at - self.admitted_at) / DAY_S


@dataclass(frozen=True, slots=True)
class Mark:
    """One alert transition, reduced to what the metrics need."""

    time: float
    alert_id: str
    sequence: int
    transition: str
    priority: str
    score: int


@dataclass(frozen=True, slots=True)
class Sample:
    """The score at an event time (``exposed``: criterion 1 met, which every priority needs)."""

    time: float
    score: int
    exposed: bool


def _time(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise TruthError(f"{where}: expected an RFC 3339 time, got {value!r}")
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise TruthError(f"{where}: {exc}") from None
    if t.tzinfo is None:
        raise TruthError(f"{where}: time {value!r} has no UTC offset")
    return t.timestamp()


def parse_truth(doc: Any) -> dict[str, PatientTruth]:
    """Validate a decoded ``truth.json``; raises :class:`TruthError` with the patient and field."""
    if not isinstance(doc, dict) or not isinstance(doc.get("patients"), list):
        raise TruthError("truth: expected an object with a 'patients' list")
    out: dict[str, PatientTruth] = {}
    for i, p in enumerate(doc["patients"]):
        where = f"truth patients[{i}]"
        if not isinstance(p, dict):
            raise TruthError(f"{where}: expected an object")
        try:
            pid, condition, positive = p["patient_id"], p["condition"], p["positive"]
        except KeyError as exc:
            raise TruthError(f"{where}: missing {exc.args[0]!r}") from None
        if not isinstance(pid, str) or not isinstance(positive, bool):
            raise TruthError(f"{where}: patient_id must be a string and positive a boolean")
        if pid in out:
            raise TruthError(f"{where}: patient {pid} appears twice")
        features = p.get("features") or {}
        if not isinstance(features, dict):
            raise TruthError(f"{where}: features must be an object")
        est = p.get("established_at")
        truth = PatientTruth(
            patient_id=pid,
            condition=str(condition),
            positive=positive,
            admitted_at=_time(p.get("admitted_at"), f"{where}.admitted_at"),
            end_at=_time(p.get("end_at"), f"{where}.end_at"),
            features={k: _time(v, f"{where}.features.{k}") for k, v in features.items()},
            established_at=None if est is None else _time(est, f"{where}.established_at"),
            charting=str(p.get("charting", "routine")),
        )
        if truth.positive and truth.established_at is None:
            raise TruthError(f"{where}: a positive patient needs established_at")
        if truth.end_at < truth.admitted_at:
            raise TruthError(f"{where}: end_at is before admitted_at")
        out[pid] = truth
    return out

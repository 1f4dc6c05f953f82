"""Unit conversion to canonical units, temperature sites, and plausibility limits.

Sources: docs/clinical-model.md#the-criteria (C = (F - 32) x 5/9; 1 ukat/L = 60 U/L;
creatinine mg/dL x 88.4 = umol/L; myoglobin ng/mL = ug/L; site offsets 0.3-0.6 C) and section 5
(plausibility limits from MIT-LCP mimic-code and ricu). A lab value is never capped: CK has no
upper limit (NMS values of 256,020 U/L are reported).
"""

from __future__ import annotations

import math

from monitor.errors import InputError
from monitor.knowledge.thresholds import ClinicalSettings, hot_path

# Canonical units (what the engine stores and the alerts report).
CANONICAL_UNIT: dict[str, str] = {
    "temperature": "Cel",
    "heart_rate": "/min",
    "respiratory_rate": "/min",
    "systolic_bp": "mm[Hg]",
    "diastolic_bp": "mm[Hg]",
    "mean_bp": "mm[Hg]",
    "spo2": "%",
    "ck": "U/L",
    "wbc": "10*9/L",
    "creatinine": "umol/L",
    "myoglobin": "ug/L",
}

# Accepted input units per code, with the factor and offset to the canonical unit.
VITAL_UNITS: dict[str, frozenset[str]] = {
    "temperature": frozenset({"Cel", "[degF]"}),
    "heart_rate": frozenset({"/min"}),
    "respiratory_rate": frozenset({"/min"}),
    "systolic_bp": frozenset({"mm[Hg]"}),
    "diastolic_bp": frozenset({"mm[Hg]"}),
    "mean_bp": frozenset({"mm[Hg]"}),
    "spo2": frozenset({"%"}),
}
_LAB_FACTORS: dict[str, dict[str, float]] = {
    "ck": {"U/L": 1.0, "[IU]/L": 1.0, "ukat/L": 60.0},
    "wbc": {"10*9/L": 1.0, "10*3/uL": 1.0},
    "creatinine": {"umol/L": 1.0, "mg/dL": 88.4},
    "myoglobin": {"ug/L": 1.0, "ng/mL": 1.0},
}
LAB_UNITS: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in _LAB_FACTORS.items()}


_Args = tuple[str, float, float, float | None, str]


class ImplausibleValue(InputError):
    """A value outside physiological limits: an artifact, never scored
    (docs/clinical-model.md#the-criteria)."""

    def __init__(self, code: str, value: float, low: float, high: float | None, unit: str) -> None:
        bound = f"{low:g}-{high:g}" if high is not None else f">= {low:g}"
        super().__init__(f"implausible {code} {value:g} {unit} (plausible {bound} {unit})")
        self.code = code
        self.value = value
        self._args = (code, value, low, high, unit)

    def __reduce__(
        self,
    ) -> tuple[type[ImplausibleValue], tuple[str, float, float, float | None, str]]:
        return (type(self), self._args)


def fahrenheit_to_celsius(value: float) -> float:
    """C = (F - 32) x 5/9 (docs/clinical-model.md#the-criteria)."""
    return (value - 32.0) * 5.0 / 9.0


def lab_to_canonical(code: str, value: float, unit: str) -> float:
    """Convert a lab value to its canonical unit (docs/clinical-model.md#the-criteria); never
    capped."""
    return value * _LAB_FACTORS[code][unit]


def site_offset_c(site: str, cfg: ClinicalSettings) -> float:
    """Degrees C added to a reading at ``site`` to give its oral equivalent (reference 4)."""
    return hot_path(cfg).site_offsets[site]


def check_vital(
    code: str,
    value: float,
    cfg: ClinicalSettings,
    limits: dict[str, tuple[float, float]] | None = None,
) -> None:
    """Raise :class:`ImplausibleValue` for an artifact; the value is in canonical units.

    ``limits`` is ``hot_path(cfg).vital_limits``, passed by callers on the per-event path.
    """
    low, high = (limits or hot_path(cfg).vital_limits)[code]
    if not low <= value <= high:  # also false for NaN
        raise ImplausibleValue(code, value, low, high, CANONICAL_UNIT[code])


def check_lab(code: str, value: float) -> None:
    """Labs must be finite and non-negative; there is no upper cap
    (docs/clinical-model.md#the-criteria)."""
    if not math.isfinite(value) or value < 0:
        raise ImplausibleValue(code, value, 0.0, None, CANONICAL_UNIT[code])

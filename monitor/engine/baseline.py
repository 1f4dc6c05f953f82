"""The explicit vital-sign baseline used by IEC criteria 6a and 7.

The IEC does not define "baseline" (Gurrera 2011; docs/clinical-model.md#baseline). Ours: the
median of the hourly means over the first ``baseline_hours`` of the patient's readings of that
sign, clamped to the upper limit of normal (so a patient admitted already in evolving NMS is still
scored), and the population normal when fewer than ``baseline_min_readings`` readings exist.
Every alert shows the baseline used and how it was made.
"""

from __future__ import annotations

from typing import NamedTuple

from monitor.engine.state import PatientState
from monitor.knowledge.thresholds import ClinicalSettings


class Baseline(NamedTuple):
    value: float
    how: str


def _normal(code: str, cfg: ClinicalSettings) -> tuple[float, float]:
    table = {
        "heart_rate": (cfg.baseline_hr_normal, cfg.baseline_hr_max),
        "respiratory_rate": (cfg.baseline_rr_normal, cfg.baseline_rr_max),
        "systolic_bp": (cfg.baseline_sbp_normal, cfg.baseline_sbp_max),
        "diastolic_bp": (cfg.baseline_dbp_normal, cfg.baseline_dbp_max),
    }
    return table[code]


def baseline(state: PatientState, code: str, cfg: ClinicalSettings) -> Baseline:
    """The patient's baseline for ``code`` (cached until a baseline-period reading arrives)."""
    cached = state.baseline_cache.get(code)
    if cached is not None:
        return Baseline(*cached)
    normal, upper = _normal(code, cfg)
    store = state.baseline.get(code, {})
    readings = int(sum(b[0] for b in store.values()))
    if readings < cfg.baseline_min_readings:
        result = Baseline(normal, f"population normal ({readings} own readings)")
    else:
        means = sorted(b[1] / b[0] for b in store.values())
        mid = len(means) // 2
        median = means[mid] if len(means) % 2 else (means[mid - 1] + means[mid]) / 2.0
        if median > upper:
            result = Baseline(upper, f"own median {median:.0f} clamped to upper normal")
        else:
            result = Baseline(
                median, f"median of {len(means)} hourly means, first {cfg.baseline_hours:g} h"
            )
    state.baseline_cache[code] = (result.value, result.how)
    return result

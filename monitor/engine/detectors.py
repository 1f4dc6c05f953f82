"""Detectors for IEC criteria 2-8, evaluated at event time ``now`` from the bounded summaries.

Each returns a :class:`Finding`; with ``explain=False`` only ``met`` is computed (the hot path),
with ``explain=True`` also the human detail and the evidence behind it.

Windows over vital signs use hourly buckets: a bucket counts while any part of it lies inside the
window, so a window of W hours covers between W and W + 1 hours of readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.contracts.alerts import Evidence
from monitor.engine.baseline import baseline
from monitor.engine.state import PatientState
from monitor.engine.timeutil import to_datetime
from monitor.knowledge.thresholds import HOUR, ClinicalSettings


@dataclass(slots=True)
class Finding:
    met: bool
    detail: str = ""
    evidence: list[Evidence] = field(default_factory=list)


def _hours(now: float, window_hours: float) -> range:
    return range(int((now - window_hours * HOUR) // HOUR), int(now // HOUR) + 1)


def hyperthermia(state: PatientState, now: float, cfg: ClinicalSettings, explain: bool) -> Finding:
    """IEC 2 (Gurrera 2011): > 38.0 C oral on at least 2 occasions.

    Oral equivalents use the configured site offsets (clinical-reference section 4). Occasions
    must be ``fever_occasion_separation_minutes`` apart, within ``fever_window_hours``.
    """
    n = 0
    first: float | None = None
    last: float | None = None
    elevated = []
    for h in _hours(now, cfg.fever_window_hours):
        b = state.temps.get(h)
        if b is None or not b.n_elevated or b.first_elevated is None or b.last_elevated is None:
            continue
        n += b.n_elevated
        first = b.first_elevated if first is None else min(first, b.first_elevated)
        last = b.last_elevated if last is None else max(last, b.last_elevated)
        if explain:
            elevated.append(b)
    k = cfg.fever_occasions
    span = (last - first) if first is not None and last is not None else 0.0
    sep = cfg.fever_occasion_separation_minutes * 60.0
    met = n >= k and (k < 2 or sep == 0 or span >= (k - 1) * sep)
    if not explain:
        return Finding(met)
    highest = max(elevated, key=lambda b: b.max_oral, default=None)
    shown = {id(b): b for b in (elevated[:1] + ([highest] if highest else []) + elevated[-1:])}
    evidence = []
    for b in sorted(shown.values(), key=lambda b: b.max_t):
        note = f"highest of the hour; {b.max_raw:g} {b.max_unit} {b.max_site}"
        if b.max_site != "oral" or b.max_unit != "Cel":
            note += f" -> {b.max_oral:.2f} Cel oral-equivalent"
        evidence.append(
            Evidence(
                event_id=b.max_eid,
                time=to_datetime(b.max_t),
                code="temperature",
                value=round(b.max_oral, 2),
                unit="Cel",
                threshold=cfg.fever_threshold_c,
                note=note,
            )
        )
    if met:
        detail = (
            f"{n} readings > {cfg.fever_threshold_c:g} C oral-equivalent in the last "
            f"{cfg.fever_window_hours:g} h, {span / 3600:.1f} h apart"
        )
    elif n:
        detail = (
            f"{n} reading(s) > {cfg.fever_threshold_c:g} C but not {k} occasions "
            f">= {cfg.fever_occasion_separation_minutes:g} min apart"
        )
    else:
        detail = (
            f"no temperature > {cfg.fever_threshold_c:g} C in the last {cfg.fever_window_hours:g} h"
        )
    return Finding(met, detail, evidence)


def _charted(
    state: PatientState, code: str, now: float, cfg: ClinicalSettings
) -> tuple[float, bool, str] | None:
    rec = state.charted.get(code)
    if rec is None or rec[0] > now or now - rec[0] > cfg.assessment_window_hours * HOUR:
        return None
    return rec


def _charted_evidence(code: str, rec: tuple[float, bool, str]) -> Evidence:
    return Evidence(event_id=rec[2], time=to_datetime(rec[0]), code=code, value=rec[1])


def charted_sign(
    state: PatientState, code: str, now: float, cfg: ClinicalSettings, explain: bool
) -> Finding:
    """IEC 3, 6c, 6d (Gurrera 2011): a sign from nursing/physician charting.

    Met while the latest charting of the sign is 'present' and at most
    ``assessment_window_hours`` old; a later 'absent' clears it.
    """
    rec = _charted(state, code, now, cfg)
    met = rec is not None and rec[1]
    if not explain:
        return Finding(met)
    label = code.replace("_", " ")
    if rec is None:
        return Finding(False, f"no {label} charted in the last {cfg.assessment_window_hours:g} h")
    state_word = "present" if rec[1] else "absent"
    return Finding(met, f"{label} charted {state_word}", [_charted_evidence(code, rec)])


def mental_status(state: PatientState, now: float, cfg: ClinicalSettings, explain: bool) -> Finding:
    """IEC 4 (Gurrera 2011): reduced or fluctuating level of consciousness.

    Met by a charted 'mental_status present', or by the latest GCS (within the assessment
    window) at or below ``gcs_abnormal_at_or_below`` or ``gcs_drop_points`` below the best GCS of
    the previous ``gcs_lookback_hours``.
    """
    rec = _charted(state, "mental_status", now, cfg)
    flag = rec is not None and rec[1]
    gcs_met = False
    latest = None
    best = None
    for g in reversed(state.gcs):
        if g[0] <= now:
            latest = g
            break
    if latest is not None and now - latest[0] <= cfg.assessment_window_hours * HOUR:
        prior = [
            g[1] for g in state.gcs if latest[0] - cfg.gcs_lookback_hours * HOUR <= g[0] < latest[0]
        ]
        best = max(prior, default=None)
        gcs_met = latest[1] <= cfg.gcs_abnormal_at_or_below or (
            best is not None and latest[1] <= best - cfg.gcs_drop_points
        )
    else:
        latest = None
    met = flag or gcs_met
    if not explain:
        return Finding(met)
    parts: list[str] = []
    evidence: list[Evidence] = []
    if rec is not None:
        parts.append(f"altered mental status charted {'present' if rec[1] else 'absent'}")
        evidence.append(_charted_evidence("mental_status", rec))
    if latest is not None:
        txt = f"GCS {latest[1]}"
        if best is not None:
            txt += f" (best {best} in the previous {cfg.gcs_lookback_hours:g} h)"
        parts.append(txt)
        evidence.append(
            Evidence(
                event_id=latest[2],
                time=to_datetime(latest[0]),
                code="gcs",
                value=latest[1],
                threshold=float(cfg.gcs_abnormal_at_or_below),
                baseline=float(best) if best is not None else None,
            )
        )
    detail = "; ".join(parts) or "no consciousness assessment in the window"
    return Finding(met, detail, evidence)


def ck_uln(
    state: PatientState, reference_high: float | None, cfg: ClinicalSettings
) -> tuple[float, str]:
    """ULN: the reporting lab's own reference high, else the Mayo sex default; unknown sex: the
    lower (clinical-reference section 4)."""
    if reference_high is not None:
        return reference_high, "lab reference high"
    if state.sex == "male":
        return cfg.ck_uln_male_u_l, "male default"
    if state.sex == "female":
        return cfg.ck_uln_female_u_l, "female default"
    return min(cfg.ck_uln_male_u_l, cfg.ck_uln_female_u_l), "sex unknown: lower default"


def ck_elevation(state: PatientState, now: float, cfg: ClinicalSettings, explain: bool) -> Finding:
    """IEC 5 (Gurrera 2011): CK at least 4 x the upper limit of normal, within ``ck_window_hours``.

    CK is never capped (clinical-reference section 4: 256,020 U/L reported).
    """
    best = None
    best_ratio = -1.0
    for r in state.labs.get("ck", ()):
        if r[0] > now or now - r[0] > cfg.ck_window_hours * HOUR:
            continue
        uln, _ = ck_uln(state, r[2], cfg)
        ratio = r[1] / uln
        if ratio > best_ratio:
            best, best_ratio = r, ratio
    met = best is not None and best_ratio >= cfg.ck_uln_multiple
    if not explain:
        return Finding(met)
    if best is None:
        return Finding(False, f"no CK in the last {cfg.ck_window_hours:g} h")
    uln, how = ck_uln(state, best[2], cfg)
    note = f"ULN {uln:g} U/L ({how})"
    if best[5] != "U/L":
        note += f"; reported {best[4]:g} {best[5]}"
    ev = Evidence(
        event_id=best[3],
        time=to_datetime(best[0]),
        code="ck",
        value=round(best[1], 1),
        unit="U/L",
        threshold=round(cfg.ck_uln_multiple * uln, 1),
        note=note,
    )
    return Finding(met, f"CK {best[1]:.0f} U/L = {best_ratio:.1f} x ULN", [ev])


def _mean_buckets(
    state: PatientState, code: str, now: float, window_hours: float
) -> list[tuple[int, float, float]]:
    by_hour = state.vitals.get(code)
    if not by_hour:
        return []
    out = []
    for h in _hours(now, window_hours):
        b = by_hour.get(h)
        if b is not None and h * HOUR <= now:
            out.append((h, b[1] / b[0], b[0]))
    return out


def _mean_evidence(
    code: str,
    hour: int,
    mean: float,
    n: float,
    unit: str,
    threshold: float | None,
    base: float | None,
) -> Evidence:
    return Evidence(
        time=to_datetime(hour * HOUR),
        code=code,
        value=round(mean, 1),
        unit=unit,
        threshold=round(threshold, 1) if threshold is not None else None,
        baseline=round(base, 1) if base is not None else None,
        note=f"mean of {int(n)} reading(s) in the hour from this time",
    )


def sympathetic_lability(
    state: PatientState, now: float, cfg: ClinicalSettings, explain: bool
) -> Finding:
    """IEC 6 (Gurrera 2011): at least 2 of (a) SBP or DBP >= 25 % above baseline; (b) fluctuation
    >= 20 mmHg diastolic or >= 25 mmHg systolic within 24 h; (c) diaphoresis; (d) incontinence.

    (a) and (b) use hourly means, so one arterial-line flush spike cannot make them.
    """
    signs: list[str] = []
    evidence: list[Evidence] = []
    elevated = None
    swings: list[tuple[str, float, tuple[int, float, float], tuple[int, float, float], float]] = []
    for code, fluct in (
        ("systolic_bp", cfg.sbp_fluctuation_mmhg),
        ("diastolic_bp", cfg.dbp_fluctuation_mmhg),
    ):
        means = _mean_buckets(
            state, code, now, max(cfg.vital_window_hours, cfg.lability_window_hours)
        )
        if not means:
            continue
        base = baseline(state, code, cfg)
        threshold = base.value * (1.0 + cfg.bp_above_baseline_fraction)
        recent_from = now - cfg.vital_window_hours * HOUR - HOUR
        for m in means:
            if (
                m[1] >= threshold
                and m[0] * HOUR > recent_from
                and (elevated is None or m[1] / threshold > elevated[1][1] / elevated[2])
            ):
                elevated = (code, m, threshold, base)
        lab_from = now - cfg.lability_window_hours * HOUR - HOUR
        window = [m for m in means if m[0] * HOUR > lab_from]
        if window:
            hi = max(window, key=lambda m: m[1])
            lo = min(window, key=lambda m: m[1])
            if hi[1] - lo[1] >= fluct:
                swings.append((code, hi[1] - lo[1], hi, lo, fluct))
    if elevated is not None:
        signs.append("a")
    if swings:
        signs.append("b")
    diaphoresis = _charted(state, "diaphoresis", now, cfg)
    if diaphoresis is not None and diaphoresis[1]:
        signs.append("c")
    incontinence = _charted(state, "incontinence", now, cfg)
    if incontinence is not None and incontinence[1]:
        signs.append("d")
    met = len(signs) >= cfg.lability_signs_required
    if not explain:
        return Finding(met)
    parts: list[str] = []
    if elevated is not None:
        code, m, threshold, base = elevated
        pct = (m[1] / base.value - 1.0) * 100.0
        parts.append(
            f"(a) {code.replace('_', ' ')} {m[1]:.0f} mmHg, {pct:.0f} % above baseline "
            f"{base.value:.0f} ({base.how})"
        )
        evidence.append(_mean_evidence(code, m[0], m[1], m[2], "mm[Hg]", threshold, base.value))
    for code, swing, hi, lo, fluct in swings:
        parts.append(
            f"(b) {code.replace('_', ' ')} varied {swing:.0f} mmHg within "
            f"{cfg.lability_window_hours:g} h (>= {fluct:g})"
        )
        evidence.append(_mean_evidence(code, hi[0], hi[1], hi[2], "mm[Hg]", None, None))
        evidence.append(_mean_evidence(code, lo[0], lo[1], lo[2], "mm[Hg]", None, None))
    if diaphoresis is not None and diaphoresis[1]:
        parts.append("(c) diaphoresis charted")
        evidence.append(_charted_evidence("diaphoresis", diaphoresis))
    if incontinence is not None and incontinence[1]:
        parts.append("(d) incontinence charted")
        evidence.append(_charted_evidence("incontinence", incontinence))
    detail = f"{len(signs)} of 4 signs (need {cfg.lability_signs_required})"
    if parts:
        detail += ": " + "; ".join(parts)
    return Finding(met, detail, evidence)


def hypermetabolism(
    state: PatientState, now: float, cfg: ClinicalSettings, explain: bool
) -> Finding:
    """IEC 7 (Gurrera 2011): HR >= 25 % above baseline AND RR >= 50 % above baseline.

    Both hourly means must be above their thresholds in the same hour, within
    ``vital_window_hours``.
    """
    hr = _mean_buckets(state, "heart_rate", now, cfg.vital_window_hours)
    rr_by_hour = state.vitals.get("respiratory_rate", {})
    if not hr or not rr_by_hour:
        return Finding(
            False, "no hour with both heart rate and respiratory rate" if explain else ""
        )
    b_hr = baseline(state, "heart_rate", cfg)
    b_rr = baseline(state, "respiratory_rate", cfg)
    t_hr = b_hr.value * (1.0 + cfg.hr_above_baseline_fraction)
    t_rr = b_rr.value * (1.0 + cfg.rr_above_baseline_fraction)
    hit = None
    for h, mean_hr, n_hr in hr:
        if mean_hr < t_hr:
            continue
        rr = rr_by_hour.get(h)
        if rr is not None and rr[1] / rr[0] >= t_rr:
            hit = (h, mean_hr, n_hr, rr[1] / rr[0], rr[0])
    met = hit is not None
    if not explain:
        return Finding(met)
    base_txt = (
        f"baselines HR {b_hr.value:.0f}/min ({b_hr.how}), RR {b_rr.value:.0f}/min ({b_rr.how})"
    )
    if hit is None:
        return Finding(False, f"no hour with HR >= {t_hr:.0f} and RR >= {t_rr:.0f}; {base_txt}")
    h, mean_hr, n_hr, mean_rr, n_rr = hit
    evidence = [
        _mean_evidence("heart_rate", h, mean_hr, n_hr, "/min", t_hr, b_hr.value),
        _mean_evidence("respiratory_rate", h, mean_rr, n_rr, "/min", t_rr, b_rr.value),
    ]
    detail = f"HR {mean_hr:.0f}/min and RR {mean_rr:.0f}/min in the same hour; {base_txt}"
    return Finding(True, detail, evidence)


def negative_workup(
    state: PatientState, now: float, cfg: ClinicalSettings, explain: bool
) -> Finding:
    """IEC 8 (Gurrera 2011): infectious, toxic, metabolic and neurologic causes excluded.

    Cannot be computed from streams (clinical-reference section 1): unmet unless a clinician
    charts ``negative_workup present``; a later 'absent' withdraws it.
    """
    rec = state.charted.get("negative_workup")
    met = rec is not None and rec[0] <= now and rec[1]
    if not explain:
        return Finding(met)
    if rec is None:
        return Finding(
            False,
            "not computable from streams; chart negative_workup when infection, toxic, metabolic "
            "and neurological causes are excluded",
        )
    return Finding(
        met,
        f"work-up charted {'negative' if rec[1] else 'not negative'}",
        [_charted_evidence("negative_workup", rec)],
    )

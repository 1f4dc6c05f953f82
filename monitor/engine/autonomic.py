"""Detectors for IEC criteria 6 (sympathetic lability) and 7 (hypermetabolism): hourly means of
blood pressure, heart rate and respiratory rate against the patient's baseline.

Same conventions as :mod:`monitor.engine.detectors`: each returns a ``Finding``; with
``explain=False`` only ``met`` is computed. Windows use hourly buckets: a bucket counts while any
part of it lies inside the window, so a window of W hours covers between W and W + 1 hours of
readings. ``monitor.engine.hotpath`` computes the same ``met`` incrementally.
"""

from __future__ import annotations

import operator
from functools import partial

from monitor.contracts.alerts import Evidence
from monitor.engine.baseline import baseline
from monitor.engine.detectors import (
    Finding,
    age_text,
    charted_evidence,
    charted_latest,
    consecutive_pair,
    hours_in_window,
    is_stale,
)
from monitor.engine.state import PatientState, Reading
from monitor.engine.timeutil import to_datetime
from monitor.knowledge.thresholds import HOUR, ClinicalSettings


def _mean_buckets(
    state: PatientState, code: str, now: float, window_hours: float
) -> list[tuple[int, float, float]]:
    by_hour = state.vitals.get(code)
    if not by_hour:
        return []
    out = []
    for h in hours_in_window(now, window_hours):
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

    (a) and (b) use hourly means, so one arterial-line flush spike cannot make them; (a) needs
    ``bp_raised_occasions`` raised hours, or that many consecutive raised charted readings (ward
    charting every 8-24 h; :func:`consecutive_pair`), the repeated-observation rule of the
    alarm-fatigue section of the reference.
    """
    signs: list[str] = []
    evidence: list[Evidence] = []
    elevated = None
    raised_hours: set[int] = set()
    pairs: list[tuple[str, tuple[Reading, Reading], float]] = []
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
            if m[1] >= threshold and m[0] * HOUR > recent_from:
                raised_hours.add(m[0])
                if elevated is None or m[1] / threshold > elevated[1][1] / elevated[2]:
                    elevated = (code, m, threshold, base)
        if cfg.bp_raised_occasions <= 2:
            pair = consecutive_pair(
                state, code, now, cfg.vital_window_hours, cfg, partial(operator.le, threshold)
            )
            if pair is not None:
                pairs.append((code, pair, threshold))
        lab_from = now - cfg.lability_window_hours * HOUR - HOUR
        window = [m for m in means if m[0] * HOUR > lab_from]
        if window:
            hi = max(window, key=lambda m: m[1])
            lo = min(window, key=lambda m: m[1])
            if hi[1] - lo[1] >= fluct:
                swings.append((code, hi[1] - lo[1], hi, lo, fluct))
    raised = len(raised_hours) >= cfg.bp_raised_occasions or bool(pairs)
    if raised:
        signs.append("a")
    if swings:
        signs.append("b")
    fresh = len(signs)
    charted: list[tuple[str, tuple[float, bool, str]]] = []
    for letter, code in (("c", "diaphoresis"), ("d", "incontinence")):
        rec = charted_latest(state, code, now, cfg)
        if rec is not None and rec[1]:
            signs.append(letter)
            charted.append((code, rec))
            fresh += 0 if is_stale(rec[0], now, cfg) else 1
    met = len(signs) >= cfg.lability_signs_required
    if not explain:
        return Finding(met)
    parts: list[str] = []
    if raised and elevated is not None and len(raised_hours) >= cfg.bp_raised_occasions:
        code, m, threshold, base = elevated
        pct = (m[1] / base.value - 1.0) * 100.0
        parts.append(
            f"(a) {len(raised_hours)} hour(s) with a mean blood pressure >= "
            f"{cfg.bp_above_baseline_fraction * 100:g} % above baseline; highest "
            f"{code.replace('_', ' ')} {m[1]:.0f} mmHg, {pct:.0f} % above {base.value:.0f} "
            f"({base.how})"
        )
        evidence.append(_mean_evidence(code, m[0], m[1], m[2], "mm[Hg]", threshold, base.value))
    elif raised:
        code, pair, threshold = pairs[0]
        parts.append(
            f"(a) two consecutive charted {code.replace('_', ' ')} readings "
            f"{pair[0][1]:.0f} and {pair[1][1]:.0f} mmHg >= {threshold:.0f} "
            f"({cfg.bp_above_baseline_fraction * 100:g} % above baseline)"
        )
        evidence += [
            Evidence(
                event_id=r[2],
                time=to_datetime(r[0]),
                code=code,
                value=r[1],
                unit="mm[Hg]",
                threshold=round(threshold, 1),
                note="consecutive charted readings",
            )
            for r in pair
        ]
    for code, swing, hi, lo, fluct in swings:
        parts.append(
            f"(b) {code.replace('_', ' ')} varied {swing:.0f} mmHg within "
            f"{cfg.lability_window_hours:g} h (>= {fluct:g})"
        )
        evidence.append(_mean_evidence(code, hi[0], hi[1], hi[2], "mm[Hg]", None, None))
        evidence.append(_mean_evidence(code, lo[0], lo[1], lo[2], "mm[Hg]", None, None))
    stale: list[tuple[str, float]] = []
    for code, rec in charted:
        parts.append(
            f"({'c' if code == 'diaphoresis' else 'd'}) {code} charted {age_text(rec[0], now)}"
        )
        evidence.append(charted_evidence(code, rec, now, cfg))
        if met and fresh < cfg.lability_signs_required and is_stale(rec[0], now, cfg):
            stale.append((code, rec[0]))
    detail = f"{len(signs)} of 4 signs (need {cfg.lability_signs_required})"
    if parts:
        detail += ": " + "; ".join(parts)
    if stale:
        detail += f"; charting older than {cfg.sign_stale_hours:g} h: re-examine"
    return Finding(met, detail, evidence, stale)


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

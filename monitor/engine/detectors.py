"""Detectors for IEC criteria 2-5 and 8, evaluated at event time ``now`` from the bounded
summaries (6 and 7, over hourly means of vital signs: :mod:`monitor.engine.autonomic`).

Each returns a :class:`Finding`; with ``explain=False`` only ``met`` is computed (the hot path),
with ``explain=True`` also the human detail and the evidence behind it.

Windows over vital signs use hourly buckets: a bucket counts while any part of it lies inside the
window, so a window of W hours covers between W and W + 1 hours of readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from monitor.contracts.alerts import Evidence
from monitor.engine.state import PatientState, Reading
from monitor.engine.timeutil import to_datetime
from monitor.knowledge.thresholds import HOUR, ClinicalSettings


@dataclass(slots=True)
class Finding:
    met: bool
    detail: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    # Charted signs (code, charting time) older than ``sign_stale_hours`` without which the
    # criterion would not be met: the alert recommends re-examining them.
    stale: list[tuple[str, float]] = field(default_factory=list)


def hours_in_window(now: float, window_hours: float) -> range:
    """The hourly buckets a window of ``window_hours`` ending at ``now`` touches."""
    return range(int((now - window_hours * HOUR) // HOUR), int(now // HOUR) + 1)


def hyperthermia(state: PatientState, now: float, cfg: ClinicalSettings, explain: bool) -> Finding:
    """IEC 2 (Gurrera 2011): > 38.0 C oral on at least 2 occasions.

    Oral equivalents use the configured site offsets (docs/clinical-model.md#the-criteria).
    Occasions
    must be ``fever_occasion_separation_minutes`` apart, within ``fever_window_hours``.
    """
    n = 0
    first: float | None = None
    last: float | None = None
    elevated = []
    for h in hours_in_window(now, cfg.fever_window_hours):
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
    pair = None
    if not met and k <= 2:
        pair = consecutive_pair(
            state,
            "temperature",
            now,
            cfg.fever_window_hours,
            cfg,
            lambda v: v > cfg.fever_threshold_c,
        )
        met = pair is not None
    if not explain:
        return Finding(met)
    if pair is not None:
        evidence = [
            Evidence(
                event_id=r[2],
                time=to_datetime(r[0]),
                code="temperature",
                value=round(r[1], 2),
                unit="Cel",
                threshold=cfg.fever_threshold_c,
                note="oral-equivalent; consecutive charted readings",
            )
            for r in pair
        ]
        gap = (pair[1][0] - pair[0][0]) / HOUR
        detail = (
            f"two consecutive charted temperatures > {cfg.fever_threshold_c:g} C oral-equivalent, "
            f"{gap:.1f} h apart (nothing charted between them)"
        )
        return Finding(True, detail, evidence)
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


def consecutive_pair(
    state: PatientState,
    code: str,
    now: float,
    window_hours: float,
    cfg: ClinicalSettings,
    raised: Callable[[float], bool],
) -> tuple[Reading, Reading] | None:
    """The two latest single readings of ``code`` when both are raised: two occasions as a
    clinician reads a ward chart (consecutive readings, nothing charted between them), at least
    ``fever_occasion_separation_minutes`` and at most ``consecutive_max_gap_hours`` apart, the
    later one inside the criterion's window. Only readings up to ``now`` count, so an evaluation
    in the past sees no pair when newer readings exist (the hourly rules still apply)."""
    kept = state.latest.get(code)
    if kept is None or len(kept) < 2:
        return None
    first, second = kept
    if second[0] > now or now - second[0] > window_hours * HOUR:
        return None
    gap = second[0] - first[0]
    sep = cfg.fever_occasion_separation_minutes * 60.0
    if gap < sep or gap > cfg.consecutive_max_gap_hours * HOUR:
        return None
    if not (raised(first[1]) and raised(second[1])):
        return None
    return first, second


def charted_latest(
    state: PatientState, code: str, now: float, cfg: ClinicalSettings
) -> tuple[float, bool, str] | None:
    """The latest charting of ``code`` up to ``now``, while inside ``sign_horizon_hours``."""
    rec = state.charted.get(code)
    if rec is None or rec[0] > now or now - rec[0] > cfg.sign_horizon_hours * HOUR:
        return None
    return rec


def charted_present(state: PatientState, code: str, now: float, cfg: ClinicalSettings) -> bool:
    """Whether :func:`charted_sign` is met: the latest charting in the horizon says present."""
    rec = charted_latest(state, code, now, cfg)
    return rec is not None and rec[1]


def workup_negative(state: PatientState, now: float) -> bool:
    """Whether :func:`negative_workup` is met: the latest charted work-up up to ``now`` is
    negative (no horizon: a work-up stays done)."""
    rec = state.charted.get("negative_workup")
    return rec is not None and rec[0] <= now and rec[1]


def is_stale(t: float, now: float, cfg: ClinicalSettings) -> bool:
    return now - t > cfg.sign_stale_hours * HOUR


def age_text(t: float, now: float) -> str:
    hours = (now - t) / HOUR
    return f"{hours:.0f} h ago" if hours >= 1 else f"{hours * 60:.0f} min ago"


def charted_evidence(
    code: str, rec: tuple[float, bool, str], now: float, cfg: ClinicalSettings
) -> Evidence:
    note = f"charted {age_text(rec[0], now)}"
    if rec[1] and is_stale(rec[0], now, cfg):
        note += f"; not re-charted for over {cfg.sign_stale_hours:g} h: re-examine"
    return Evidence(event_id=rec[2], time=to_datetime(rec[0]), code=code, value=rec[1], note=note)


def charted_sign(
    state: PatientState, code: str, now: float, cfg: ClinicalSettings, explain: bool
) -> Finding:
    """IEC 3, 6c, 6d (Gurrera 2011): a sign from nursing/physician charting.

    Met while the latest charting of the sign is 'present', until it is charted absent or
    ``sign_horizon_hours`` have passed (charting by exception: a sign is charted when it appears
    and when it changes; docs/clinical-model.md#the-criteria).
    """
    met = charted_present(state, code, now, cfg)
    if not explain:
        return Finding(met)
    rec = charted_latest(state, code, now, cfg)
    label = code.replace("_", " ")
    if rec is None:
        return Finding(False, f"no {label} charted in the last {cfg.sign_horizon_hours:g} h")
    state_word = "present" if rec[1] else "absent"
    detail = f"{label} charted {state_word} {age_text(rec[0], now)}"
    stale = [(code, rec[0])] if met and is_stale(rec[0], now, cfg) else []
    if stale:
        detail += " (not re-charted since: re-examine)"
    return Finding(met, detail, [charted_evidence(code, rec, now, cfg)], stale)


def mental_status(state: PatientState, now: float, cfg: ClinicalSettings, explain: bool) -> Finding:
    """IEC 4 (Gurrera 2011): reduced or fluctuating level of consciousness.

    Met by a charted 'mental_status present', or by the latest GCS (within the assessment
    window) at or below ``gcs_abnormal_at_or_below`` or ``gcs_drop_points`` below the best GCS of
    the previous ``gcs_lookback_hours``.
    """
    rec = charted_latest(state, "mental_status", now, cfg)
    flag = rec is not None and rec[1]
    gcs_met = False
    latest = None
    best = None
    for g in reversed(state.gcs):
        if g[0] <= now:
            latest = g
            break
    if latest is not None and now - latest[0] <= cfg.sign_horizon_hours * HOUR:
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
        word = "present" if rec[1] else "absent"
        parts.append(f"altered mental status charted {word} {age_text(rec[0], now)}")
        evidence.append(charted_evidence("mental_status", rec, now, cfg))
    if latest is not None:
        txt = f"GCS {latest[1]} {age_text(latest[0], now)}"
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
                note=f"charted {age_text(latest[0], now)}",
            )
        )
    stale: list[tuple[str, float]] = []
    fresh = (flag and rec is not None and not is_stale(rec[0], now, cfg)) or (
        gcs_met and latest is not None and not is_stale(latest[0], now, cfg)
    )
    if met and not fresh:
        if flag and rec is not None:
            stale.append(("mental_status", rec[0]))
        if gcs_met and latest is not None:
            stale.append(("gcs", latest[0]))
        parts.append(f"not re-charted for over {cfg.sign_stale_hours:g} h: re-examine")
    detail = "; ".join(parts) or "no consciousness assessment in the window"
    return Finding(met, detail, evidence, stale)


def ck_uln(
    state: PatientState, reference_high: float | None, cfg: ClinicalSettings
) -> tuple[float, str]:
    """ULN: the reporting lab's own reference high, else the Mayo sex default; unknown sex: the
    lower (docs/clinical-model.md#the-criteria)."""
    if reference_high is not None:
        return reference_high, "lab reference high"
    if state.sex == "male":
        return cfg.ck_uln_male_u_l, "male default"
    if state.sex == "female":
        return cfg.ck_uln_female_u_l, "female default"
    return min(cfg.ck_uln_male_u_l, cfg.ck_uln_female_u_l), "sex unknown: lower default"


def ck_elevation(state: PatientState, now: float, cfg: ClinicalSettings, explain: bool) -> Finding:
    """IEC 5 (Gurrera 2011): CK at least 4 x the upper limit of normal, within ``ck_window_hours``.

    CK is never capped (docs/clinical-model.md#the-criteria: 256,020 U/L reported).
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


def negative_workup(
    state: PatientState, now: float, cfg: ClinicalSettings, explain: bool
) -> Finding:
    """IEC 8 (Gurrera 2011): infectious, toxic, metabolic and neurologic causes excluded.

    Cannot be computed from streams (docs/clinical-model.md#the-criteria): unmet unless a clinician
    charts ``negative_workup present``; a later 'absent' withdraws it.
    """
    met = workup_negative(state, now)
    if not explain:
        return Finding(met)
    rec = state.charted.get("negative_workup")
    if rec is None:
        return Finding(
            False,
            "not computable from streams; chart negative_workup when infection, toxic, metabolic "
            "and neurological causes are excluded",
        )
    return Finding(
        met,
        f"work-up charted {'negative' if rec[1] else 'not negative'}",
        [
            Evidence(
                event_id=rec[2],
                time=to_datetime(rec[0]),
                code="negative_workup",
                value=rec[1],
                note=f"charted {age_text(rec[0], now)}",
            )
        ],
    )

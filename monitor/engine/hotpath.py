"""The score at the patient's clock, incrementally: what the engine computes after every event.

:func:`monitor.engine.score.evaluate` computes every criterion from the state's summaries; this
module gives exactly the same :class:`~monitor.engine.score.Evaluation` while recomputing only
what may have changed. On a simulated ward the engine evaluates once per ~5 events (every lab,
dose and assessment, and the first vital sign of each 5 minutes), and most of those evaluations
see the same drugs, labs and charting as the last one, and the same hours of vital signs but the
current one.

How a result is reused (the inputs are the state's summaries; ``state.memo`` holds versions of
them that ingest bumps, and the cached results):

- A criterion's result is kept with the versions of the inputs it read, the evaluation time it
  was computed at (``since``), and the earliest later time at which the same inputs could give
  another result (``until``): a dose leaving its exposure horizon, a charting passing its sign
  horizon, a CK result leaving its window, the later of two consecutive readings leaving its
  window. Windows over hourly buckets are keyed by the bucket numbers the criterion computes, so
  an hour boundary recomputes them. A result is reused while its versions are unchanged and
  ``since <= now < until - EPSILON_S``: the margin keeps float rounding of ``now - t > window``
  against ``t + window`` on the side of recomputing.
- Sympathetic lability and hypermetabolism read hourly means that change with every vital sign.
  Their completed hours (before the current one) are summarised once per hour: the raised
  candidates sorted by their mean, the highest and lowest mean, whether heart rate and
  respiratory rate met together. A summary is reused while no reading landed in those hours: a
  sign's readings since the memo began minus the current bucket's count only grows when one
  does. Each evaluation adds the current hour's bucket to it.
- Only evaluations at or after the patient's clock use the caches (every evaluation the engine
  makes is one); any other time is computed from scratch. A state loaded from bytes, or
  evaluated with another settings object, starts with empty caches.

``tests/property/test_hotpath.py`` checks that this equals the computation from scratch after
every event of random stories, with random arrival order, duplicates, refusals, state round
trips, time passing without events, and non-default settings.
"""

from __future__ import annotations

import operator
from functools import partial

from monitor.engine import detectors as d
from monitor.engine.baseline import baseline
from monitor.engine.differential import drug_hints, heat_stroke_hint
from monitor.engine.exposure import Withdrawal, active_antagonists, withdrawn_dopaminergics
from monitor.engine.ingest import dose_horizon_s
from monitor.engine.score import Evaluation, _priority
from monitor.engine.score import evaluate as evaluate_from_scratch
from monitor.engine.state import Cached, Memo, PatientState
from monitor.knowledge.iec import CRITERIA
from monitor.knowledge.thresholds import HOUR, ClinicalSettings

EPSILON_S = 1e-3
INF = float("inf")
_W = [points for _, points in CRITERIA]
Exposure = tuple[tuple[str, ...], list[Withdrawal], bool]  # antagonists, withdrawals, exposed


def evaluate(state: PatientState, now: float, cfg: ClinicalSettings) -> Evaluation:
    """The score at event time ``now``: equal to :func:`evaluate_from_scratch`, faster."""
    if state.clock is None or now < state.clock:
        return evaluate_from_scratch(state, now, cfg)
    memo = state.memo
    if memo.cfg is not cfg:
        memo.cached.clear()
        memo.cfg = cfg
    active, withdrawn, exposed = _exposure(state, memo, now, cfg)
    met = (
        exposed,
        _fever(state, memo, now, cfg),
        d.charted_present(state, "rigidity", now, cfg),
        _mental(state, memo, now, cfg),
        _ck(state, memo, now, cfg),
        _lability(state, memo, now, cfg),
        _hypermetabolism(state, memo, now, cfg),
        d.workup_negative(state, now),
    )
    mask = 0
    score = 0
    for i, flag in enumerate(met):
        if flag:
            mask |= 1 << i
            score += _W[i]
    diff = _drug_hints(state, memo, now, cfg, withdrawn) + _heat(state, memo, now, cfg)
    drugs = active + tuple(w.drug for w in withdrawn)
    return Evaluation(now, mask, score, _priority(score, exposed, cfg), diff, drugs)


def _get(memo: Memo, name: str, key: object, now: float) -> Cached | None:
    c = memo.cached.get(name)
    if c is not None and c.key == key and c.since <= now < c.until:
        return c
    return None


def _put(memo: Memo, name: str, key: object, now: float, until: float, value: object) -> None:
    memo.cached[name] = Cached(key, now, until - EPSILON_S, value)


def _after(now: float, *times: float) -> float:
    """The earliest of ``times`` at or after ``now`` (infinity when none is)."""
    return min((t for t in times if t >= now), default=INF)


def _exposure(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> Exposure:
    c = _get(memo, "exposure", memo.meds, now)
    if c is not None:
        value: Exposure = c.value
        return value
    active = tuple(a.drug for a in active_antagonists(state, now, cfg))
    withdrawn = withdrawn_dopaminergics(state, now, cfg)
    # Every time at which a drug could enter or leave: each dose's own horizon, and the 72 h
    # window after each dose and stop (a withdrawal counts from a stop or a cut dose).
    window = cfg.exposure_window_hours * HOUR
    times: list[float] = []
    for rec in state.meds.values():
        for dose in rec.doses:
            times += (dose[0] + dose_horizon_s(dose, cfg), dose[0] + window)
        if rec.discontinued_at is not None:
            times.append(rec.discontinued_at + window)
    value = (active, withdrawn, bool(active or withdrawn))
    _put(memo, "exposure", memo.meds, now, _after(now, *times), value)
    return value


def _fever(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> bool:
    """IEC 2 (:func:`monitor.engine.detectors.hyperthermia`, ``met`` only): the occasions in the
    hourly buckets of the window (cached: only temperatures above the threshold change them),
    else two consecutive raised readings (looked at every time: two readings)."""
    start = int((now - cfg.fever_window_hours * HOUR) // HOUR)
    cur = int(now // HOUR)
    key = (memo.elevated, start, cur)
    c = _get(memo, "fever", key, now)
    if c is None:
        n = 0
        first = last = 0.0
        for h, b in state.temps.items():
            if start <= h <= cur and b.n_elevated:
                if b.first_elevated is None or b.last_elevated is None:
                    continue
                first = b.first_elevated if not n else min(first, b.first_elevated)
                last = b.last_elevated if not n else max(last, b.last_elevated)
                n += b.n_elevated
        k = cfg.fever_occasions
        sep = cfg.fever_occasion_separation_minutes * 60.0
        span = last - first if n else 0.0
        _put(memo, "fever", key, now, INF, n >= k and (k < 2 or sep == 0 or span >= (k - 1) * sep))
        c = memo.cached["fever"]
    if c.value:
        return True
    if cfg.fever_occasions > 2:
        return False
    threshold = cfg.fever_threshold_c
    kept = state.latest.get("temperature")
    # consecutive_pair needs both readings raised: most of the time they are not.
    if kept is None or len(kept) < 2 or not (kept[0][1] > threshold and kept[1][1] > threshold):
        return False
    raised = partial(operator.lt, threshold)
    pair = d.consecutive_pair(state, "temperature", now, cfg.fever_window_hours, cfg, raised)
    return pair is not None


def _mental(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> bool:
    key = (memo.charted.get("mental_status"), memo.gcs)
    c = _get(memo, "mental", key, now)
    if c is not None:
        return bool(c.value)
    met = d.mental_status(state, now, cfg, False).met
    horizon = cfg.sign_horizon_hours * HOUR
    rec = state.charted.get("mental_status")
    times = [g[0] + horizon for g in state.gcs[-1:]]
    if rec is not None:
        times.append(rec[0] + horizon)
    _put(memo, "mental", key, now, _after(now, *times), met)
    return met


def _ck(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> bool:
    key = (memo.labs.get("ck"), memo.patient)
    c = _get(memo, "ck", key, now)
    if c is not None:
        return bool(c.value)
    met = d.ck_elevation(state, now, cfg, False).met
    window = cfg.ck_window_hours * HOUR
    until = _after(now, *(r[0] + window for r in state.labs.get("ck", ())))
    _put(memo, "ck", key, now, until, met)
    return met


def _drug_hints(
    state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings, withdrawn: list[Withdrawal]
) -> tuple[str, ...]:
    # The withdrawals come from the exposure cache (valid now); only whether one exists matters
    # to the names, as the WBC does only to the sepsis hint's reason (reasons are not kept).
    charted = memo.charted
    key = (
        memo.meds,
        charted.get("clonus"),
        charted.get("hyperreflexia"),
        memo.patient,
        bool(withdrawn),
    )
    c = _get(memo, "drug_hints", key, now)
    if c is not None:
        names: tuple[str, ...] = c.value
        return names
    names = tuple(name for name, _ in drug_hints(state, withdrawn, now, cfg))
    hours = (
        cfg.serotonergic_window_hours,
        cfg.antibiotic_window_hours,
        cfg.anaesthetic_window_hours,
    )
    times = [dose[0] + h * HOUR for rec in state.meds.values() for dose in rec.doses for h in hours]
    horizon = cfg.sign_horizon_hours * HOUR
    times += (
        state.charted[s][0] + horizon for s in ("clonus", "hyperreflexia") if s in state.charted
    )
    _put(memo, "drug_hints", key, now, _after(now, *times), names)
    return names


def _heat(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> tuple[str, ...]:
    key = (memo.temp_marks, memo.charted.get("rigidity"))
    c = _get(memo, "heat", key, now)
    if c is not None:
        names: tuple[str, ...] = c.value
        return names
    names = tuple(name for name, _ in heat_stroke_hint(state, now, cfg))
    span = (cfg.heat_stroke_window_hours + 1.0) * HOUR
    times = [h * HOUR + span for h, b in state.temps.items() if b.core_max is not None]
    _put(memo, "heat", key, now, _after(now, *times), names)
    return names


def _baseline(state: PatientState, code: str, cfg: ClinicalSettings) -> float:
    """The baseline's value (from the baseline's own cache, without building its record)."""
    cached = state.baseline_cache.get(code)
    return cached[0] if cached is not None else baseline(state, code, cfg).value


def _first_after(start: int, cur: int, edge: float) -> int:
    """The first hour bucket in [start, cur] whose start is after ``edge`` (cur + 1 if none),
    by the same comparison the detectors make."""
    h = start
    while h <= cur and not h * HOUR > edge:
        h += 1
    return h


def _since_load(memo: Memo, code: str, current: list[float] | None) -> float:
    """Readings of ``code`` added before the current hour since the memo began: it grows when,
    and only when, a reading lands in a completed hour."""
    return memo.readings.get(code, 0) - (current[0] if current is not None else 0.0)


def _lability(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> bool:
    """IEC 6 (:func:`monitor.engine.autonomic.sympathetic_lability`, ``met`` only)."""
    vital_window = cfg.vital_window_hours
    start = int((now - max(vital_window, cfg.lability_window_hours) * HOUR) // HOUR)
    cur = int(now // HOUR)
    r0 = _first_after(start, cur, now - vital_window * HOUR - HOUR)
    l0 = _first_after(start, cur, now - cfg.lability_window_hours * HOUR - HOUR)
    raised: set[int] = set()
    pair = swing = False
    above = 1.0 + cfg.bp_above_baseline_fraction
    for code, fluct in (
        ("systolic_bp", cfg.sbp_fluctuation_mmhg),
        ("diastolic_bp", cfg.dbp_fluctuation_mmhg),
    ):
        by_hour = state.vitals.get(code)
        if not by_hour:
            continue
        current = by_hour.get(cur)
        key = (start, r0, l0, cur, _since_load(memo, code, current))
        c = memo.cached.get(code)
        if c is None or c.key != key:  # a summary of completed hours depends on nothing else
            c = _completed_bp(memo, code, key, by_hour, now)
        n, candidates, top, hi, lo = c.value
        if not n and current is None:
            continue  # no hourly mean in the window: the sign is not looked at
        threshold = _baseline(state, code, cfg) * above
        if top >= threshold:
            raised.update(h for mean, h in candidates if mean >= threshold)
        if current is not None:
            mean = current[1] / current[0]
            if cur >= r0 and mean >= threshold:
                raised.add(cur)
            if cur >= l0:
                hi = mean if hi is None or mean > hi else hi
                lo = mean if lo is None or mean < lo else lo
        if hi is not None and lo is not None and hi - lo >= fluct:
            swing = True
        if pair or cfg.bp_raised_occasions > 2:
            continue
        kept = state.latest.get(code)
        # consecutive_pair needs two readings, both raised: most of the time they are not.
        if kept is not None and len(kept) == 2 and min(kept[0][1], kept[1][1]) >= threshold:
            at_least = partial(operator.le, threshold)
            found = d.consecutive_pair(state, code, now, vital_window, cfg, at_least)
            pair = found is not None
    signs = int(len(raised) >= cfg.bp_raised_occasions or pair) + int(swing)
    signs += d.charted_present(state, "diaphoresis", now, cfg)
    signs += d.charted_present(state, "incontinence", now, cfg)
    return signs >= cfg.lability_signs_required


def _completed_bp(
    memo: Memo,
    code: str,
    key: tuple[int, int, int, int, float],
    by_hour: dict[int, list[float]],
    now: float,
) -> Cached:
    """The completed hours of the window: how many have a mean; the (mean, hour) of those after
    the raised-pressure edge, with the highest of their means; and the highest and lowest mean
    after the fluctuation edge. Valid while no reading lands in them (the key says so)."""
    start, r0, l0, cur, _ = key
    means = [(b[1] / b[0], h) for h, b in by_hour.items() if start <= h < cur]
    candidates = [m for m in means if m[1] >= r0]
    top = max(candidates)[0] if candidates else -INF
    swing = [mean for mean, h in means if h >= l0]
    hi = max(swing) if swing else None
    lo = min(swing) if swing else None
    _put(memo, code, key, now, INF, (len(means), candidates, top, hi, lo))
    return memo.cached[code]


def _hypermetabolism(state: PatientState, memo: Memo, now: float, cfg: ClinicalSettings) -> bool:
    """IEC 7 (:func:`monitor.engine.autonomic.hypermetabolism`, ``met`` only)."""
    hr_by = state.vitals.get("heart_rate")
    rr_by = state.vitals.get("respiratory_rate")
    if not hr_by or not rr_by:
        return False
    start = int((now - cfg.vital_window_hours * HOUR) // HOUR)
    cur = int(now // HOUR)
    hr_now = hr_by.get(cur)
    rr_now = rr_by.get(cur)
    t_hr = _baseline(state, "heart_rate", cfg) * (1.0 + cfg.hr_above_baseline_fraction)
    t_rr = _baseline(state, "respiratory_rate", cfg) * (1.0 + cfg.rr_above_baseline_fraction)
    key = (
        start,
        cur,
        _since_load(memo, "heart_rate", hr_now),
        _since_load(memo, "respiratory_rate", rr_now),
        t_hr,
        t_rr,
    )
    c = memo.cached.get("hypermetabolism")
    if c is None or c.key != key:  # a summary of completed hours depends on nothing else
        # Whether a completed hour met both (with none, the criterion rests on the current one).
        hit = any(
            b[1] / b[0] >= t_hr and (rr := rr_by.get(h)) is not None and rr[1] / rr[0] >= t_rr
            for h, b in hr_by.items()
            if start <= h < cur
        )
        _put(memo, "hypermetabolism", key, now, INF, hit)
        c = memo.cached["hypermetabolism"]
    if c.value:
        return True
    if hr_now is None:
        return False
    return hr_now[1] / hr_now[0] >= t_hr and rr_now is not None and rr_now[1] / rr_now[0] >= t_rr

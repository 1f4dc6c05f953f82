"""Fold one validated event into the patient's summaries (no evaluation here).

Every function either rejects the event before touching the state, or applies it completely.
Conversions follow monitor.knowledge.units (docs/clinical-model.md#the-criteria).
"""

from __future__ import annotations

from monitor.contracts.events import (
    AssessmentEvent,
    LabEvent,
    MedicationEvent,
    PatientEvent,
    VitalEvent,
)
from monitor.engine.state import (
    Dose,
    LabVersion,
    MedRecord,
    PatientState,
    Reading,
    TempBucket,
)
from monitor.errors import EventRejected
from monitor.knowledge.drugs import DrugClass
from monitor.knowledge.thresholds import HOUR, ClinicalSettings, HotPath
from monitor.knowledge.units import (
    ImplausibleValue,
    check_lab,
    check_vital,
    fahrenheit_to_celsius,
    lab_to_canonical,
)

# Signs summarised in hourly buckets (IEC 6a, 6b, 7); SpO2 and MAP are validated but not scored.
BUCKETED = frozenset({"heart_rate", "respiratory_rate", "systolic_bp", "diastolic_bp"})
INF = float("inf")
MAX_LIST = 32  # labs, doses, GCS per code: a few a day, far more than any window needs
MAX_VERSIONS = 4 * MAX_LIST  # identified lab results remembered (corrections and withdrawals)
CORE_SITES = frozenset({"core", "rectal"})


def _now(state: PatientState, t: float) -> float:
    """The clock as it will be once this event is accepted (pruning horizons follow it)."""
    return t if state.clock is None or t > state.clock else state.clock


def _reject_implausible(exc: ImplausibleValue) -> EventRejected:
    return EventRejected("implausible_value", str(exc))


def _check_vital(code: str, value: float, cfg: ClinicalSettings, hot: HotPath) -> None:
    low, high = hot.vital_limits[code]
    if low <= value <= high:  # the common case, tested here before a call (false for NaN)
        return
    try:
        check_vital(code, value, cfg, hot.vital_limits)
    except ImplausibleValue as exc:
        raise _reject_implausible(exc) from None


def ingest_vital(
    state: PatientState, ev: VitalEvent, t: float, cfg: ClinicalSettings, hot: HotPath
) -> bool:
    """Add a vital sign; returns True when it may change a criterion at once (a fever reading)."""
    code = ev.code
    value = ev.value
    if code == "temperature":
        celsius = fahrenheit_to_celsius(value) if ev.unit == "[degF]" else value
        _check_vital(code, celsius, cfg, hot)
        site = ev.site or "oral"
        oral = celsius + hot.site_offsets[site]
        if oral < cfg.displaced_probe_below_c and _recent_fever(state, t, cfg):
            raise EventRejected(
                "displaced_probe",
                f"temperature {celsius:.1f} Cel minutes after a reading >= {cfg.fever_threshold_c} "
                "Cel: a displaced probe, not recovery (docs/clinical-model.md#the-criteria)",
            )
        _add_temperature(state, ev, t, celsius, oral, site, cfg)
        _add_latest(state, code, (t, oral, ev.event_id))
        return oral > cfg.fever_threshold_c
    _check_vital(code, value, cfg, hot)
    if code in BUCKETED:
        hour = int(t // HOUR)
        by_hour = state.vitals.get(code)
        if by_hour is None:
            by_hour = state.vitals[code] = {}
        bucket = by_hour.get(hour)
        if bucket is None:
            by_hour[hour] = [1.0, value]
            _prune_hours(state, code, by_hour, _now(state, t), cfg)
        else:
            bucket[0] += 1.0
            bucket[1] += value
        readings = state.memo.readings
        readings[code] = readings.get(code, 0) + 1
        _add_baseline(state, code, hour, value, cfg)
        if code in LATEST_KEPT:
            _add_latest(state, code, (t, value, ev.event_id))
    return False


LATEST_KEPT = frozenset({"systolic_bp", "diastolic_bp"})  # and temperature


def _add_latest(state: PatientState, code: str, reading: Reading) -> None:
    """Keep the two latest readings by (time, event id): the same two for any arrival order."""
    kept = state.latest.get(code)
    if kept is None:
        state.latest[code] = [reading]
        return
    order = (reading[0], reading[2])
    if len(kept) == 2:
        older, newer = kept
        if order <= (older[0], older[2]) or reading[2] in (older[2], newer[2]):
            return
        # The two latest by (time, event id): the newer one and this, or this and the newer.
        if order > (newer[0], newer[2]):
            kept[0], kept[1] = newer, reading
        else:
            kept[0] = reading
        return
    if kept[0][2] == reading[2]:
        return
    kept.append(reading)
    kept.sort(key=lambda r: (r[0], r[2]))


def _recent_fever(state: PatientState, t: float, cfg: ClinicalSettings) -> bool:
    hour = int(t // HOUR)
    span = cfg.displaced_probe_minutes * 60.0
    for h in range(hour - int(span // HOUR) - 1, hour + 1):
        b = state.temps.get(h)
        if b is not None and b.max_oral >= cfg.fever_threshold_c and t - span <= b.max_t <= t:
            return True
    return False


def _add_temperature(
    state: PatientState,
    ev: VitalEvent,
    t: float,
    celsius: float,
    oral: float,
    site: str,
    cfg: ClinicalSettings,
) -> None:
    hour = int(t // HOUR)
    b = state.temps.get(hour)
    elevated = oral > cfg.fever_threshold_c
    core = celsius if site in CORE_SITES else None
    memo = state.memo
    if b is None:
        b = state.temps[hour] = TempBucket(oral, t, ev.event_id, ev.value, ev.unit, site)
        longest = max(
            cfg.fever_window_hours, cfg.heat_stroke_window_hours, cfg.displaced_probe_minutes / 60
        )
        horizon = int(longest) + 2
        now_h = int(_now(state, t) // HOUR)
        for h in [h for h in state.temps if h < now_h - horizon]:
            gone = state.temps.pop(h)
            _archive(state, "temperature", h, gone.max_oral, now_h, cfg)
            if gone.first_elevated is not None:
                memo.temp_marks += 1  # the first fever may have been in it (heat-stroke hint)
    elif (oral, -t, ev.event_id) > (b.max_oral, -b.max_t, b.max_eid):
        # Highest, then earliest, then by id: the same readings in any order give the same max.
        b.max_oral, b.max_t, b.max_eid = oral, t, ev.event_id
        b.max_raw, b.max_unit, b.max_site = ev.value, ev.unit, site
    if elevated or (core is not None and core >= cfg.heat_stroke_core_c):
        memo.temp_marks += 1
    if elevated:
        memo.elevated += 1
        b.n_elevated += 1
        if b.first_elevated is None or t < b.first_elevated:
            b.first_elevated = t
        if b.last_elevated is None or t > b.last_elevated:
            b.last_elevated = t
    if core is not None and (b.core_max is None or core > b.core_max):
        b.core_max = core


def _prune_hours(
    state: PatientState,
    code: str,
    by_hour: dict[int, list[float]],
    now: float,
    cfg: ClinicalSettings,
) -> None:
    now_h = int(now // HOUR)
    keep_from = now_h - int(max(cfg.vital_window_hours, cfg.lability_window_hours)) - 1
    for h in [h for h in by_hour if h < keep_from]:
        count, total = by_hour.pop(h)
        _archive(state, code, h, total / count, now_h, cfg)


def _archive(
    state: PatientState, code: str, hour: int, value: float, now_h: int, cfg: ClinicalSettings
) -> None:
    """Keep one rounded value per hour of a sign that has left the criteria's windows, for the
    alert's trend series (``trend_hours``); display only, so a reading arriving after its hour
    was archived does not change it."""
    kept = state.trend.setdefault(code, {})
    # The first archiving of an hour stands: a late reading recreates its bucket, which is
    # pruned at once, and must not replace the hour's mean with its own value.
    kept.setdefault(hour, round(value, 1))
    oldest = now_h - int(cfg.trend_hours)
    for h in [h for h in kept if h < oldest]:
        del kept[h]


def _add_baseline(
    state: PatientState, code: str, hour: int, value: float, cfg: ClinicalSettings
) -> None:
    """Keep only the first ``baseline_hours`` hourly buckets of each sign (bounded, commutative)."""
    store = state.baseline.get(code)
    if store is None:
        state.baseline[code] = {hour: [1.0, value]}
        state.memo.baseline_first[code] = hour
        state.baseline_cache.pop(code, None)
        return
    bucket = store.get(hour)
    if bucket is not None:  # another reading in a baseline hour
        bucket[0] += 1.0
        bucket[1] += value
        state.baseline_cache.pop(code, None)
        return
    span = int(cfg.baseline_hours)
    # The first hour of the store, remembered (derived: min(store) after a state is loaded).
    firsts = state.memo.baseline_first
    first = firsts.get(code)
    if first is None:
        first = firsts[code] = min(store)
    if hour >= first + span:  # the common case once the baseline hours are over
        return
    store[hour] = [1.0, value]
    if hour < first:
        firsts[code] = hour
        for h in [h for h in store if h >= hour + span]:
            del store[h]
    state.baseline_cache.pop(code, None)


def ingest_lab(state: PatientState, ev: LabEvent, t: float, cfg: ClinicalSettings) -> None:
    """Store a lab result in canonical units; never capped (docs/clinical-model.md#the-criteria).

    A result with a ``result_id`` is one version of that result: the latest version counts
    (:func:`version_key`), so a correction replaces the value, and a version without a value
    (entered in error, or corrected to no number) withdraws it
    (docs/contracts.md#corrected-results)."""
    value = raw = None
    if ev.value is not None and ev.status != "entered-in-error":
        raw = ev.value
        value = lab_to_canonical(ev.code, raw, ev.unit)
        try:
            check_lab(ev.code, value)
        except ImplausibleValue as exc:
            raise _reject_implausible(exc) from None
    ref = lab_to_canonical(ev.code, ev.reference_high, ev.unit) if ev.reference_high else None
    now = _now(state, t)
    window = max(cfg.ck_window_hours, cfg.wbc_window_hours)  # the longest look-back at a lab
    horizon = now - window * HOUR - cfg.allowed_lateness_hours * HOUR
    if ev.result_id is not None:
        key = version_key(ev)
        current = state.lab_versions.get(ev.result_id)
        if current is not None and _key(current) > key:
            return  # a later version counts
        _withdraw(state, ev.result_id)
        counted = ev.event_id if value is not None else ""
        issued = None if ev.issued is None else key[0]  # stored as None: JSON has no -inf
        state.lab_versions[ev.result_id] = (t, issued, counted, ev.code, key[1], ev.event_id)
    if value is not None and raw is not None:
        results = state.labs.setdefault(ev.code, [])
        results.append((t, value, ref, ev.event_id, raw, ev.unit))
        results.sort(key=lambda r: (r[0], r[3]))
        while len(results) > 1 and (results[0][0] < horizon or len(results) > MAX_LIST):
            results.pop(0)
        versions = state.memo.labs
        versions[ev.code] = versions.get(ev.code, 0) + 1
    if state.lab_versions:
        _prune_versions(state, horizon)


_RANK = {"final": 0, "corrected": 1, "entered-in-error": 2}


def version_key(ev: LabEvent) -> tuple[float, int, str]:
    """The order of the versions of one result, the same whatever order they arrive in: issued
    (a version without it comes before every version with it), then the status (a correction
    after the final result, a withdrawal after both), then the event id."""
    issued = ev.issued.timestamp() if ev.issued is not None else -INF
    return issued, _RANK[ev.status], ev.event_id


def _key(v: LabVersion) -> tuple[float, int, str]:
    """:func:`version_key` of a kept version."""
    return (-INF if v[1] is None else v[1]), v[4], v[5]


def _withdraw(state: PatientState, result_id: str) -> None:
    """Take the counted version of ``result_id`` out of the lab results (if still there)."""
    current = state.lab_versions.get(result_id)
    if current is None or not current[2]:
        return
    results = state.labs.get(current[3])
    if results is not None:
        results[:] = [r for r in results if r[3] != current[2]]
        if not results:
            del state.labs[current[3]]
        versions = state.memo.labs
        versions[current[3]] = versions.get(current[3], 0) + 1


def _prune_versions(state: PatientState, horizon: float) -> None:
    """Forget versions of results older than any lab window plus the allowed lateness (a later
    version of one would be too late itself); beyond MAX_VERSIONS, forget the oldest of those
    whose value is not among the kept results (a version that counts is never forgotten)."""
    kept = state.lab_versions
    if len(kept) <= MAX_VERSIONS and min(v[0] for v in kept.values()) >= horizon:
        return
    recent = {rid: v for rid, v in kept.items() if v[0] >= horizon}
    excess = len(recent) - MAX_VERSIONS
    if excess > 0:
        counted = {r[3] for rs in state.labs.values() for r in rs}
        spare = sorted((v[0], rid) for rid, v in recent.items() if v[2] not in counted)
        for _, rid in spare[:excess]:
            del recent[rid]
    state.lab_versions = recent


def ingest_medication(
    state: PatientState, ev: MedicationEvent, t: float, cfg: ClinicalSettings
) -> str | None:
    """Record doses and stops of catalogue drugs; other drugs are accepted and not kept.

    Returns the record's drug text when neither its name nor its codes are in the catalogue, so
    the caller can report what the catalogue is missing (never silently ignored)."""
    codes = tuple((c.system, c.code) for c in ev.codes or ())
    mg = ev.dose if ev.dose is not None and (ev.dose_unit or "mg").lower() == "mg" else None
    matches = cfg.drugs.match(ev.drug, codes, mg)
    if not matches:
        return ev.drug or ",".join(f"{s}:{c}" for s, c in codes)
    state.memo.meds += 1
    for match in matches:
        if match.drug_class == DrugClass.OTHER:
            continue
        rec = state.meds.get(match.name)
        if rec is None:
            rec = state.meds[match.name] = MedRecord(drug_class=match.drug_class.value)
        if ev.action == "discontinued":
            if rec.discontinued_at is None or t > rec.discontinued_at:
                rec.discontinued_at = t
                rec.discontinued_eid = ev.event_id
            continue
        rec.doses.append((t, ev.dose, ev.route, match.product, ev.event_id))
        rec.doses.sort(key=lambda d: (d[0], d[4]))
        _prune_doses(rec, _now(state, t), cfg)
    return None


def dose_horizon_s(dose: Dose, cfg: ClinicalSettings) -> float:
    """How long after it a dose counts as exposure: 72 h (Gurrera 2011), or a long-acting
    product's own horizon (its labelled interval and pharmacokinetics; catalogue)."""
    if dose[3] is None:
        return cfg.exposure_window_hours * HOUR
    return cfg.drugs.horizon_days(dose[3], cfg.depot_exposure_days) * 24.0 * HOUR


def _prune_doses(rec: MedRecord, now: float, cfg: ClinicalSettings) -> None:
    # A dose is kept while it still counts (its own horizon) and for twice the 72 h window (a
    # dose cut compares recent doses), plus the allowed lateness; always the two latest.
    late = cfg.allowed_lateness_hours * HOUR
    window = cfg.exposure_window_hours * 2.0 * HOUR
    while len(rec.doses) > 2 and (
        len(rec.doses) > MAX_LIST
        or rec.doses[0][0] + max(dose_horizon_s(rec.doses[0], cfg), window) + late < now
    ):
        rec.doses.pop(0)


def ingest_assessment(
    state: PatientState, ev: AssessmentEvent, t: float, cfg: ClinicalSettings
) -> None:
    """Keep the latest charting of each sign (by event time) and the first 'present'."""
    if ev.code == "gcs":
        assert ev.value is not None  # guaranteed by the contract
        state.gcs.append((t, int(ev.value), ev.event_id))
        state.gcs.sort(key=lambda g: (g[0], g[2]))
        horizon = _now(state, t) - (cfg.gcs_lookback_hours + cfg.allowed_lateness_hours) * HOUR
        while len(state.gcs) > 1 and (state.gcs[0][0] < horizon or len(state.gcs) > MAX_LIST):
            state.gcs.pop(0)
        state.memo.gcs += 1
        return
    versions = state.memo.charted
    versions[ev.code] = versions.get(ev.code, 0) + 1
    present = bool(ev.present)
    current = state.charted.get(ev.code)
    if current is None or (t, ev.event_id) > (current[0], current[2]):
        state.charted[ev.code] = (t, present, ev.event_id)
    if present:
        first = state.first_present.get(ev.code)
        if first is None or t < first:
            state.first_present[ev.code] = t


def ingest_patient(state: PatientState, ev: PatientEvent, t: float) -> None:
    """Demographics, location and history; the latest location by event time wins."""
    state.memo.patient += 1
    if ev.sex is not None:
        state.sex = ev.sex
    if ev.location is not None and t >= state.location_t:
        state.location = ev.location
        state.location_t = t
    if ev.history is not None:
        state.history.update(h.strip().lower() for h in ev.history)
    if ev.action == "discharge":
        state.discharged_at = t
    elif ev.action == "admit" and state.discharged_at is not None and t > state.discharged_at:
        state.discharged_at = None

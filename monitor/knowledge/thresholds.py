"""Every clinical threshold of nms-monitor in one frozen settings object.

Each field cites its source (docs/clinical-model.md, docs/references.md). Defaults are the
documented ones; every one is configurable (pydantic-settings reads ``NMS_CLINICAL__<FIELD>``
at the entry point, never at import time).

Sources (abbreviated in the field descriptions):
- IEC: Gurrera RJ et al., J Clin Psychiatry 2011;72(9):1222-1228 (International Expert Consensus).
- IEC-val: Gurrera RJ et al., J Clin Psychopharmacol 2017;37(1):67-71 (cutoff 74, unverified).
- Caroff: Caroff & Mann 1993 (depot exposure 2-4 weeks). Adityanjee 1999 (depot 8 weeks).
- Mayo: Mayo Clinic Labs adult CK reference (male 308 U/L, female 192 U/L).
- Plaus: MIT-LCP mimic-code / ricu data-cleaning limits (docs/clinical-model.md#the-criteria).
- Hunter: Dunkley EJ et al., QJM 2003 (serotonin toxicity criteria),
  docs/clinical-model.md#differential-hints.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from monitor.errors import CatalogueError
from monitor.knowledge.drugs import Matcher, with_site

HOUR = 3600.0


class ClinicalSettings(BaseModel):
    """Frozen thresholds for the detectors, score, priorities and alert lifecycle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- IEC criterion 1: exposure --------------------------------------------------------
    exposure_window_hours: float = Field(
        72.0, gt=0, description="IEC item 1: antagonist given or agonist withdrawn within 72 h."
    )
    depot_exposure_days: float = Field(
        28.0,
        gt=0,
        description="A long-acting injectable the catalogue has no product for: exposure lasts "
        "weeks (Caroff 2-4 weeks; Adityanjee 8 weeks). Catalogued products use their own "
        "horizon (lai_horizon_days).",
    )
    drug_catalogue_file: str | None = Field(
        None,
        description="A site's own drug names, codes and long-acting horizons (TOML, the shape of "
        "monitor/knowledge/data/drugs.toml), added to the bundled catalogue; checked at start.",
    )
    lai_horizon_days: dict[str, float] = Field(
        default_factory=dict,
        description="Exposure horizon in days per long-acting product id, overriding the "
        "catalogue's (interval + 2 x half-life from each product's label), e.g. "
        '{"paliperidone_palmitate_3_monthly": 120}.',
    )
    rapid_escalation_multiple: float = Field(
        2.0,
        gt=1,
        description="Risk factor 'rapid dose escalation' (docs/clinical-model.md#exposure; "
        "Keck 1989): the "
        "latest dose in the exposure window is at least this multiple of the window's first "
        "(a doubling; the reference names the risk factor without a figure).",
    )
    dopaminergic_dose_cut_fraction: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="A dopaminergic dose at or below this fraction of the previous dose counts as "
        "withdrawal ('abrupt stop or dose cut', docs/clinical-model.md#exposure).",
    )

    # --- IEC criterion 2: hyperthermia ------------------------------------------------------
    fever_threshold_c: float = Field(
        38.0, description="IEC item 2: > 38.0 C (100.4 F) oral; strictly greater."
    )
    fever_occasions: int = Field(2, ge=1, description="IEC item 2: on at least 2 occasions.")
    fever_occasion_separation_minutes: float = Field(
        30.0,
        ge=0,
        description="Two readings count as separate occasions when at least this far apart, so a "
        "burst of monitor numerics from one probe episode is one occasion (alarm-fatigue rule, "
        "docs/clinical-model.md#the-alert-lifecycle). 0 = any two readings.",
    )
    fever_window_hours: float = Field(
        24.0, gt=0, description="Look-back for the fever occasions (IEC gives none; 24 h default)."
    )
    consecutive_max_gap_hours: float = Field(
        48.0,
        gt=0,
        description="Two consecutive charted readings (nothing charted between them) up to this "
        "far apart are two occasions, as a clinician reads a ward chart. Ward observations are "
        "12-hourly at the least for a NEWS2 score of 0 and 4-6-hourly for 1-4 (Royal College of "
        "Physicians, NEWS2 2017), sparser in practice, and a missed round doubles the gap. The "
        "later reading must still be inside the criterion's own window.",
    )
    temp_offset_oral_c: float = Field(0.0, description="Oral is the IEC reference site.")
    temp_offset_axillary_c: float = Field(
        0.5, description="Added to axillary readings: axillary reads 0.3-0.6 C below oral (ref 4)."
    )
    temp_offset_tympanic_c: float = Field(
        -0.5, description="Added to tympanic readings: tympanic reads 0.3-0.6 C above oral (ref 4)."
    )
    temp_offset_temporal_c: float = Field(
        0.0, description="Temporal artery reading treated as oral-equivalent (no figure in ref 4)."
    )
    temp_offset_rectal_c: float = Field(
        -0.5, description="Added to rectal readings: core reads 0.3-0.6 C above oral (ref 4)."
    )
    temp_offset_core_c: float = Field(
        -0.5, description="Added to core readings (bladder, oesophageal, PA): 0.3-0.6 C above oral."
    )

    # --- IEC criteria 3, 4, 6c, 6d: assessments ---------------------------------------------
    sign_horizon_hours: float = Field(
        168.0,
        gt=0,
        description="A sign charted present (IEC items 3, 4, 6c, 6d, and a GCS) counts until it is "
        "charted absent or this long after the charting. Wards chart by exception and case "
        "reports record a sign when it appears and when it changes; NMS lasts days (mean recovery "
        "7-10 days after the drug is stopped, most within a week: DSM-5-TR, citing Caroff & Mann "
        "1988). "
        "Default: one week.",
    )
    sign_stale_hours: float = Field(
        24.0,
        gt=0,
        description="A criterion resting only on charting older than this says so in the alert and "
        "recommends re-examination (one day: every nursing shift of it has passed).",
    )
    gcs_abnormal_at_or_below: int = Field(
        13, ge=3, le=15, description="IEC item 4: a GCS at or below this is reduced consciousness."
    )
    gcs_drop_points: int = Field(
        2,
        ge=1,
        le=12,
        description="IEC item 4: a fall of this many GCS points from the best GCS "
        "of the look-back is a change in level of consciousness.",
    )
    gcs_lookback_hours: float = Field(72.0, gt=0, description="Look-back for the best prior GCS.")

    # --- IEC criterion 5: CK ----------------------------------------------------------------
    ck_uln_multiple: float = Field(4.0, gt=0, description="IEC item 5: CK >= 4 x ULN.")
    ck_uln_male_u_l: float = Field(308.0, gt=0, description="Mayo adult male CK ULN (U/L).")
    ck_uln_female_u_l: float = Field(192.0, gt=0, description="Mayo adult female CK ULN (U/L).")
    ck_window_hours: float = Field(
        72.0, gt=0, description="A CK result counts for this long (CK peaks ~day 2 after fever)."
    )
    wbc_leukocytosis_10e9_l: float = Field(
        12.0,
        gt=0,
        description="Leukocytosis > 12 x 10^9/L (SIRS; docs/clinical-model.md#the-criteria).",
    )
    wbc_window_hours: float = Field(
        72.0,
        gt=0,
        description="A WBC result is quoted with the sepsis hint for this long: a count from the "
        "same infection episode as the antibiotics (antibiotic_window_hours, 72 h). Before this "
        "setting the CK window was used, also 72 h.",
    )

    # --- IEC criteria 6a, 6b, 7: vital-sign criteria and the baseline ----------------------
    bp_above_baseline_fraction: float = Field(
        0.25, gt=0, description="IEC 6a: SBP or DBP >= 25 % above baseline."
    )
    bp_raised_occasions: int = Field(
        2,
        ge=1,
        le=4,
        description="IEC 6a needs the raised pressure on this many occasions (hourly means, or "
        "consecutive charted readings): the IEC's 'two occasions' rule for temperature applied to "
        "blood pressure, as the alarm-fatigue rules ask (repeated observations; "
        "docs/clinical-model.md#the-alert-lifecycle). One charted reading of a normal patient is "
        "often 25 % above a baseline.",
    )
    sbp_fluctuation_mmhg: float = Field(25.0, gt=0, description="IEC 6b: >= 25 mmHg systolic.")
    dbp_fluctuation_mmhg: float = Field(20.0, gt=0, description="IEC 6b: >= 20 mmHg diastolic.")
    lability_window_hours: float = Field(24.0, gt=0, description="IEC 6b: within 24 h.")
    lability_signs_required: int = Field(2, ge=1, le=4, description="IEC 6: at least 2 of 4.")
    hr_above_baseline_fraction: float = Field(
        0.25, gt=0, description="IEC 7: HR >= 25 % above baseline."
    )
    rr_above_baseline_fraction: float = Field(
        0.50, gt=0, description="IEC 7: RR >= 50 % above baseline."
    )
    vital_window_hours: float = Field(
        24.0, gt=0, description="Look-back for IEC 6a and 7 (an hourly mean above threshold)."
    )
    baseline_hours: float = Field(
        12.0,
        gt=0,
        description="Baseline = median of the hourly means over the first hours of the patient's "
        "readings of that sign (IEC defines no baseline; docs/clinical-model.md#the-criteria).",
    )
    baseline_min_readings: int = Field(
        3, ge=1, description="Fewer readings than this in the baseline period: population normal."
    )
    baseline_hr_normal: float = Field(80.0, gt=0, description="Population HR baseline (/min).")
    baseline_rr_normal: float = Field(16.0, gt=0, description="Population RR baseline (/min).")
    baseline_sbp_normal: float = Field(120.0, gt=0, description="Population SBP baseline (mmHg).")
    baseline_dbp_normal: float = Field(75.0, gt=0, description="Population DBP baseline (mmHg).")
    baseline_hr_max: float = Field(
        100.0,
        gt=0,
        description="A patient baseline above the upper limit of normal is clamped to it, so a "
        "patient admitted already tachycardic (e.g. in evolving NMS) is still scored.",
    )
    baseline_rr_max: float = Field(20.0, gt=0, description="Upper normal RR for the clamp.")
    baseline_sbp_max: float = Field(140.0, gt=0, description="Upper normal SBP for the clamp.")
    baseline_dbp_max: float = Field(90.0, gt=0, description="Upper normal DBP for the clamp.")

    # --- Plausibility (docs/clinical-model.md#the-criteria) --------------------------------
    temp_min_c: float = Field(25.0, description="Plaus: temperature 25-45 C.")
    temp_max_c: float = Field(45.0, description="Plaus: temperature 25-45 C.")
    hr_min: float = Field(1.0, description="Plaus: HR 1-299 (0 is lead-off).")
    hr_max: float = Field(299.0, description="Plaus: HR 1-299.")
    sbp_min: float = Field(1.0, description="Plaus: SBP 1-399.")
    sbp_max: float = Field(399.0, description="Plaus: SBP 1-399.")
    dbp_min: float = Field(1.0, description="Plaus: DBP 1-299.")
    dbp_max: float = Field(299.0, description="Plaus: DBP 1-299.")
    map_min: float = Field(30.0, description="Plaus: MAP 30-200.")
    map_max: float = Field(200.0, description="Plaus: MAP 30-200.")
    rr_min: float = Field(1.0, description="Plaus: RR 1-79.")
    rr_max: float = Field(79.0, description="Plaus: RR 1-79.")
    spo2_min: float = Field(1.0, description="Plaus: SpO2 1-100.")
    spo2_max: float = Field(100.0, description="Plaus: SpO2 1-100.")
    displaced_probe_below_c: float = Field(
        34.0, description="Ref 5: < 34 C minutes after >= 38 C is a displaced probe."
    )
    displaced_probe_minutes: float = Field(
        60.0, gt=0, description="How recent the >= 38 C reading must be for the probe rule."
    )

    # --- Score and priorities (IEC; IEC 60601-1-8 words) --------------------------------------
    cutoff: int = Field(
        74, ge=0, le=100, description="IEC-val: diagnostic cutoff (74, unverified)."
    )
    priority_low: int = Field(
        31,
        ge=0,
        le=100,
        description="Score for a 'low' alert: above 30, so exposure plus one non-specific 10-point "
        "criterion is not enough. A CK rise alone is rhabdomyolysis, not NMS (13.8 % of "
        "psychiatric admissions with a CK reach 4 x ULN without NMS: Scott 2024), and one day of "
        "charted blood pressures often swings 25 mmHg. The operating curve of the simulated ward "
        "shows false low alerts falling from 4.4 to 1.9 per 100 patient-days between 30 and 31 "
        "with no loss of sensitivity or lead time (docs/evaluation.md).",
    )
    priority_medium: int = Field(45, ge=0, le=100, description="Score for a 'medium' alert.")

    # --- Differential hints (docs/clinical-model.md#differential-hints) --------------------
    serotonergic_window_hours: float = Field(24.0, gt=0, description="Hunter: drug within ~24 h.")
    anaesthetic_window_hours: float = Field(
        24.0, gt=0, description="Malignant hyperthermia: onset in theatre or recovery."
    )
    antibiotic_window_hours: float = Field(
        72.0, gt=0, description="Antibiotics as an infection proxy."
    )
    heat_stroke_core_c: float = Field(40.0, description="Heat stroke: core > 40 C, no prodrome.")
    heat_stroke_window_hours: float = Field(
        24.0,
        gt=0,
        description="A core temperature at or above heat_stroke_core_c suggests heat stroke for "
        "this long (hourly buckets, so up to one hour more): heat stroke is abrupt, and a day "
        "matches the fever look-back (fever_window_hours), which this window used to borrow.",
    )
    mh_end_tidal_co2_mmhg: float = Field(
        55.0,
        gt=0,
        description="Malignant hyperthermia: end-tidal CO2 > 55 mmHg "
        "(docs/clinical-model.md#differential-hints), the "
        "figure the hint asks the clinician to check (the stream carries no capnography).",
    )

    # --- Alert lifecycle (alarm fatigue; docs/clinical-model.md#the-alert-lifecycle) --------
    deescalate_after_hours: float = Field(
        6.0, ge=0, description="A lower priority must persist this long before 'deescalated'."
    )
    resolve_after_hours: float = Field(
        24.0, ge=0, description="Criteria must stay below 'low' this long before 'resolved'."
    )
    update_min_interval_minutes: float = Field(
        60.0, ge=0, description="At most one 'updated' transition per alert in this interval."
    )
    snooze_default_minutes: float = Field(60.0, gt=0, description="Snooze without 'until'.")
    snooze_max_hours: float = Field(24.0, gt=0, description="A longer snooze is shortened to this.")

    # --- Event time ------------------------------------------------------------------------
    allowed_lateness_hours: float = Field(
        48.0, ge=0, description="Older events than this behind the patient's clock are rejected."
    )
    vital_evaluation_interval_seconds: float = Field(
        300.0,
        ge=0,
        description="Vital signs alone re-evaluate the criteria at most once per interval of event "
        "time (aligned to the interval; the vital criteria use hourly means, so 5 min loses "
        "nothing); a fever reading, every other event, and tick() re-evaluate at once.",
    )
    trend_hours: float = Field(
        72.0,
        gt=0,
        le=168,
        description="Hours of hourly vital-sign and CK history each alert transition carries for "
        "the dashboard's trend lines (display only: no criterion reads it).",
    )
    inactivity_eviction_days: float = Field(
        14.0, gt=0, description="State with no event for this long may be evicted."
    )
    vital_dedupe_memory: int = Field(
        128,
        ge=0,
        le=4096,
        description="How many recent vital-sign event ids are remembered for duplicate "
        "suppression (other kinds are remembered for the whole allowed lateness).",
    )

    _drugs: Matcher = PrivateAttr()

    @model_validator(mode="after")
    def _priorities_ordered(self) -> ClinicalSettings:
        if not self.priority_low <= self.priority_medium <= self.cutoff:
            raise ValueError("priority thresholds must satisfy low <= medium <= cutoff")
        return self

    @model_validator(mode="after")
    def _catalogue(self) -> ClinicalSettings:
        # Built (and a site file validated) once, when the settings are read at the entry point.
        horizons = tuple(sorted(self.lai_horizon_days.items()))
        try:
            self._drugs = with_site(self.drug_catalogue_file, horizons)
        except CatalogueError as exc:
            raise ValueError(f"drug catalogue: {exc}") from None
        return self

    @property
    def drugs(self) -> Matcher:
        """The drug catalogue: the bundled one, with the site's additions and overrides."""
        return self._drugs


@dataclass(frozen=True, slots=True)
class HotPath:
    """Constants derived once from the settings for the per-event code (plain attribute access)."""

    vital_limits: dict[str, tuple[float, float]]
    site_offsets: dict[str, float]
    lateness_s: float
    eval_interval_s: float


_HOT: dict[int, tuple[ClinicalSettings, HotPath]] = {}


def hot_path(cfg: ClinicalSettings) -> HotPath:
    """The derived constants of ``cfg`` (cached; the settings object is immutable)."""
    cached = _HOT.get(id(cfg))
    if cached is not None and cached[0] is cfg:
        return cached[1]
    hot = HotPath(
        vital_limits={
            "temperature": (cfg.temp_min_c, cfg.temp_max_c),
            "heart_rate": (cfg.hr_min, cfg.hr_max),
            "systolic_bp": (cfg.sbp_min, cfg.sbp_max),
            "diastolic_bp": (cfg.dbp_min, cfg.dbp_max),
            "mean_bp": (cfg.map_min, cfg.map_max),
            "respiratory_rate": (cfg.rr_min, cfg.rr_max),
            "spo2": (cfg.spo2_min, cfg.spo2_max),
        },
        site_offsets={
            "oral": cfg.temp_offset_oral_c,
            "axillary": cfg.temp_offset_axillary_c,
            "tympanic": cfg.temp_offset_tympanic_c,
            "temporal": cfg.temp_offset_temporal_c,
            "rectal": cfg.temp_offset_rectal_c,
            "core": cfg.temp_offset_core_c,
        },
        lateness_s=cfg.allowed_lateness_hours * HOUR,
        eval_interval_s=cfg.vital_evaluation_interval_seconds,
    )
    if len(_HOT) > 64:  # settings objects are few; never let the cache grow without bound
        _HOT.clear()
    _HOT[id(cfg)] = (cfg, hot)
    return hot

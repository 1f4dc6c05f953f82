"""PNG plots of an evaluation (matplotlib, headless Agg backend).

Each function writes one file and returns what it drew, so tests can check the picture against
the data (for the timeline: every alert transition, by its sequence number).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in CI

import matplotlib.dates as mdates
import matplotlib.pyplot as plt

from monitor.contracts.events import (
    AssessmentEvent,
    Event,
    LabEvent,
    MedicationEvent,
    VitalEvent,
)
from monitor.evaluation.sweep import SweepRow
from monitor.evaluation.truth import Mark, PatientTruth, Sample
from monitor.knowledge.drugs import ANTAGONIST_CLASSES, DrugClass, match_drug

PRIORITY_COLOUR = {"low": "#d4a017", "medium": "#e67e22", "high": "#c0392b"}
TRANSITION_STYLE = {"resolved": ":", "deescalated": "--", "updated": "-."}


def _dt(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.UTC)


@dataclass(frozen=True, slots=True)
class TimelineDrawn:
    path: Path
    transitions: list[str]  # "alert_id#sequence" of every transition line on the page


def timeline(
    path: Path,
    truth: PatientTruth,
    events: Sequence[Event],
    marks: Sequence[Mark],
    samples: Sequence[Sample],
    thresholds: tuple[int, int, int],
) -> TimelineDrawn:
    """One patient on one page: vitals, CK, doses and charted signs, score, alert transitions."""
    fig, axes = plt.subplots(
        6, 1, figsize=(12, 13), sharex=True, gridspec_kw={"height_ratios": [2, 2, 2, 1.5, 1.6, 2]}
    )
    temp, hr, bp, ck, meds, score = axes
    series: dict[str, list[tuple[dt.datetime, float]]] = {}
    signs: dict[str, list[tuple[dt.datetime, bool]]] = {}
    ck_points: list[tuple[dt.datetime, float, float | None]] = []
    doses: list[tuple[dt.datetime, str, str]] = []
    for ev in events:
        when = _dt(ev.time.timestamp())
        if isinstance(ev, VitalEvent):
            value = (ev.value - 32) * 5 / 9 if ev.unit == "[degF]" else ev.value
            series.setdefault(ev.code, []).append((when, value))
        elif isinstance(ev, LabEvent) and ev.code == "ck" and ev.value is not None:
            factor = 60.0 if ev.unit == "ukat/L" else 1.0
            ref = ev.reference_high * factor if ev.reference_high else None
            ck_points.append((when, ev.value * factor, ref))
        elif isinstance(ev, AssessmentEvent) and ev.present is not None:
            signs.setdefault(ev.code, []).append((when, ev.present))
        elif isinstance(ev, MedicationEvent):
            name = ev.drug or ", ".join(f"{c.system} {c.code}" for c in ev.codes or ())
            doses.append((when, name, ev.action))
    _plot(temp, series, ("temperature",), "Temperature (°C, as measured)")
    temp.axhline(38.0, color="red", lw=0.8, ls="--")
    _plot(hr, series, ("heart_rate", "respiratory_rate"), "HR, RR (/min)")
    _plot(bp, series, ("systolic_bp", "diastolic_bp"), "BP (mmHg)")
    if ck_points:
        ck.semilogy([p[0] for p in ck_points], [p[1] for p in ck_points], "o-", ms=3, label="CK")
        ref = next((p[2] for p in ck_points if p[2]), 192.0 if truth else None)
        if ref:
            ck.axhline(4 * ref, color="red", lw=0.8, ls="--", label="4 x ULN")
        ck.legend(loc="upper left", fontsize=7)
    ck.set_ylabel("CK (U/L)")
    _doses_and_signs(meds, doses, signs)
    _score(score, samples, thresholds)
    _transitions(axes, marks)
    # What the page shows, read back from the figure itself (not from the input).
    drawn = [
        str(line.get_gid()).removeprefix("transition:")
        for line in axes[-1].lines
        if str(line.get_gid()).startswith("transition:")
    ]
    _truth(axes, truth)
    # matplotlib.dates ships no type hints for its formatters.
    formatter = mdates.DateFormatter("%d %b\n%H:%M")  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_formatter(formatter)
    fig.suptitle(
        f"{truth.patient_id}: {truth.condition.replace('_', ' ')}"
        f"{' (positive)' if truth.positive else ''}; {len(marks)} alert transitions",
        fontsize=12,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return TimelineDrawn(path, drawn)


def _plot(
    ax: Any, series: dict[str, list[tuple[dt.datetime, float]]], codes: tuple[str, ...], label: str
) -> None:
    for code in codes:
        pts = series.get(code, [])
        if pts:
            ax.plot(
                [p[0] for p in pts], [p[1] for p in pts], ".", ms=2, label=code.replace("_", " ")
            )
    ax.set_ylabel(label, fontsize=8)
    if any(series.get(c) for c in codes):
        ax.legend(loc="upper left", fontsize=7, markerscale=4)


def _doses_and_signs(
    ax: Any,
    doses: list[tuple[dt.datetime, str, str]],
    signs: dict[str, list[tuple[dt.datetime, bool]]],
) -> None:
    rows: list[str] = []
    for when, drug, action in doses:
        found = match_drug(drug)
        classes = {m.drug_class for m in found}
        colour = (
            "red"
            if classes & ANTAGONIST_CLASSES
            else "blue"
            if DrugClass.DOPAMINERGIC in classes
            else "grey"
        )
        name = drug[:28]
        if name not in rows:
            rows.append(name)
        ax.plot(
            [when],
            [rows.index(name)],
            "x" if action == "discontinued" else "|",
            color=colour,
            ms=10 if action == "discontinued" else 8,
        )
    for code, pts in sorted(signs.items()):
        present = [p[0] for p in pts if p[1]]
        if not present:
            continue
        label = f"{code} charted"
        rows.append(label)
        ax.plot(present, [rows.index(label)] * len(present), "s", color="purple", ms=3)
    ax.set_yticks(range(len(rows)), rows, fontsize=6)
    ax.set_ylim(-0.5, max(0.5, len(rows) - 0.5))
    ax.set_ylabel("doses / signs", fontsize=8)


def _score(ax: Any, samples: Sequence[Sample], thresholds: tuple[int, int, int]) -> None:
    if samples:
        pts = sorted(samples, key=lambda s: s.time)
        ax.step(
            [_dt(s.time) for s in pts],
            [s.score for s in pts],
            where="post",
            color="black",
            lw=1,
            label="IEC score (items 1-7)",
        )
    for level, value in zip(("low", "medium", "high"), thresholds, strict=True):
        ax.axhline(
            value, color=PRIORITY_COLOUR[level], lw=0.8, ls="--", label=f"{level} >= {value}"
        )
    ax.set_ylim(0, 100)
    ax.set_ylabel("score", fontsize=8)
    ax.legend(loc="upper left", fontsize=7)


def _transitions(axes: Sequence[Any], marks: Sequence[Mark]) -> None:
    drawn: list[Mark] = []
    for m in sorted(marks, key=lambda m: (m.time, m.sequence)):
        when = _dt(m.time)
        colour = PRIORITY_COLOUR[m.priority]
        style = TRANSITION_STYLE.get(m.transition, "-")
        for ax in axes:
            ax.axvline(
                when, color=colour, lw=1.2, ls=style, gid=f"transition:{m.alert_id}#{m.sequence}"
            )
        axes[-1].annotate(
            f"{m.transition} {m.priority}",
            (when, 96 - 9 * (len(drawn) % 5)),
            fontsize=7,
            color=colour,
            rotation=0,
        )
        drawn.append(m)


def _truth(axes: Sequence[Any], truth: PatientTruth) -> None:
    for name, t in sorted(truth.features.items(), key=lambda kv: kv[1]):
        axes[0].annotate(
            f"{name}",
            (_dt(t), 0.02),
            xycoords=("data", "axes fraction"),
            fontsize=6,
            color="green",
            rotation=90,
        )
        axes[0].axvline(_dt(t), color="green", lw=0.6, ls=":")
    if truth.established_at is not None:
        for ax in axes:
            ax.axvline(_dt(truth.established_at), color="green", lw=2.0, alpha=0.4)


def lead_time_histogram(path: Path, leads: dict[str, list[float]], target_h: float) -> int:
    """Histogram of lead times (hours before established) for medium and high; returns n drawn."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    values = [v for p in ("medium", "high") for v in leads.get(p, [])]
    lo = min([*values, -24.0])
    hi = max([*values, 72.0])
    bins = [lo + k * 6 for k in range(int((hi - lo) // 6) + 2)]
    for p in ("medium", "high"):
        if leads.get(p):
            ax.hist(
                leads[p],
                bins=bins,
                alpha=0.6,
                color=PRIORITY_COLOUR[p],
                label=f"first {p} (n={len(leads[p])})",
            )
    ax.axvline(target_h, color="black", ls="--", lw=1, label=f"target {target_h:g} h")
    ax.axvline(0, color="grey", lw=1)
    ax.set_xlabel("lead time: hours before the syndrome is fully established (positive = early)")
    ax.set_ylabel("patients")
    ax.legend()
    ax.set_title("Lead time of the first alert")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return len(values)


def operating_curve(path: Path, rows: Sequence[SweepRow], marked: dict[str, int]) -> int:
    """Sensitivity against false alerts per 100 patient-days across thresholds; the configured
    thresholds are marked. Returns the number of points drawn."""
    pts = [r for r in rows if r.sensitivity is not None]
    fig, (ax, lead) = plt.subplots(1, 2, figsize=(13, 5))
    ax.plot(
        [r.false_per_100_patient_days for r in pts],
        [100 * (r.sensitivity or 0) for r in pts],
        "o-",
        ms=3,
        color="black",
    )
    for r in pts:
        if r.threshold % 5 == 0:
            ax.annotate(
                str(r.threshold),
                (r.false_per_100_patient_days, 100 * (r.sensitivity or 0)),
                fontsize=7,
                xytext=(3, -8),
                textcoords="offset points",
            )
    for name, value in marked.items():
        row = next((r for r in pts if r.threshold == value), None)
        if row is not None:
            ax.plot(
                [row.false_per_100_patient_days],
                [100 * (row.sensitivity or 0)],
                "o",
                ms=10,
                mfc="none",
                color=PRIORITY_COLOUR[name],
                label=f"{name} = {value}",
            )
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("false alerts per 100 patient-days")
    ax.set_ylabel("sensitivity (% of positive patients)")
    ax.set_title("Operating curve over the score threshold")
    ax.legend()
    ax.grid(alpha=0.3)
    with_lead = [r for r in pts if r.median_lead_hours is not None]
    lead.plot(
        [r.threshold for r in with_lead], [r.median_lead_hours for r in with_lead], "o-", ms=3
    )
    lead.axhline(12, color="black", ls="--", lw=1, label="12 h target")
    for name, value in marked.items():
        lead.axvline(value, color=PRIORITY_COLOUR[name], lw=1, label=f"{name} = {value}")
    lead.set_xlabel("score threshold")
    lead.set_ylabel("median lead time (h before established)")
    lead.legend()
    lead.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return len(pts)

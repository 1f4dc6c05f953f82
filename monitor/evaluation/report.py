"""The evaluation as one JSON object and as a markdown report (pure: strings and dicts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.evaluation.episodes import PRIORITIES
from monitor.evaluation.metrics import Metrics, Quartiles
from monitor.evaluation.sweep import SweepRow
from monitor.evaluation.utility import UtilityWindow


@dataclass(frozen=True, slots=True)
class Target:
    key: str
    label: str
    limit: float
    at_least: bool

    def met(self, value: float | None) -> bool | None:
        if value is None:
            return None
        return value >= self.limit if self.at_least else value <= self.limit


# The targets of the evaluation issue (README, "Evaluation").
TARGETS = (
    Target("sensitivity_medium", "sensitivity, medium or higher", 0.95, True),
    Target("median_lead_time_medium_hours", "median lead time of first medium (h)", 12.0, True),
    Target("false_high_per_100_patient_days", "false high per 100 patient-days", 1.0, False),
    Target("false_medium_per_100_patient_days", "false medium per 100 patient-days", 5.0, False),
    Target(
        "transitions_per_alerted_patient_day", "transitions per alerted patient-day", 3.0, False
    ),
    Target("false_low_per_100_patient_days", "false low per 100 patient-days", 2.0, False),
    Target(
        "quiet_antipsychotic_low_fraction",
        "quiet patients on antipsychotics ever at low",
        0.10,
        False,
    ),
)
PERCENT_KEYS = ("sensitivity", "ppv", "quiet_antipsychotic")


def summary(m: Metrics, run: dict[str, Any], settings: dict[str, int]) -> dict[str, Any]:
    """The ``--json`` object: the required keys first, then everything else."""
    out: dict[str, Any] = {
        "sensitivity_medium": m.sensitivity["medium"],
        "sensitivity_high": m.sensitivity["high"],
        "false_medium_per_100_patient_days": m.false_per_100_patient_days["medium"],
        "false_high_per_100_patient_days": m.false_per_100_patient_days["high"],
        "ppv_high": m.ppv["high"],
        "median_lead_time_medium_hours": m.lead_time_hours["medium"].median,
        "median_lead_time_high_hours": m.lead_time_hours["high"].median,
        "transitions_per_alerted_patient_day": m.transitions_per_alerted_patient_day,
        "utility": m.utility,
        "quiet_antipsychotic_low_fraction": quiet_low_fraction(m),
    }
    for p in PRIORITIES:
        q = m.lead_time_hours[p]
        out[f"sensitivity_{p}"] = m.sensitivity[p]
        out[f"false_{p}_per_100_patient_days"] = m.false_per_100_patient_days[p]
        out[f"false_{p}_alerts"] = m.false_alerts[p]
        out[f"detected_{p}"] = m.detected[p]
        out[f"ppv_{p}"] = m.ppv[p]
        out[f"lead_time_{p}_hours"] = {"n": q.n, "q1": q.q1, "median": q.median, "q3": q.q3}
    out.update(
        patients=m.patients,
        positives=m.positives,
        patient_days=m.patient_days,
        transitions=m.transitions,
        alerted_patient_days=m.alerted_patient_days,
        by_condition=m.by_condition,
        settings=settings,
        run=run,
        targets={t.key: t.met(out[t.key]) for t in TARGETS},
    )
    return out


def profile_figures(m: Metrics) -> dict[str, Any]:
    """The targets and headline figures of one charting profile's patients."""
    full = summary(m, {}, {})
    keys = [t.key for t in TARGETS] + ["sensitivity_high", "ppv_high", "utility"]
    return {
        "patients": m.patients,
        "positives": m.positives,
        "patient_days": round(m.patient_days, 1),
        **{k: full[k] for k in keys},
        "targets": full["targets"],
    }


def _profile_lines(by: dict[str, dict[str, Any]]) -> list[str]:
    names = sorted(by)
    lines = [
        "",
        "## Per charting profile",
        "",
        "The simulator's charting profiles (`simulate --charting`): routine charting every "
        "shift, or sparse charting by exception as case reports read.",
        "",
        "| figure | " + " | ".join(names) + " | target |",
        "|---|" + "---|" * len(names) + "---|",
        "| patients (positive), patient-days | "
        + " | ".join(
            f"{by[n]['patients']} ({by[n]['positives']}), {by[n]['patient_days']:.0f}"
            for n in names
        )
        + " | - |",
    ]
    for t in TARGETS:
        cells = []
        for n in names:
            v = by[n][t.key]
            shown = _pct(v) if t.key.startswith(PERCENT_KEYS) else _num(v)
            met = by[n]["targets"][t.key]
            cells.append(f"{shown}{'' if met is None or met else ' (missed)'}")
        limit = _pct(t.limit) if t.key.startswith(PERCENT_KEYS) else f"{t.limit:g}"
        lines.append(
            f"| {t.label} | " + " | ".join(cells) + f" | {'>=' if t.at_least else '<='} {limit} |"
        )
    for key, label in (("sensitivity_high", "sensitivity, high"), ("utility", "utility")):
        row = [
            _pct(by[n][key]) if key.startswith("sens") else _num(by[n][key], ".3f") for n in names
        ]
        lines.append(f"| {label} | " + " | ".join(row) + " | - |")
    return lines


def quiet_low_fraction(m: Metrics) -> float | None:
    """Of the quiet patients on antipsychotics, the share whose alert ever reached low (or
    higher): the noise of the lowest tier where nothing is happening."""
    row = m.by_condition.get("quiet_antipsychotic")
    if not row or not row["patients"]:
        return None
    return row["low"] / row["patients"]


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f} %"


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def _q(q: Quartiles) -> str:
    if q.median is None:
        return "-"
    return f"{q.median:.1f} ({_num(q.q1, '.1f')} to {_num(q.q3, '.1f')}), n={q.n}"


def markdown(
    s: dict[str, Any],
    m: Metrics,
    rows: Sequence[SweepRow] | None,
    images: dict[str, list[str]],
    window: UtilityWindow,
) -> str:
    st = s["settings"]
    run = s["run"]
    lines = [
        "# nms-monitor evaluation",
        "",
        f"{m.patients} patients ({m.positives} positive), {m.patient_days:.0f} patient-days; "
        f"{run['events']} events, {run['rejected']} rejected, {run['duplicates']} duplicates; "
        f"{m.transitions} alert transitions. Thresholds: low >= {st['priority_low']}, "
        f"medium >= {st['priority_medium']}, high >= {st['cutoff']}. Order: {run['order']}.",
        "",
        "## Targets",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for t in TARGETS:
        value = s[t.key]
        shown = _pct(value) if t.key.startswith(PERCENT_KEYS) else _num(value)
        limit = _pct(t.limit) if t.key.startswith(PERCENT_KEYS) else f"{t.limit:g}"
        bound = f"{'>=' if t.at_least else '<='} {limit}"
        met = s["targets"][t.key]
        lines.append(
            f"| {t.label} | {shown} | {bound} | {'-' if met is None else 'yes' if met else 'NO'} |"
        )
    lines.append(
        f"| utility (PhysioNet 2019 style, normalised) | {_num(s['utility'], '.3f')} | - | - |"
    )
    if s.get("by_charting"):
        lines += _profile_lines(s["by_charting"])
    lines += [
        "",
        "## Per priority",
        "",
        "| priority | sensitivity | false alerts | false / 100 patient-days | PPV "
        "| lead time, h: median (q1 to q3) |",
        "|---|---|---|---|---|---|",
    ]
    for p in PRIORITIES:
        lines.append(
            f"| {p} | {_pct(m.sensitivity[p])} ({m.detected[p]}/{m.positives}) "
            f"| {m.false_alerts[p]} | {m.false_per_100_patient_days[p]:.2f} "
            f"| {_pct(m.ppv[p])} | {_q(m.lead_time_hours[p])} |"
        )
    lines += [
        "",
        "## Patients reaching each priority, by condition",
        "",
        "| condition | patients | low | medium | high |",
        "|---|---|---|---|---|",
    ]
    for cond, row in sorted(m.by_condition.items()):
        lines.append(
            f"| {cond} | {row['patients']} | {row['low']} | {row['medium']} | {row['high']} |"
        )
    if rows:
        lines += [
            "",
            "## Operating curve (score threshold sweep)",
            "",
            "From the score at every event time of one run; see the README for how it "
            "relates to the lifecycle.",
            "",
            "| threshold | sensitivity | false / 100 patient-days | PPV | median lead, h |",
            "|---|---|---|---|---|",
        ]
        for r in rows:
            if r.threshold % 5 == 0 or r.threshold in (
                st["priority_low"],
                st["priority_medium"],
                st["cutoff"],
            ):
                lines.append(
                    f"| {r.threshold} | {_pct(r.sensitivity)} "
                    f"| {r.false_per_100_patient_days:.2f} | {_pct(r.ppv)} "
                    f"| {_num(r.median_lead_hours, '.1f')} |"
                )
    for title, key in (
        ("Operating curve", "curve"),
        ("Lead time", "lead"),
        ("Timelines", "timeline"),
    ):
        if images.get(key):
            lines += ["", f"## {title}", ""]
            lines += [f"![{name}]({name})" for name in images[key]]
    lines += [
        "",
        "## Definitions",
        "",
        "Sensitivity: positive patients (NMS, atypical NMS, parkinsonism-hyperpyrexia) whose alert "
        "reached the priority at or after their first feature onset. False alert: an episode "
        "reaching the priority in a negative patient, or in a positive one before any feature. "
        "Lead time: fully established minus first time at the priority (positive = early). "
        "Utility: hourly, 'medium or higher open' as the prediction; for positives an alert "
        f"earns 0 rising to {window.u_tp:g} from {window.early_h:g} h to {window.optimal_h:g} h "
        f"before establishment and falling to 0 by {window.late_h:+g} h, silence costs up to "
        f"{window.u_fn:g} after {window.optimal_h:g} h; every other alert hour costs "
        f"{window.u_fp:g}; "
        "normalised so that 1 is perfect and 0 is never alerting.",
    ]
    return "\n".join(lines) + "\n"

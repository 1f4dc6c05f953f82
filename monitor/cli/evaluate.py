"""``nms-monitor evaluate DIR``: the engine over a cohort with ground truth, and how it did.

DIR holds the events (every ``*.ndjson`` file) and ``truth.json`` (or ``--truth FILE``). The
report directory gets ``report.md`` and PNG plots; ``--json`` prints one JSON object instead of
the text summary. Exit 0 when it ran, 2 for unusable input (with the reason on standard error).
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from monitor.contracts.decode import DecodeError, decode_event
from monitor.contracts.events import Event
from monitor.errors import CaseError, TruthError
from monitor.evaluation.cases import Case, judge, parse_case, run_case, short_citation
from monitor.evaluation.metrics import Metrics, compute
from monitor.evaluation.report import PERCENT_KEYS, TARGETS, markdown, profile_figures, summary
from monitor.evaluation.runner import EngineRun, run_engine
from monitor.evaluation.sweep import SweepRow, sweep
from monitor.evaluation.truth import PatientTruth, parse_truth
from monitor.evaluation.utility import UtilityWindow
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline.sources import Reading, UnreadableInput, chunk_lines, open_sources, plan_chunks


def _inputs(directory: str, truth_path: str | None) -> tuple[list[str], Path] | str:
    base = Path(directory)
    if not base.is_dir():
        return f"{directory} is not a directory"
    events = sorted(str(p) for pattern in ("*.ndjson", "*.ndjson.gz") for p in base.glob(pattern))
    if not events:
        return f"no *.ndjson or *.ndjson.gz event files in {directory}"
    truth = Path(truth_path) if truth_path else base / "truth.json"
    if not truth.is_file():
        return f"no ground truth: {truth} does not exist (give --truth FILE)"
    return events, truth


def run_evaluate(
    directory: str,
    cfg: ClinicalSettings,
    truth_path: str | None = None,
    report_dir: str | None = None,
    as_json: bool = False,
    with_sweep: bool = False,
    timelines: list[str] | None = None,
    order: str = "event",
    jobs: int | None = None,
) -> int:
    found = _inputs(directory, truth_path)
    if isinstance(found, str):
        print(f"nms-monitor evaluate: {found}", file=sys.stderr)
        return 2
    events, truth_file = found
    if report_dir and importlib.util.find_spec("matplotlib") is None:
        print(
            "nms-monitor evaluate: --report draws with matplotlib, which is not installed: "
            "pip install 'nms-monitor[report]'",
            file=sys.stderr,
        )
        return 2
    try:
        truths = parse_truth(orjson.loads(truth_file.read_bytes()))
    except (OSError, orjson.JSONDecodeError, TruthError) as exc:
        print(f"nms-monitor evaluate: {truth_file}: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        run = run_engine(events, cfg, order, jobs=jobs)
    except UnreadableInput as exc:
        print(f"nms-monitor evaluate: {exc}", file=sys.stderr)
        return 2
    engine_s = time.monotonic() - started
    unknown = sorted(set(run.marks) - set(truths))
    if unknown:
        print(
            f"nms-monitor evaluate: {len(unknown)} patients have alerts but no ground truth "
            f"(first: {unknown[0]})",
            file=sys.stderr,
        )
        return 2
    window = UtilityWindow()
    metrics = compute(truths, run.marks, window)
    rows = sweep(truths, run.samples) if with_sweep or report_dir else None
    settings = {"priority_low": cfg.priority_low, "priority_medium": cfg.priority_medium,
                "cutoff": cfg.cutoff}  # fmt: skip
    info = {
        "events": run.events,
        "lines": run.lines,
        "rejected": sum(run.rejected.values()),
        "rejected_by_reason": dict(sorted(run.rejected.items())),
        "duplicates": run.duplicates,
        "order": order,
        "processes": run.processes,
        "engine_seconds": round(engine_s, 1),
    }
    result = summary(metrics, info, settings)
    by_profile: dict[str, set[str]] = {}
    for p, t in truths.items():
        by_profile.setdefault(t.charting, set()).add(p)
    result["by_charting"] = {
        profile: profile_figures(
            compute(
                {p: truths[p] for p in members},
                {p: m for p, m in run.marks.items() if p in members},
                window,
            )
        )
        for profile, members in sorted(by_profile.items())
    }
    if rows is not None and with_sweep:
        result["sweep"] = [_row(r) for r in rows]
    if report_dir:
        result["report"] = _write_report(
            Path(report_dir),
            result,
            metrics,
            rows,
            truths,
            run,
            events,
            cfg,
            window,
            timelines or [],
        )
    if as_json:
        sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print(_text(result))
    return 0


def _row(r: SweepRow) -> dict[str, Any]:
    return {f: getattr(r, f) for f in r.__slots__}


def _text(s: dict[str, Any]) -> str:
    def fmt(key: str, source: dict[str, Any] = s) -> str:
        v = source[key]
        if v is None:
            return "-"
        return f"{100 * v:.1f} %" if key.startswith(PERCENT_KEYS) else f"{v:.2f}"

    out = [
        f"evaluate: {s['patients']} patients ({s['positives']} positive), "
        f"{s['patient_days']:.0f} patient-days, {s['run']['events']} events "
        f"({s['run']['rejected']} rejected, {s['run']['duplicates']} duplicates), "
        f"engine {s['run']['engine_seconds']} s"
    ]
    for t in TARGETS:
        met = s["targets"][t.key]
        out.append(
            f"  {t.label:<42} {fmt(t.key):>9}  {'ok' if met else 'MISSED' if met is False else '-'}"
        )
    for key in ("sensitivity_high", "ppv_high", "median_lead_time_high_hours", "utility"):
        out.append(f"  {key.replace('_', ' '):<42} {fmt(key):>9}")
    by = s.get("by_charting") or {}
    if len(by) > 1:
        for name, figures in sorted(by.items()):
            out.append(f"  {name} charting ({figures['patients']} patients):")
            for t in TARGETS:
                met = figures["targets"][t.key]
                out.append(
                    f"    {t.label:<40} {fmt(t.key, figures):>9}  "
                    f"{'ok' if met else 'MISSED' if met is False else '-'}"
                )
    if "report" in s:
        out.append(f"  report: {s['report']}")
    return "\n".join(out)


def _patient_events(paths: list[str], wanted: set[str]) -> dict[str, list[Event]]:
    """The decodable events of a few patients (a second, cheap pass over the files)."""
    needles = [pid.encode() for pid in wanted]
    out: dict[str, list[Event]] = {pid: [] for pid in wanted}
    with tempfile.TemporaryDirectory(prefix="nms-timelines-") as tmp:
        for chunk in plan_chunks(open_sources(paths, tmp), 1 << 62):
            for _, raw in chunk_lines(chunk, Reading()):
                if not any(n in raw for n in needles):  # cheap filter before decoding
                    continue
                try:
                    ev = decode_event(raw)
                except DecodeError:
                    continue
                if ev.patient_id in out:
                    out[ev.patient_id].append(ev)
    return out


def choose_timelines(truths: dict[str, PatientTruth], m: Metrics, run: EngineRun) -> list[str]:
    """A few telling patients: detected cases of each positive condition, a missed one, and
    the negative patients with the highest alerts."""
    chosen: list[str] = []
    seen: set[str] = set()
    for pid in sorted(truths):
        t = truths[pid]
        marks = run.marks.get(pid, [])
        if t.positive and marks and t.condition not in seen:
            chosen.append(pid)
            seen.add(t.condition)
    missed = [p for p in sorted(truths) if truths[p].positive and not run.marks.get(p)]
    chosen += missed[:1]
    ranked = sorted(
        (p for p in truths if not truths[p].positive and run.marks.get(p)),
        key=lambda p: (-max(mk.score for mk in run.marks[p]), p),
    )
    chosen += ranked[:2]
    return chosen


def _write_report(
    out: Path,
    result: dict[str, Any],
    m: Metrics,
    rows: list[SweepRow] | None,
    truths: dict[str, PatientTruth],
    run: EngineRun,
    events: list[str],
    cfg: ClinicalSettings,
    window: UtilityWindow,
    timelines: list[str],
) -> str:
    from monitor.evaluation import plots  # noqa: PLC0415 - matplotlib only when plotting

    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, list[str]] = {"curve": [], "lead": [], "timeline": []}
    if rows:
        marked = {"low": cfg.priority_low, "medium": cfg.priority_medium, "high": cfg.cutoff}
        plots.operating_curve(out / "operating_curve.png", rows, marked)
        images["curve"].append("operating_curve.png")
    plots.lead_time_histogram(out / "lead_time.png", m.lead_times, 12.0)
    images["lead"].append("lead_time.png")
    unknown = [p for p in timelines if p not in truths]
    if unknown:
        print(f"nms-monitor evaluate: no such patient in the truth: {unknown[0]}", file=sys.stderr)
    wanted = [p for p in timelines if p in truths] or choose_timelines(truths, m, run)
    by_patient = _patient_events(events, set(wanted))
    drawn = {}
    for pid in wanted:
        name = f"timeline_{pid}.png"
        d = plots.timeline(
            out / name,
            truths[pid],
            by_patient[pid],
            run.marks.get(pid, []),
            run.samples.get(pid, []),
            (cfg.priority_low, cfg.priority_medium, cfg.cutoff),
        )
        drawn[pid] = len(d.transitions)
        images["timeline"].append(name)
    result["timelines"] = drawn
    (out / "report.md").write_text(markdown(result, m, rows, images, window))
    (out / "summary.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return str(out / "report.md")


def load_cases(directory: str) -> list[Case] | str:
    """Every ``*.json`` case under ``directory``, sorted by file name; an error message if a
    file is unusable (a broken case must not pass silently)."""
    base = Path(directory)
    files = sorted(base.glob("*.json")) if base.is_dir() else []
    if not files:
        return f"no *.json case files in {directory}"
    cases = []
    for path in files:
        try:
            cases.append(parse_case(orjson.loads(path.read_bytes()), path.name))
        except (OSError, orjson.JSONDecodeError, CaseError) as exc:
            return f"{path}: {exc}"
    return cases


def run_cases(directory: str, cfg: ClinicalSettings, as_json: bool) -> int:
    """``evaluate --cases DIR``: every published case through the engine, as a table."""
    cases = load_cases(directory)
    if isinstance(cases, str):
        print(f"nms-monitor evaluate: {cases}", file=sys.stderr)
        return 2
    outcomes = [judge(c, *run_case(c, cfg)) for c in cases]
    good = sum(o.ok for o in outcomes)
    if as_json:
        rows = [
            {
                "case": o.case.id,
                "citation": o.case.citation,
                "category": o.case.category,
                "expected": o.expected_text,
                "got": o.got_text,
                "as_expected": o.ok,
                "why": o.why or None,
                "events": len(o.case.events),
                "stated": o.case.stated,
                "inferred": o.case.inferred,
            }
            for o in outcomes
        ]
        doc = {"cases": len(outcomes), "as_expected": good, "results": rows}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    table = [("case", "citation", "expected", "got", "ok")]
    for o in outcomes:
        table.append(
            (o.case.id, short_citation(o.case.citation), o.expected_text, o.got_text,
             "yes" if o.ok else f"NO: {o.why}")
        )  # fmt: skip
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])
    print(f"{good} of {len(outcomes)} cases behave as expected")
    return 0

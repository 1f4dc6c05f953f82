"""``nms-monitor replay``: the engine over NDJSON files, in event-time order.

Standard output carries only alert transitions (one JSON object per line, the alert contract).
Rejected lines go to standard error as ``FILE:LINE: reason: detail`` and are counted in the
summary; the command never stops at a bad line (it stops, with status 3, on an internal error).
The files are sorted, partitioned by patient and replayed by ``monitor.offline`` (bounded
memory, ``--jobs`` processes); this module counts and prints. With worker processes, each keeps
its lines with their place in the replay order and they are merged here, so the output is byte
for byte that of one process.
"""

from __future__ import annotations

import gc
import heapq
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from monitor.contracts.alerts import PRIORITY_RANK, Alert
from monitor.engine.timeutil import iso
from monitor.errors import Rejection
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline.order import KIND_ORDER
from monitor.offline.outcomes import Outcome
from monitor.offline.parallel import Job, run_job, scratch
from monitor.offline.pipeline import Context, SinkSpec
from monitor.offline.runs import RunWriter, read_run
from monitor.offline.sources import UnreadableInput
from monitor.offline.states import SpillingWard

__all__ = ["KIND_ORDER", "ReplayStats", "format_pretty", "run_replay", "unrecognised_table"]


@dataclass(slots=True)
class ReplayStats:
    lines: int = 0
    events: int = 0
    duplicates: int = 0
    transitions: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    # Medication names (or codes) the drug catalogue does not know, with how often they came:
    # what an integration engineer must look at first (a missed drug is a missed patient).
    unrecognised: Counter[str] = field(default_factory=Counter)

    def add(self, other: ReplayStats) -> None:
        self.lines += other.lines
        self.events += other.events
        self.duplicates += other.duplicates
        self.transitions += other.transitions
        self.rejected.update(other.rejected)
        self.unrecognised.update(other.unrecognised)


@dataclass(slots=True)
class PatientSummary:
    priority: str | None = None
    score: int = 0
    when: str = ""
    transitions: int = 0
    last_status: str = ""


def _summarise(summary: dict[str, PatientSummary], alert: Alert) -> None:
    s = summary.setdefault(alert.patient_id, PatientSummary())
    s.transitions += 1
    s.last_status = f"{alert.transition} {iso(alert.time.timestamp())}"
    if PRIORITY_RANK[alert.priority] > PRIORITY_RANK[s.priority] or (
        alert.priority == s.priority and alert.score > s.score
    ):
        s.priority, s.score, s.when = alert.priority, alert.score, iso(alert.time.timestamp())


def format_pretty(alert: Alert) -> str:
    """A short human rendering of one transition."""
    lines = [
        f"[{alert.priority.upper()}] {alert.transition} {alert.alert_id} patient {alert.patient_id}"
        f" at {iso(alert.time.timestamp())}: score {alert.score}/{alert.max_computable_score}"
        f" (cutoff {alert.cutoff})"
    ]
    for c in alert.criteria:
        mark = "x" if c.met else " "
        lines.append(f"  [{mark}] {c.name:<21} {c.points:>2}/{c.weight:<2} {c.detail}")
    for d in alert.differential:
        lines.append(f"  differential: {d.condition}: {d.reason}")
    for r in alert.exposure.risk_factors:
        lines.append(f"  risk factor: {r}")
    for r in alert.recommendations:
        lines.append(f"  -> {r}")
    if alert.reason:
        lines.append(f"  ({alert.reason})")
    return "\n".join(lines)


class ReplaySink:
    """One partition's share of ``replay``: counts, the per-patient summary, and the lines to
    print. In one process they are printed as they come; from worker processes they are kept
    with their place in the replay order (``tag``) and merged by the parent."""

    def __init__(self, ctx: Context, pretty: bool) -> None:
        self.ctx = ctx
        self.pretty = pretty
        self.stats = ReplayStats()
        self.summary: dict[str, PatientSummary] = {}
        self.spill = None if ctx.direct else RunWriter(os.path.join(ctx.tmpdir, f"out-{ctx.part}"))

    def _emit(self, tag: tuple[object, ...], to_err: bool, text: str) -> None:
        if self.spill is not None:
            self.spill.add((tag, to_err, text))
        else:
            print(text, file=sys.stderr if to_err else sys.stdout)

    def _alerts(self, tag: tuple[object, ...], alerts: list[Alert]) -> None:
        for i, alert in enumerate(alerts):
            self.stats.transitions += 1
            _summarise(self.summary, alert)
            text = format_pretty(alert) if self.pretty else alert.model_dump_json()
            self._emit((*tag, i), False, text)

    def outcome(self, o: Outcome) -> None:
        stats = self.stats
        if o.event is not None:
            stats.events += 1
        if o.rejection is not None:
            stats.rejected[o.rejection.reason] += 1
            name, line = self.ctx.where(o.record)
            self._emit((0, *o.record), True, f"{name}:{line}: {o.rejection.reason}: "
                       f"{o.rejection.detail}")  # fmt: skip
            return
        result = o.result
        assert result is not None
        if result.duplicate:
            stats.duplicates += 1
        if result.unrecognised is not None:
            stats.unrecognised[" ".join(result.unrecognised.split())] += 1
        if result.transitions:
            self._alerts((0, *o.record), result.transitions)

    def ticked(self, patient_id: str, alerts: list[Alert]) -> None:
        self._alerts((1, patient_id), alerts)

    def finish(self, ward: SpillingWard) -> ReplayPart:
        spilled = self.spill.close() if self.spill is not None else None
        return ReplayPart(self.stats, self.summary, ward.patients(), spilled)


@dataclass(slots=True)
class ReplayPart:
    stats: ReplayStats
    summary: dict[str, PatientSummary]
    patients: list[str]
    output: str | None  # the spilled lines of a worker process


def run_replay(
    paths: list[str],
    cfg: ClinicalSettings,
    summary: bool,
    pretty: bool,
    jobs: int | None = None,
    **options: Any,
) -> int:
    """``nms-monitor replay``: exit status 0, or 2 for unreadable input. ``options``: further
    :class:`~monitor.offline.parallel.Job` fields (chunk, run and state limits)."""
    stats = ReplayStats()

    def refused(name: str, line: int, rejection: Rejection) -> None:
        stats.rejected[rejection.reason] += 1
        print(f"{name}:{line}: {rejection.reason}: {rejection.detail}", file=sys.stderr)

    # Engine state is many small long-lived objects and few cycles: collecting young objects
    # every 700 allocations only burns time (about a third of replay time on 1M events).
    gc.set_threshold(50_000, 20, 100)
    job = Job(paths, cfg, SinkSpec(ReplaySink, (pretty,)), jobs=jobs, **options)
    with scratch("replay") as tmp:
        try:
            result = run_job(job, refused, tmp)
        except UnreadableInput as exc:
            print(f"nms-monitor replay: {exc}", file=sys.stderr)
            return 2
        parts: list[ReplayPart] = result.parts
        spilled = [read_run(p.output) for p in parts if p.output]
        for _, to_err, text in heapq.merge(*spilled):  # worker processes: in replay order
            print(text, file=sys.stderr if to_err else sys.stdout)
    sys.stdout.flush()
    stats.lines = result.lines
    table: dict[str, PatientSummary] = {}
    patients: list[str] = []
    for p in parts:
        stats.add(p.stats)
        table.update(p.summary)
        patients += p.patients
    rejected = sum(stats.rejected.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected.items()))
    print(
        f"replay: {stats.lines} lines, {stats.events} events, {len(patients)} patients, "
        f"{rejected} rejected{' (' + reasons + ')' if reasons else ''}, "
        f"{stats.duplicates} duplicates, {stats.transitions} alert transitions, "
        f"{sum(stats.unrecognised.values())} medication records of "
        f"{len(stats.unrecognised)} unrecognised drug names",
        file=sys.stderr,
    )
    if summary:
        print(_table(sorted(patients), table), file=sys.stderr)
        print(unrecognised_table(stats.unrecognised), file=sys.stderr)
    return 0


def unrecognised_table(names: Counter[str]) -> str:
    """The medication names the catalogue does not know, most frequent first (drug names are
    not patient identifiers). A site adds them with NMS_CLINICAL__DRUG_CATALOGUE_FILE."""
    if not names:
        return "unrecognised medication names: none"
    lines = [f"unrecognised medication names ({len(names)}; add them to a site catalogue file):"]
    lines += [
        f"  {count:>7}  {name}"
        for name, count in sorted(names.items(), key=lambda x: (-x[1], x[0]))
    ]
    return "\n".join(lines)


def _table(patients: list[str], table: dict[str, PatientSummary]) -> str:
    rows = [("patient", "highest", "score", "when", "transitions", "last")]
    for pid in patients:
        s = table.get(pid, PatientSummary())
        rows.append(
            (pid, s.priority or "-", str(s.score) if s.priority else "-", s.when or "-",
             str(s.transitions), s.last_status or "-")
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)

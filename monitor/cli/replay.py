"""``nms-monitor replay``: the engine over NDJSON files, in event-time order.

Standard output carries only alert transitions (one JSON object per line, the alert contract).
Rejected lines go to standard error as ``FILE:LINE: reason: detail`` and are counted in the
summary; the command never stops at a bad line.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, BinaryIO

import orjson

from monitor.cli.inputs import close_inputs, ndjson_lines, open_inputs, report
from monitor.contracts.alerts import PRIORITY_RANK, Alert
from monitor.contracts.decode import DecodeError, Rejection, decode_event
from monitor.engine.timeutil import iso
from monitor.engine.ward import Ward
from monitor.errors import EventRejected
from monitor.knowledge.thresholds import ClinicalSettings


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


@dataclass(slots=True)
class PatientSummary:
    priority: str | None = None
    score: int = 0
    when: str = ""
    transitions: int = 0
    last_status: str = ""


# Events at the same instant are replayed in a content order, never in file order, so that the
# result does not depend on how lines were split across files: demographics and orders before
# results, acknowledgements last (they refer to the alert the rest produces).
KIND_ORDER = {"patient": 0, "medication": 1, "lab": 2, "assessment": 3, "vital": 4, "ack": 5}
OrderKey = tuple[float, int, str]


def _order_key(line: bytes) -> OrderKey | None:
    """(event time, kind rank, event id) of a line, cheaply; None when it needs validation."""
    try:
        obj = orjson.loads(line)
        when = dt.datetime.fromisoformat(obj["time"])
        key = (when.timestamp(), KIND_ORDER[obj["kind"]], str(obj["event_id"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None
    return key if when.tzinfo is not None else None


def read_lines(
    files: list[tuple[str, BinaryIO]], stats: ReplayStats, err: IO[str]
) -> list[tuple[OrderKey, int, int, bytes]]:
    """Every decodable line with its order key, sorted; undecodable ones reported and counted.

    Only the raw bytes are kept until replay, so a large input costs its size, not its objects.
    """
    keyed: list[tuple[OrderKey, int, int, bytes]] = []
    for index, (name, fh) in enumerate(files):
        for lineno, line in ndjson_lines(fh):
            stats.lines += 1
            key = _order_key(line)
            if key is None:
                try:
                    event = decode_event(line)
                except DecodeError as exc:
                    _reject(stats, err, name, lineno, exc.rejection)
                    continue
                key = (event.time.timestamp(), KIND_ORDER[event.kind], event.event_id)
            keyed.append((key, index, lineno, line))
    keyed.sort()
    return keyed


def _reject(stats: ReplayStats, err: IO[str], name: str, lineno: int, rej: Rejection) -> None:
    stats.rejected[rej.reason] += 1
    report(err, name, lineno, rej)


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


def replay_events(
    keyed: list[tuple[OrderKey, int, int, bytes]],
    names: list[str],
    ward: Ward,
    stats: ReplayStats,
    out: IO[str],
    err: IO[str],
    pretty: bool,
    summary: dict[str, PatientSummary],
) -> None:
    def emit(alerts: list[Alert]) -> None:
        for alert in alerts:
            stats.transitions += 1
            _summarise(summary, alert)
            out.write((format_pretty(alert) if pretty else alert.model_dump_json()) + "\n")

    for _, index, lineno, line in keyed:
        try:
            event = decode_event(line)
        except DecodeError as exc:
            _reject(stats, err, names[index], lineno, exc.rejection)
            continue
        stats.events += 1
        try:
            result = ward.process(event)
        except EventRejected as exc:
            _reject(stats, err, names[index], lineno, exc.rejection)
            continue
        if result.duplicate:
            stats.duplicates += 1
        if result.unrecognised is not None:
            stats.unrecognised[" ".join(result.unrecognised.split())] += 1
        emit(result.transitions)
    if keyed:
        # The input covers time up to its last event: let every patient reach it.
        emit(ward.tick_all(keyed[-1][0][0]))


def run_replay(paths: list[str], cfg: ClinicalSettings, summary: bool, pretty: bool) -> int:
    opened = open_inputs(paths)
    if isinstance(opened, str):
        print(f"nms-monitor replay: {opened}", file=sys.stderr)
        return 2
    stats = ReplayStats()
    # Engine state is many small long-lived objects and few cycles: collecting young objects
    # every 700 allocations only burns time (about a third of replay time on 1M events).
    gc.set_threshold(50_000, 20, 100)
    try:
        keyed = read_lines(opened, stats, sys.stderr)
    finally:
        close_inputs(opened)
    table: dict[str, PatientSummary] = {}
    ward = Ward(cfg)
    replay_events(keyed, [n for n, _ in opened], ward, stats, sys.stdout, sys.stderr, pretty, table)
    sys.stdout.flush()
    rejected = sum(stats.rejected.values())
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(stats.rejected.items()))
    print(
        f"replay: {stats.lines} lines, {stats.events} events, {len(ward.states)} patients, "
        f"{rejected} rejected{' (' + reasons + ')' if reasons else ''}, "
        f"{stats.duplicates} duplicates, {stats.transitions} alert transitions, "
        f"{sum(stats.unrecognised.values())} medication records of "
        f"{len(stats.unrecognised)} unrecognised drug names",
        file=sys.stderr,
    )
    if summary:
        print(_table(ward, table), file=sys.stderr)
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


def _table(ward: Ward, table: dict[str, PatientSummary]) -> str:
    rows = [("patient", "highest", "score", "when", "transitions", "last")]
    for pid in sorted(ward.states):
        s = table.get(pid, PatientSummary())
        rows.append(
            (pid, s.priority or "-", str(s.score) if s.priority else "-", s.when or "-",
             str(s.transitions), s.last_status or "-")
        )  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)

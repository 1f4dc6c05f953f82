"""Engine, replay and evaluate throughput and memory on a simulated ward. Prints one JSON object.

    python benchmarks/engine.py [--cohort DIR | --patients 4000 --days 10 --seed 9]
                                [--repeats 1] [--prefix-lines 1000000] [--skip evaluate,...]

The cohort is ``nms-monitor simulate`` (the realistic mix: monitor numerics in ICU, ward
observations every 1-4 h, labs, doses, charting; about 0.9 M events per 400 patient-days),
written once to ``--cohort DIR`` (reused when it exists) or to a temporary directory.

- ``engine``: ``Ward.process`` over the cohort in replay order on one core, events decoded in
  batches beforehand and not timed (CPU time, and wall time); the median of ``--repeats``.
- ``decode``: pydantic decoding of the same lines alone (what the engine figure leaves out).
- ``pipeline_one_process``: ``monitor.offline.outcomes`` (decode and engine) over the sorted
  records in this process: the path replay and evaluate take, without sorting or printing.
- ``replay`` and ``evaluate``: the whole commands as child processes, ``--jobs 1`` and
  ``--jobs 2``: wall and CPU seconds, events per second of wall time, and the peak memory of
  the whole process tree (``benchmarks/proctree.py``).
- ``rss_growth``: replay (``--jobs 2``) of the first ``--prefix-lines`` lines against the whole
  file: memory must not grow with the input.
- ``synthetic``: the engine over the synthetic stream of ``benchmarks/streamgen.py`` (1/min
  numerics for every patient), as measured before, and serialised state per patient.

This machine's speed varies with other work on it: every timed figure lists its runs.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.proctree import Measured, measure
from benchmarks.streamgen import patient_events, ward_events
from monitor.contracts.decode import decode_event
from monitor.engine import dumps_state, new_state, step
from monitor.engine.ward import Ward
from monitor.errors import DecodeError, EventRejected
from monitor.knowledge.thresholds import ClinicalSettings
from monitor.offline.outcomes import outcomes
from monitor.offline.pipeline import sort_chunk
from monitor.offline.runs import merge_runs
from monitor.offline.sources import open_sources, plan_chunks

CLI = [sys.executable, "-m", "monitor.cli.main"]
BATCH = 50_000


def sorted_lines(path: Path, tmp: str) -> Iterator[bytes]:
    """The cohort's lines in replay order (the offline sort, in this process)."""
    runs = []
    for chunk in plan_chunks(open_sources([str(path)], tmp), 64 << 20):
        runs += sort_chunk(chunk, 1, False, tmp, 400_000).runs[0]
    for record in merge_runs([r for r in runs if isinstance(r, str)], tmp):
        yield record[3]


def engine_alone(path: Path, cfg: ClinicalSettings) -> dict[str, Any]:
    """Ward.process over pre-decoded batches: CPU and wall seconds inside the engine only."""
    ward = Ward(cfg)
    cpu = wall = decode_cpu = 0.0
    events = transitions = 0
    last = 0.0
    with tempfile.TemporaryDirectory(prefix="nms-bench-") as tmp:
        batch: list[Any] = []
        lines = sorted_lines(path, tmp)
        while True:
            raw = [line for _, line in zip(range(BATCH), lines, strict=False)]
            if not raw:
                break
            t0 = time.process_time()
            batch = []
            for line in raw:
                try:
                    batch.append(decode_event(line))
                except DecodeError:
                    continue
            decode_cpu += time.process_time() - t0
            gc.collect()
            c0, w0 = time.process_time(), time.perf_counter()
            for e in batch:
                try:
                    transitions += len(ward.process(e).transitions)
                except EventRejected:
                    continue
            cpu += time.process_time() - c0
            wall += time.perf_counter() - w0
            events += len(batch)
            last = max(last, batch[-1].time.timestamp()) if batch else last
        c0, w0 = time.process_time(), time.perf_counter()
        transitions += len(ward.tick_all(last))
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
    return {
        "events": events,
        "alert_transitions": transitions,
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 2),
        "events_per_cpu_second": round(events / cpu),
        "events_per_wall_second": round(events / wall),
        "decode_events_per_cpu_second": round(events / decode_cpu),
    }


def pipeline_one_process(path: Path, cfg: ClinicalSettings) -> dict[str, Any]:
    """monitor.offline.outcomes over the sorted records: decode and engine, one process."""
    with tempfile.TemporaryDirectory(prefix="nms-bench-") as tmp:
        records = ((line,) for line in sorted_lines(path, tmp))
        c0, w0 = time.process_time(), time.perf_counter()
        n = sum(1 for _ in outcomes(records, Ward(cfg), line=0))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return {"events_per_cpu_second": round(n / cpu), "events_per_wall_second": round(n / wall)}


def command(args: list[str], events: int) -> dict[str, Any]:
    m: Measured = measure([*CLI, *args], ROOT)
    if m.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({m.returncode}): {m.stderr.decode()[-2000:]}")
    return {
        "seconds": round(m.seconds, 2),
        "cpu_seconds": round(m.cpu_seconds, 2),
        "events_per_second": round(events / m.seconds),
        "peak_rss_total_bytes": m.peak_rss_total_bytes,
        "peak_rss_sum_of_process_peaks_bytes": m.peak_rss_sum_of_peaks_bytes,
        "peak_rss_largest_process_bytes": m.peak_rss_largest_process_bytes,
        "processes": m.processes,
    }


def repeated(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The run with the median ``key``, and every run's ``key``."""
    ordered = sorted(runs, key=lambda r: r[key])
    return {**ordered[len(ordered) // 2], f"{key}_runs": [r[key] for r in runs]}


def synthetic(patients: int, minutes: int, cfg: ClinicalSettings) -> dict[str, Any]:
    events = [decode_event(orjson.dumps(e)) for e in ward_events(patients, minutes)]
    ward = Ward(cfg)
    c0 = time.process_time()
    for e in events:
        ward.process(e)
    cpu = time.process_time() - c0
    sizes = []
    for i in range(5):
        state = new_state(f"size-{i}")
        for e in patient_events(f"size-{i}", 24 * 60, sick=i % 2 == 1, rng=random.Random(i)):
            state = step(state, decode_event(orjson.dumps(e)), cfg).state
        sizes.append(len(dumps_state(state)))
    return {
        "patients": patients,
        "events": len(events),
        "engine_events_per_cpu_second": round(len(events) / cpu),
        "state_bytes_per_patient": round(sum(sizes) / len(sizes)),
        "state_bytes_max": max(sizes),
    }


def cohort(args: argparse.Namespace, tmp: str) -> Path:
    out = Path(args.cohort) if args.cohort else Path(tmp) / "cohort"
    if not (out / "events.ndjson").exists():
        sim = ["simulate", "--patients", str(args.patients), "--days", str(args.days)]
        m = measure([*CLI, *sim, "--seed", str(args.seed), "--out", str(out)], ROOT)
        if m.returncode != 0:
            raise RuntimeError(m.stderr.decode())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohort", help="cohort directory (simulated there if it has no events)")
    ap.add_argument("--patients", type=int, default=4000)
    ap.add_argument("--days", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--repeats", type=int, default=1, help="runs of each timed figure")
    ap.add_argument("--prefix-lines", type=int, default=1_000_000)
    ap.add_argument("--skip", default="", help="comma-separated: engine,pipeline,replay,...")
    ap.add_argument("--synthetic-patients", type=int, default=200)
    ap.add_argument("--synthetic-minutes", type=int, default=210)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    cfg = ClinicalSettings()
    gc.set_threshold(50_000, 20, 100)  # as replay does
    out: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "load": os.getloadavg()}}
    with tempfile.TemporaryDirectory(prefix="nms-bench-") as tmp:
        base = cohort(args, tmp)
        path = base / "events.ndjson"
        with open(path, "rb") as fh:
            events = sum(1 for _ in fh)
        out["cohort"] = {"dir": str(base), "events": events, "bytes": path.stat().st_size}
        if "engine" not in skip:
            runs = [engine_alone(path, cfg) for _ in range(args.repeats)]
            out["engine"] = repeated(runs, "events_per_cpu_second")
        if "pipeline" not in skip:
            runs = [pipeline_one_process(path, cfg) for _ in range(args.repeats)]
            out["pipeline_one_process"] = repeated(runs, "events_per_cpu_second")
        for name in ("replay", "evaluate"):
            if name in skip:
                continue
            target = [str(path)] if name == "replay" else [str(base), "--json"]
            out[name] = {
                f"jobs_{j}": repeated(
                    [
                        command([name, *target, "--jobs", str(j)], events)
                        for _ in range(args.repeats)
                    ],
                    "events_per_second",
                )
                for j in (1, 2)
            }
        if "rss_growth" not in skip and args.prefix_lines < events:
            prefix = Path(tmp) / "prefix.ndjson"
            with open(path, "rb") as src, open(prefix, "wb") as dst:
                for _, line in zip(range(args.prefix_lines), src, strict=False):
                    dst.write(line)
            small = command(["replay", str(prefix), "--jobs", "2"], args.prefix_lines)
            full = command(["replay", str(path), "--jobs", "2"], events)
            out["rss_growth"] = {
                "replay_jobs_2": {
                    f"{args.prefix_lines}_events": small["peak_rss_total_bytes"],
                    f"{events}_events": full["peak_rss_total_bytes"],
                }
            }
    if "synthetic" not in skip:
        out["synthetic"] = synthetic(args.synthetic_patients, args.synthetic_minutes, cfg)
    out["load_after"] = os.getloadavg()
    print(orjson.dumps(out).decode())


if __name__ == "__main__":
    main()

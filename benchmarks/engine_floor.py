"""How fast the engine could be without its evaluations: the per-event floor. Prints JSON.

    python benchmarks/engine_floor.py --cohort DIR [--events 400000] [--repeats 3]

Runs ``Ward.process`` over the first ``--events`` events of a simulated cohort (in replay
order, decoded beforehand and not timed) twice per repeat: as shipped, and with the evaluation
step replaced by one that does nothing, so only decoding-free ingest remains (deduplication,
hourly buckets, baseline, latest readings, clock). The second figure bounds what any speed-up
of the evaluations alone can reach. CPU time; the best of ``--repeats`` (this machine is shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.engine import sorted_lines
from monitor.contracts.decode import decode_event
from monitor.engine import core
from monitor.engine.ward import Ward
from monitor.errors import DecodeError, EventRejected
from monitor.knowledge.thresholds import ClinicalSettings


def events_of(path: Path, limit: int) -> list[Any]:
    out = []
    with tempfile.TemporaryDirectory(prefix="nms-floor-") as tmp:
        for line in sorted_lines(path, tmp):
            try:
                out.append(decode_event(line))
            except DecodeError:
                continue
            if len(out) >= limit:
                break
    return out


def cpu_rate(events: list[Any]) -> tuple[float, int]:
    ward = Ward(ClinicalSettings())
    transitions = 0
    c0 = time.process_time()
    for e in events:
        try:
            transitions += len(ward.process(e).transitions)
        except EventRejected:
            continue
    return len(events) / (time.process_time() - c0), transitions


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cohort", required=True, help="a directory with events.ndjson")
    p.add_argument("--events", type=int, default=400_000)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    events = events_of(Path(args.cohort) / "events.ndjson", args.events)
    shipped: Callable[..., Any] = core._evaluate_if_due
    full, floor = [], []
    for _ in range(args.repeats):
        core._evaluate_if_due = shipped
        full.append(cpu_rate(events)[0])
        core._evaluate_if_due = lambda *a, **k: []
        floor.append(cpu_rate(events)[0])
    core._evaluate_if_due = shipped
    print(
        json.dumps(
            {
                "events": len(events),
                "engine_events_per_cpu_second": round(max(full)),
                "ingest_only_events_per_cpu_second": round(max(floor)),
                "engine_us_per_event": round(1e6 / max(full), 2),
                "ingest_only_us_per_event": round(1e6 / max(floor), 2),
                "runs": {
                    "engine": [round(x) for x in full],
                    "ingest_only": [round(x) for x in floor],
                },
            }
        )
    )


if __name__ == "__main__":
    main()

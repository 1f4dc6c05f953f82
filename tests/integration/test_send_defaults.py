"""``nms-monitor send FILE`` at its defaults loses no event of a historical file.

The file: four simulated NMS patients over 4 days, in arrival order (lab results hours late),
1,715 events, most of them vital signs. Sent the old default way (one topic per kind, at full
speed) the worker dead-lettered some as too_late and published different alerts (4 of 1,715 in
one run; with the 57-event case file that prompted this, 22).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.integration.harness import ROOT, TopicReader, WorkerProcess, replay_alerts, wait_for

CLI = [sys.executable, "-m", "monitor.cli.main"]


def counted(metrics: str, outcome: str) -> float:
    found = re.search(rf'^nms_events_total\{{outcome="{outcome}"\}} (\S+)$', metrics, re.M)
    return float(found.group(1)) if found else 0.0


def per_patient(alerts: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Each patient's transitions in order (patients live on different partitions, so only a
    patient's own order is defined across the alerts topic)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for a in alerts:
        out.setdefault(a["patient_id"], []).append(a)
    return out


def test_a_four_day_file_sent_at_the_defaults_gives_the_replay_alerts_and_no_dead_letter(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    subprocess.run([*CLI, "simulate", "--patients", "4", "--days", "4", "--seed", "3", "--mix",
                    "nms=1", "--out", str(tmp_path)], check=True, capture_output=True, cwd=ROOT,
                   timeout=120)  # fmt: skip
    events = tmp_path / "events.ndjson"
    n = len(events.read_bytes().splitlines())
    expected = replay_alerts(events)
    assert n > 1500 and len({a["patient_id"] for a in expected}) == 4
    ensure_topics(KafkaSettings(bootstrap=broker.bootstrap))
    worker = WorkerProcess(broker.bootstrap, tmp_path, "w1").start()
    alerts = TopicReader(broker.bootstrap, "nms.alerts")
    try:
        wait_for(lambda: "[^Worker]: Ready" in worker.log(), 60, "the worker")
        sent = subprocess.run([*CLI, "send", "--bootstrap", broker.bootstrap, str(events)],
                              capture_output=True, text=True, timeout=120, check=False,
                              cwd=ROOT)  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert f"send: {n} events sent, 0 lines rejected" in sent.stderr

        def all_processed() -> bool:
            m = worker.metrics()
            return sum(counted(m, o) for o in ("applied", "duplicate", "rejected")) >= n

        wait_for(all_processed, 90, "every event processed")
        metrics = worker.metrics()
        assert counted(metrics, "rejected") == 0, [
            ln for ln in metrics.splitlines() if ln.startswith("nms_rejected_total")
        ]
        wait_for(lambda: len(alerts.poll()) >= len(expected), 30, "the alerts")
        assert per_patient(alerts.fresh_values()) == per_patient(expected)
    finally:
        alerts.close()
        worker.stop()

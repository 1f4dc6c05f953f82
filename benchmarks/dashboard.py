"""The dashboard's latency, render time and memory. Prints one JSON object.

    python benchmarks/dashboard.py [--transitions 250] [--rate 20] [--open 500] [--history 10000]

On one embedded broker, each phase with its own topic prefix and its own ``nms-monitor dashboard``
process, measured in Debian's Chromium (Playwright):
- latency_ms_p50/_p99: from just before a transition is produced to ``nms.alerts`` until the
  page's DOM holds its card (a MutationObserver stamps each new ``data-transition``; page and
  producer read the same machine clock). Synthetic transitions (opened, escalated, updated,
  escalated, acknowledged per patient, patients in turn) at ``--rate`` per second;
- render_ms_*: the ward view with ``--open`` open alerts: server time to the first byte, and
  navigation start to the load event (HTML generated, sent, parsed, laid out), median of 5 loads;
- memory_mb_*: resident memory of the dashboard process, empty and after ``--history`` alerts
  (each opened, escalated and resolved: three transitions) have been read.
Targets (issue 15): p99 < 1 s; render < 500 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.stream.broker import EmbeddedBroker
from monitor.stream.kafka_io import ensure_topics
from monitor.stream.settings import KafkaSettings
from tests.integration.browser import DashboardProcess, launch
from tests.integration.harness import wait_for
from tests.web.factory import alert, story

OBSERVER = """() => {
  window.seen = {};
  new MutationObserver((muts) => {
    const now = Date.now();
    for (const m of muts) for (const n of m.addedNodes) {
      if (n.nodeType !== 1) continue;
      const cards = n.matches('article.card') ? [n] : n.querySelectorAll('article.card');
      for (const c of cards) {
        if (!(c.dataset.transition in window.seen)) window.seen[c.dataset.transition] = now;
      }
    }
  }).observe(document.getElementById('ward'), {childList: true, subtree: true});
}"""


def health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
        return dict(orjson.loads(r.read()))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmRSS")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[min(len(s) - 1, int(q * len(s)))], 1)


def dashboard(bootstrap: str, tmp: Path, prefix: str) -> DashboardProcess:
    ensure_topics(KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix))
    return DashboardProcess(bootstrap, tmp, prefix, NMS_KAFKA_TOPIC_PREFIX=prefix).start()


def latency(bootstrap: str, tmp: Path, browser: Any, n: int, rate: float) -> dict[str, Any]:
    d = dashboard(bootstrap, tmp, "lat")
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    try:
        page = browser.new_page()
        page.goto(d.url)
        page.wait_for_selector("#live.live-on", timeout=60_000)
        page.evaluate(OBSERVER)
        start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=6)
        # Round robin over the patients: an alert's next transition comes n/5 sends later, so
        # the page is not expected to show two transitions of one alert arriving together (it
        # shows the latest).
        stories = [story(f"bench-{i:04d}", start) for i in range((n + 4) // 5)]
        transitions = [s[k] for k in range(5) for s in stories][:n]
        sent: dict[str, float] = {}
        t0 = time.monotonic()
        for i, a in enumerate(transitions):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            value = a.model_dump_json().encode()
            sent[a.transition_id] = time.time() * 1000
            producer.send("lat.alerts", key=a.patient_id.encode(), value=value)
            producer.flush()
        wait_for(
            lambda: page.evaluate("Object.keys(window.seen).length") >= n,
            60,
            "every transition on the page",
        )
        seen = page.evaluate("window.seen")
        lat = [seen[t] - sent[t] for t in sent]
        page.close()
        return {
            "latency_transitions": len(lat),
            "latency_rate_per_s": rate,
            "latency_ms_p50": pct(lat, 0.50),
            "latency_ms_p99": pct(lat, 0.99),
            "latency_ms_max": round(max(lat), 1),
        }
    finally:
        producer.close()
        d.stop()


def render(bootstrap: str, tmp: Path, browser: Any, n_open: int) -> dict[str, Any]:
    d = dashboard(bootstrap, tmp, "render")
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        now = dt.datetime.now(dt.UTC)
        prios = ("high", "medium", "low")
        for i in range(n_open):
            a = alert(f"ward-{i:04d}", prios[i % 3], at=now - dt.timedelta(minutes=i))
            producer.send(
                "render.alerts", key=a.patient_id.encode(), value=a.model_dump_json().encode()
            )
        producer.flush()
        wait_for(lambda: health(d.url)["alerts"] >= n_open, 120, "the open alerts read")
        page = browser.new_page()
        server, load, cards = [], [], 0
        for _ in range(5):
            page.goto(d.url, wait_until="load")
            nav = page.evaluate(
                "JSON.parse(JSON.stringify(performance.getEntriesByType('navigation')[0]))"
            )
            server.append(nav["responseStart"] - nav["requestStart"])
            load.append(nav["loadEventEnd"] - nav["startTime"])
            cards = page.locator("article.card").count()
        html_bytes = len(page.content().encode())
        page.close()
        return {
            "render_open_alerts": cards,
            "render_html_mb": round(html_bytes / 1e6, 2),
            "render_ms_server_first_byte": round(statistics.median(server), 1),
            "render_ms_to_load_event": round(statistics.median(load), 1),
        }
    finally:
        producer.close()
        d.stop()


def memory(bootstrap: str, tmp: Path, n_alerts: int) -> dict[str, Any]:
    d = dashboard(bootstrap, tmp, "memory")
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=512 * 1024)
    try:
        assert d.proc is not None
        time.sleep(2)  # settle after start
        empty = rss_mb(d.proc.pid)
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
        raw_bytes = 0
        for i in range(n_alerts):
            t = start + dt.timedelta(minutes=4 * i)
            pid = f"hist-{i:05d}"
            kw: dict[str, Any] = {"patient": pid, "opened_at": t}
            for a in (
                alert(priority="low", transition="opened", sequence=1, at=t, **kw),
                alert(priority="high", transition="escalated", sequence=2,
                      at=t + dt.timedelta(hours=2), **kw),
                alert(priority="high", transition="resolved", sequence=3, status="resolved",
                      at=t + dt.timedelta(hours=30), reason="criteria below 'low'", **kw),
            ):  # fmt: skip
                value = a.model_dump_json().encode()
                raw_bytes += len(value)
                producer.send("memory.alerts", key=pid.encode(), value=value)
        producer.flush()
        t0 = time.monotonic()
        wait_for(lambda: health(d.url)["transitions"] >= 3 * n_alerts, 300, "the history read")
        read_s = time.monotonic() - t0
        time.sleep(1)
        return {
            "memory_alerts": n_alerts,
            "memory_transitions": 3 * n_alerts,
            "memory_transitions_json_mb": round(raw_bytes / 1e6, 1),
            "memory_mb_empty": empty,
            "memory_mb_with_history": rss_mb(d.proc.pid),
            "memory_history_read_s_after_produced": round(read_s, 1),
        }
    finally:
        producer.close()
        d.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--transitions", type=int, default=250)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--open", type=int, default=500)
    ap.add_argument("--history", type=int, default=10_000)
    args = ap.parse_args()
    out: dict[str, Any] = {"targets": {"latency_ms_p99": 1000, "render_ms": 500}}
    with tempfile.TemporaryDirectory() as d, EmbeddedBroker() as broker:
        tmp = Path(d)
        with sync_playwright() as p:
            browser = launch(p)
            try:
                out.update(latency(broker.bootstrap, tmp, browser, args.transitions, args.rate))
                out.update(render(broker.bootstrap, tmp, browser, args.open))
            finally:
                browser.close()
        out.update(memory(broker.bootstrap, tmp, args.history))
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""Real parts for the dashboard's browser tests: Debian's Chromium through Playwright, dashboard
processes, and live copies of the demo NMS case (event times moved to end just now).

Chromium comes from apt (``scripts/test.sh`` installs it); Playwright only drives it
(``executable_path``; never ``playwright install``). Each launch gets a fresh temporary profile
(Playwright's own user-data dir, removed on close). Loopback only; every process is stopped.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from monitor.stream.broker import free_port
from tests.integration.harness import ROOT, WARD, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("NMS_TEST_ARTIFACTS", ROOT / "out" / "test-artifacts"))


def launch(playwright: Any) -> Any:
    assert shutil.which(CHROMIUM), "Chromium is a test requirement: apt-get install chromium"
    return playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, chromium_sandbox=False
    )


def live_case(
    patient_id: str, out: Path, end: dt.datetime | None = None, upto: str | None = None
) -> Path:
    """The demo NMS patient of ``examples/ward.ndjson`` as ``patient_id`` (only its events before
    the original time ``upto``, if given), every event time moved so the last one is ``end``
    (default: two minutes ago), in time order: a live feed."""
    rows = [orjson.loads(ln) for ln in WARD.read_bytes().splitlines() if ln.strip()]
    rows = [r for r in rows if r["patient_id"] == "demo-nms-1"]
    if upto is not None:
        cut = dt.datetime.fromisoformat(upto)
        rows = [r for r in rows if dt.datetime.fromisoformat(r["time"]) < cut]
    last = max(dt.datetime.fromisoformat(r["time"]) for r in rows)
    shift = (end or dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)) - last
    for r in rows:
        r["time"] = (dt.datetime.fromisoformat(r["time"]) + shift).isoformat()
        r["patient_id"] = patient_id
        r["event_id"] = f"{patient_id}-{r['event_id']}"
    rows.sort(key=lambda r: r["time"])
    out.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return out


def send(bootstrap: str, *files: Path) -> None:
    """``nms-monitor send --single-topic`` (each patient's order kept exactly)."""
    out = subprocess.run(
        [sys.executable, "-m", "monitor.cli.main", "send", "--bootstrap", bootstrap,
         "--single-topic", *map(str, files)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert out.returncode == 0 and "0 lines rejected" in out.stderr, out.stderr


class DashboardProcess:
    """One ``nms-monitor dashboard`` process on a fixed loopback port (so it can restart)."""

    def __init__(self, bootstrap: str, tmp: Path, name: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}.log"
        self.env = {**os.environ, "NMS_KAFKA_BOOTSTRAP": bootstrap, "PYTHONUNBUFFERED": "1", **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DashboardProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor.cli.main", "dashboard", "--port", str(self.port)],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env, cwd=ROOT,
        )  # fmt: skip
        wait_for(self.healthy, 60, f"the dashboard on {self.url}\n{self.log()[-2000:]}")
        return self

    def healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the dashboard exited:\n{self.log()[-3000:]}")
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                return bool(orjson.loads(r.read())["feed"] == "live")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

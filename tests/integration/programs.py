"""Real programs for the paging and monitoring tests: Debian's ``prometheus-alertmanager`` and
``prometheus``, the forwarder, and a local HTTP receiver that records what it is sent.

Loopback only, free ports, bounded waits; every process and server a test starts, it stops.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from monitor.stream.broker import free_port
from tests.integration.harness import ROOT, wait_for

ALERTMANAGER = shutil.which("prometheus-alertmanager")
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None, reason="Debian's prometheus-alertmanager (scripts/test.sh installs it)"
)
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian's prometheus and promtool (scripts/test.sh installs them)",
)


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


class Program:
    """One background process with its log in ``tmp``; stopped with SIGTERM, then SIGKILL."""

    def __init__(self, name: str, tmp: Path, argv: list[str], env: dict[str, str] | None = None):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = tmp / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Program:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=ROOT,
            )
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_ready(self, url: str, timeout: float) -> None:
        """Wait until ``url`` answers 200; a program that does not get there is stopped."""
        try:
            wait_for(lambda: http_get(url)[0] == 200 or not self.alive, timeout, f"{self.name}")
            assert self.alive, f"{self.name} exited:\n{self.log()}"
        except BaseException:
            self.stop()
            raise


class Alertmanager(Program):
    """Debian's Alertmanager on a free loopback port, clustering off, state in ``tmp``."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.port = free_port()
        data = tmp / "alertmanager-data"
        data.mkdir(parents=True, exist_ok=True)
        (tmp / "alertmanager.yml").write_text(config)
        assert ALERTMANAGER is not None
        super().__init__(
            "alertmanager",
            tmp,
            [
                ALERTMANAGER,
                f"--config.file={tmp / 'alertmanager.yml'}",
                f"--storage.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Alertmanager:
        super().start()
        self.wait_ready(f"{self.url}/-/ready", 30)
        return self

    def alerts(self) -> list[dict[str, Any]]:
        status, body = http_get(f"{self.url}/api/v2/alerts")
        assert status == 200, body
        result: list[dict[str, Any]] = json.loads(body)
        return result


class Prometheus(Program):
    """Debian's Prometheus on a free loopback port with the given config, TSDB in ``tmp``."""

    def __init__(self, tmp: Path, config: str) -> None:
        self.port = free_port()
        data = tmp / "prometheus-data"
        data.mkdir(parents=True, exist_ok=True)
        (tmp / "prometheus.yml").write_text(config)
        assert PROMETHEUS is not None
        super().__init__(
            "prometheus",
            tmp,
            [
                PROMETHEUS,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Prometheus:
        super().start()
        self.wait_ready(f"{self.url}/-/ready", 60)
        return self

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = http_get(url)
        assert status == 200, body
        data = json.loads(body)
        assert data["status"] == "success", data
        result: list[dict[str, Any]] = data["data"]["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of an instant query (None when it has no result)."""
        result = self.query(expr)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])


class Forwarder(Program):
    def __init__(self, bootstrap: str, tmp: Path, name: str, **env: str) -> None:
        self.metrics_port = free_port()
        full = {
            **os.environ,
            "NMS_KAFKA_BOOTSTRAP": bootstrap,
            "NMS_FORWARD_METRICS_PORT": str(self.metrics_port),
            "NMS_FORWARD_RETRY_INITIAL_S": "0.2",
            "NMS_FORWARD_RETRY_MAX_S": "1",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        argv = [sys.executable, "-m", "monitor.cli.main", "forward", "--loglevel", "info"]
        super().__init__(name, tmp, argv, full)

    def get(self, path: str) -> tuple[int, str]:
        status, body = http_get(f"http://127.0.0.1:{self.metrics_port}{path}")
        return status, body.decode(errors="replace")

    def ready(self) -> bool:
        return self.get("/healthz/ready")[0] == 200

    def metric(self, name: str, **labels: str) -> float:
        """A sample's value from /metrics (0 when absent)."""
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            metric, _, rest = key.partition("{")
            got = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
            if metric == name and got == want:
                return float(value)
        return 0.0


ACCEPTED = b'{"status":"success","message":"Event processed"}'
REFUSED = b'{"status":"invalid event","message":"Event object is invalid"}'


class Receiver:
    """A local HTTP receiver: records every POST (path, headers, body) it accepts, answers
    ``status`` (202), or refuses bodies that contain one of ``refuse`` with 400. ``down()``
    closes its socket (connection refused); ``up()`` listens on the same port again."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.port = free_port()
        self.delay_s = delay_s
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.refuse: list[bytes] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if owner.delay_s:
                    time.sleep(owner.delay_s)
                refused = any(r in body for r in owner.refuse)
                if not refused:
                    with owner.lock:
                        owner.received.append((self.path, dict(self.headers), body))
                answer = REFUSED if refused else ACCEPTED
                self.send_response(400 if refused else 202)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = None
        deadline = time.monotonic() + 10
        while server is None:
            try:
                server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def bodies(self, path: str | None = None) -> list[bytes]:
        with self.lock:
            return [b for p, _, b in self.received if path is None or p == path]

    def json(self, path: str | None = None) -> list[Any]:
        return [json.loads(b) for b in self.bodies(path)]

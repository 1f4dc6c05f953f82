"""The worker's HTTP server: ``/metrics`` (Prometheus) and ``/healthz/live``, ``/healthz/ready``.

One small threaded server, so the probes need no port of their own. Health answers 200 with
``ok`` or 503 with the reason (see :mod:`monitor.stream.health`); anything else is 404.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.stream.health import Health

METRICS_PATH = "/metrics"
LIVE_PATH = "/healthz/live"
READY_PATH = "/healthz/ready"


class WorkerServer:
    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int):
        """Bind now (an ``OSError`` if the address is taken); serve once :meth:`start`-ed."""
        self.registry = registry
        handler = _handler(registry, health)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="nms-metrics", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> WorkerServer:
        self.thread.start()
        return self

    def close(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(5)
        self.httpd.server_close()


def _handler(registry: CollectorRegistry, health: Health) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == METRICS_PATH:
                encode, content_type = choose_encoder(self.headers.get("Accept", ""))
                self._reply(200, content_type, encode(registry))
            elif path in (LIVE_PATH, READY_PATH):
                ok, why = health.live() if path == LIVE_PATH else health.ready()
                self._reply(200 if ok else 503, "text/plain; charset=utf-8", f"{why}\n".encode())
            else:
                self._reply(404, "text/plain; charset=utf-8", b"not found\n")

        def _reply(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # probes every few seconds would flood the worker's log

    return Handler

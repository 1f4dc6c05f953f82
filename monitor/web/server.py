"""The dashboard's composition root: ``run_dashboard`` (the ``dashboard`` command, in the
foreground) and ``start_in_background`` (for ``nms-monitor run``, beside the worker).

Both build the same parts from one ``Settings``: the authenticator (which refuses a
non-loopback address without credentials before anything listens), the store, the ack publisher
(``<prefix>.acks``), the app, and the feed thread that reads ``<prefix>.alerts`` from the
beginning. uvicorn serves it without its access log (paths hold patient ids; ``guards`` logs a
redacted line instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import uvicorn

from monitor.settings import Settings
from monitor.stream.topics import Topics
from monitor.web.acks import KafkaAckPublisher
from monitor.web.app import Dashboard, create_app
from monitor.web.auth import AuthConfigError, authenticator
from monitor.web.feed import AlertFeed
from monitor.web.settings import WebSettings
from monitor.web.store import AlertStore

log = logging.getLogger(__name__)


class DashboardError(Exception):
    """The dashboard cannot start (authentication settings, address in use, no brokers)."""


def _with_bootstrap(settings: Settings, bootstrap: str | None) -> Settings:
    if bootstrap is None:
        return settings
    kafka = settings.kafka.model_copy(update={"bootstrap": bootstrap})
    return settings.model_copy(update={"kafka": kafka})


def build(settings: Settings) -> Dashboard:
    """The dashboard for these settings, with its feed started and stopped by the app."""
    if not settings.kafka.bootstrap_list():
        raise DashboardError("no brokers: pass --bootstrap or set NMS_KAFKA_BOOTSTRAP")
    try:
        auth = authenticator(settings.web)
    except AuthConfigError as exc:
        raise DashboardError(str(exc)) from None
    topics = Topics(settings.kafka.topic_prefix)
    publisher = KafkaAckPublisher(settings.kafka, topics.for_kind("ack"))
    dash = Dashboard(settings.web, AlertStore(settings.web.history_max_alerts), publisher, auth)
    feeds: list[AlertFeed] = []

    def start_feed(loop: asyncio.AbstractEventLoop) -> None:
        def on_loop(fn: Callable[..., object], *args: object) -> None:
            # The loop may already be closing when the feed hands over its last batch.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(fn, *args)

        feed = AlertFeed(
            settings.kafka,
            topics.alerts,
            deliver=lambda batch, wall: on_loop(dash.apply, batch, wall),
            status=lambda s: on_loop(dash.set_status, s),
        )
        feeds.append(feed.start())

    def stop_feed() -> None:
        for f in feeds:
            f.stop()
        publisher.close()

    dash.on_start.append(start_feed)
    dash.on_stop.append(stop_feed)
    return dash


def bind(web: WebSettings) -> socket.socket:
    """The listening socket (bound here, so port 0 gives a known free port)."""
    family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((web.host.strip("[]"), web.port))
    except OSError as exc:
        sock.close()
        raise DashboardError(f"cannot listen on {web.host}:{web.port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(dash: Dashboard) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(dash),
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="none",
        http="h11",
        # Event streams never end by themselves: give them this long after a stop.
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


@dataclass
class DashboardHandle:
    """A dashboard serving from a background thread. ``url`` is where it listens."""

    url: str
    dashboard: Dashboard
    _server: uvicorn.Server
    _thread: threading.Thread

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop serving, end the feed, close the producer; returns when the thread has ended."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(5.0)


def start_in_background(
    settings: Settings,
    bootstrap: str | None = None,
    *,
    clock: Literal["wall", "stream"] | None = None,
    timeout: float = 20.0,
) -> DashboardHandle:
    """Start the dashboard beside other work in this process (``nms-monitor run``).

    ``bootstrap`` overrides ``settings.kafka.bootstrap`` (e.g. the embedded broker's address);
    ``clock`` overrides ``settings.web.clock`` (``"stream"`` for ``run --demo``, whose event
    times are in the past). Returns once it accepts connections; raises ``DashboardError`` when
    it cannot start (authentication settings, address in use).
    """
    if clock is not None:
        settings = settings.model_copy(
            update={"web": settings.web.model_copy(update={"clock": clock})}
        )
    dash = build(_with_bootstrap(settings, bootstrap))
    sock = bind(settings.web)
    server = _server(dash)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="nms-dashboard", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5.0)
            sock.close()
            raise DashboardError("the dashboard did not start")
        time.sleep(0.02)
    return DashboardHandle(url_of(sock), dash, server, thread)


def run_dashboard(
    settings: Settings, bootstrap: str | None, host: str | None, port: int | None
) -> int:
    """``nms-monitor dashboard``: serve until SIGINT/SIGTERM. Exit 2 when it cannot start."""
    update: dict[str, object] = {}
    if host is not None:
        update["host"] = host
    if port is not None:
        if not 0 <= port <= 65535:
            print(f"nms-monitor dashboard: invalid port {port}", file=sys.stderr)
            return 2
        update["port"] = port
    settings = settings.model_copy(update={"web": settings.web.model_copy(update=update)})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for noisy in ("kafka", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        dash = build(_with_bootstrap(settings, bootstrap))
        sock = bind(settings.web)
    except DashboardError as exc:
        print(f"nms-monitor dashboard: {exc}", file=sys.stderr)
        return 2
    who = getattr(dash.auth, "user", None)
    mode = f"loopback user {who.name}" if who is not None else "authentication required"
    print(f"dashboard on {url_of(sock)} ({mode})", file=sys.stderr, flush=True)
    _server(dash).run(sockets=[sock])
    return 0

"""``worker``, ``run`` and ``alerts``: the command line around Kafka (``send``: cli/send.py)."""

from __future__ import annotations

import errno
import gc
import logging
import sys
import threading
import time
from importlib.resources import as_file, files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from monitor.contracts.alerts import Alert
from monitor.settings import Settings
from monitor.stream.settings import KafkaSettings
from monitor.stream.topics import Topics

if TYPE_CHECKING:
    from monitor.stream.health import Health
    from monitor.stream.server import WorkerServer

# The bundled example ward, shipped inside the package so that `run --demo` works from any
# install (a wheel has no examples/ folder); examples/make_examples.py writes both copies.
DEMO_DATA = ("monitor", "data/ward.ndjson")


def demo_file() -> Traversable:
    """The packaged example ward (``importlib.resources``: a wheel, a zip or a source tree)."""
    package, name = DEMO_DATA
    return files(package).joinpath(name)


def has_brokers(settings: Settings, command: str) -> bool:
    """True when brokers are configured; otherwise say how to configure them."""
    if settings.kafka.bootstrap_list():
        return True
    print(
        f"nms-monitor {command}: no brokers: pass --bootstrap or set NMS_KAFKA_BOOTSTRAP",
        file=sys.stderr,
    )
    return False


def with_bootstrap(settings: Settings, bootstrap: str | None) -> Settings:
    if bootstrap is None:
        return settings
    kafka = settings.kafka.model_copy(update={"bootstrap": bootstrap})
    return settings.model_copy(update={"kafka": kafka})


class SetupError(Exception):
    """Something the user fixes with a setting or an option: reported in one line, exit 2."""


def bind_server(settings: Settings) -> tuple[Health, WorkerServer | None]:
    """The worker's health, and its /metrics and /healthz server bound (not yet serving);
    :class:`SetupError` naming the setting to change when the address cannot be had."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from monitor.stream.health import Health, register_health  # noqa: PLC0415
    from monitor.stream.server import WorkerServer  # noqa: PLC0415

    host, port = settings.worker.metrics_host, settings.worker.metrics_port
    health = Health(settings.worker.stall_timeout_s)
    if not port:
        return health, None
    registry = CollectorRegistry()
    register_health(registry, health)
    try:
        return health, WorkerServer(registry, health, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SetupError(
                f"port {port} on {host} is already in use (another worker's metrics?): set "
                "NMS_WORKER_METRICS_PORT to a free port, or to 0 to turn /metrics and /healthz off"
            ) from None
        raise SetupError(
            f"cannot serve /metrics on {host}:{port} ({exc.strerror or exc}): check "
            "NMS_WORKER_METRICS_HOST and NMS_WORKER_METRICS_PORT"
        ) from None


def run_worker(
    settings: Settings,
    loglevel: str = "info",
    command: str = "worker",
    bound: tuple[Health, WorkerServer | None] | None = None,
) -> int:
    """Create the topics, then run one Faust worker until it is stopped (SIGINT/SIGTERM)."""
    if not has_brokers(settings, command):
        return 2
    try:
        health, server = bound or bind_server(settings)
    except SetupError as exc:
        print(f"nms-monitor {command}: {exc}", file=sys.stderr)
        return 2
    try:
        return _serve_worker(settings, loglevel, health, server, announce=command == "worker")
    finally:
        if bound is None and server is not None:  # else its owner closes it
            server.close()


def _serve_worker(
    settings: Settings,
    loglevel: str,
    health: Health,
    server: WorkerServer | None,
    announce: bool = True,
) -> int:
    from faust import Worker  # noqa: PLC0415 - Faust is slow to import; only workers need it

    from monitor.stream.app import create_app  # noqa: PLC0415
    from monitor.stream.kafka_io import ensure_topics  # noqa: PLC0415
    from monitor.stream.metrics import WorkerMetrics  # noqa: PLC0415

    created = ensure_topics(settings.kafka)
    if created and announce:
        print(f"created topics: {', '.join(created)}", file=sys.stderr)
    metrics = None
    if server is not None:
        metrics = WorkerMetrics(server.registry)
        server.start()
        if announce:
            where = f"http://{settings.worker.metrics_host}:{server.port}"
            print(f"metrics on {where}/metrics, health on {where}/healthz/live and "
                  "/healthz/ready", file=sys.stderr)  # fmt: skip
    nms = create_app(settings.kafka, settings.worker, settings.clinical, metrics, health=health)
    # Parsed patient states are many small long-lived objects with few cycles. With the default
    # thresholds a full collection ran every 2-3 s under load and stopped the event loop for
    # 70-110 ms each time (found no garbage); the imports are frozen out of every collection.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    worker = Worker(nms.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # Faust's start-up spinner writes terminal escapes even when stdout is not a terminal, and
    # makes the root logger format every debug record so that it can spin; the console is ours.
    worker.spinner = None
    if loglevel != "debug":
        # Faust and aiokafka format a debug record per message sent (with keys and values,
        # i.e. patient identifiers) even when only warnings are shown; pin their level.
        for name in ("faust.topics", "faust.transport", "aiokafka"):
            logging.getLogger(name).setLevel(
                max(logging.INFO, logging.getLevelName(loglevel.upper()))
            )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def read_alerts(settings: Settings, follow: bool, pretty: bool, idle_s: float = 2.0) -> int:
    from monitor.cli.replay import format_pretty  # noqa: PLC0415
    from monitor.stream.kafka_io import read_topic  # noqa: PLC0415

    if not has_brokers(settings, "alerts"):
        return 2
    topic = Topics(settings.kafka.topic_prefix).alerts
    for _, value in read_topic(settings.kafka, topic, follow, idle_s):
        if pretty:
            print(format_pretty(Alert.model_validate_json(value)), flush=True)
        else:
            sys.stdout.write(value.decode() + "\n")
            sys.stdout.flush()
    return 0


DEMO_SPEEDUP = 7200.0  # the 72 h example in about 36 s


def _demo_feed(kafka: KafkaSettings, stop: threading.Event) -> None:
    """Feed the bundled example patients, paced by event time."""
    from monitor.cli.send import send_files  # noqa: PLC0415

    with as_file(demo_file()) as path:  # a real file while it is read
        send_files(Settings(kafka=kafka), [str(path)], DEMO_SPEEDUP, False, stop)


def transition_line(value: bytes) -> str:
    """One line per alert transition for the console of ``run``: priority in words, what
    happened, where, the score and the criteria met. No patient identifier: the location says
    where, and the dashboard shows the rest."""
    a = orjson.loads(value)
    met = ", ".join(c["name"] for c in a["criteria"] if c["met"])
    where = a.get("location") or "location not given"
    return (
        f"{a['time'][:16].replace('T', ' ')}  {a['priority'].upper():<6} {a['transition']:<12} "
        f"{where}  score {a['score']}/{a['cutoff']}  [{met}]  {a['alert_id']}"
    )


def _print_transitions(kafka: KafkaSettings, stop: threading.Event, from_start: bool) -> None:
    from monitor.stream.kafka_io import read_topic  # noqa: PLC0415

    topic = Topics(kafka.topic_prefix).alerts
    for _, value in read_topic(kafka, topic, follow=True, stop=stop, from_start=from_start):
        print(transition_line(value), flush=True)


def _start_side_jobs(kafka: KafkaSettings, demo: bool, fresh_broker: bool) -> threading.Event:
    """The console's transition lines, and the demo feed when asked."""
    from monitor.stream.kafka_io import ensure_topics  # noqa: PLC0415

    ensure_topics(kafka)  # before the feed, or a broker may auto-create them differently
    stop = threading.Event()
    # On a fresh embedded broker every transition is new; on a cluster only the ones from now.
    threading.Thread(
        target=_print_transitions, args=(kafka, stop, fresh_broker), daemon=True
    ).start()
    if demo:
        threading.Thread(target=_demo_feed, args=(kafka, stop), daemon=True).start()
    return stop


def _banner(settings: Settings, bound: tuple[Health, WorkerServer | None],
            dashboard: str | None, embedded: bool) -> None:  # fmt: skip
    kafka = settings.kafka
    where = "embedded, memory only: stopping it loses all data" if embedded else "configured"
    lines = [
        "nms-monitor run",
        f"  broker:     {kafka.bootstrap} ({where})",
        f"  dashboard:  {dashboard or 'off'}",
    ]
    server = bound[1]
    if server is not None:
        base = f"http://{settings.worker.metrics_host}:{server.port}"
        lines.append(f"  metrics:    {base}/metrics (health: {base}/healthz/ready)")
    lines += [
        f"  send:       nms-monitor send --bootstrap {kafka.bootstrap} FILE.ndjson",
        f"  alerts:     one line per transition below; all of them: nms-monitor alerts "
        f"--bootstrap {kafka.bootstrap} --follow",
    ]
    print("\n".join(lines), flush=True)


def _serve_run(
    settings: Settings,
    bound: tuple[Health, WorkerServer | None],
    demo: bool,
    embedded: bool,
    loglevel: str,
    with_dashboard: bool,
) -> int:
    """The worker, with the dashboard beside it and a line per transition on the console."""
    # kafka-python's clients (the console reader, the demo feed, the dashboard) warn when a poll
    # step takes over 100 ms, which a busy laptop causes and nobody can act on.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR)
    handle = None
    if with_dashboard:
        from monitor.web.server import DashboardError, start_in_background  # noqa: PLC0415

        try:
            handle = start_in_background(settings, clock="stream" if demo else None)
        except DashboardError as exc:
            print(f"nms-monitor run: dashboard: {exc} (NMS_WEB_HOST, NMS_WEB_PORT; or "
                  "--no-dashboard)", file=sys.stderr)  # fmt: skip
            return 2
    try:
        _banner(settings, bound, handle.url if handle else None, embedded)
        stop = _start_side_jobs(settings.kafka, demo, fresh_broker=embedded)
        try:
            return run_worker(settings, loglevel=loglevel, command="run", bound=bound)
        finally:
            stop.set()
            if embedded:
                time.sleep(0.5)  # let the side jobs' clients close before the broker goes
    finally:
        if handle is not None:
            handle.stop()


def run_main(
    settings: Settings,
    embedded_port: int | None,
    demo: bool,
    loglevel: str = "warning",
    with_dashboard: bool = True,
) -> int:
    """The main job: the worker and the dashboard, on the configured brokers or on an embedded
    broker; a short banner, then one line per alert transition."""
    try:
        bound = bind_server(settings)  # first: a taken port must stop us before anything starts
    except SetupError as exc:
        print(f"nms-monitor run: {exc}", file=sys.stderr)
        return 2
    try:
        if settings.kafka.bootstrap_list():
            return _serve_run(settings, bound, demo, False, loglevel, with_dashboard)
        return _run_embedded(settings, embedded_port, demo, bound, loglevel, with_dashboard)
    finally:
        if bound[1] is not None:
            bound[1].close()


def _run_embedded(
    settings: Settings,
    embedded_port: int | None,
    demo: bool,
    bound: tuple[Health, WorkerServer | None],
    loglevel: str,
    with_dashboard: bool,
) -> int:
    from monitor.stream.broker import EmbeddedBroker, PortInUse  # noqa: PLC0415

    data_dir = Path(settings.worker.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "embedded-broker.log"
    broker = EmbeddedBroker(port=embedded_port, log_path=log_path)
    try:
        broker.start()
    except PortInUse as exc:
        print(f"nms-monitor run: {exc}: choose another --embedded-port, or leave it out for a "
              "free port", file=sys.stderr)  # fmt: skip
        return 2
    except (RuntimeError, TimeoutError) as exc:
        print(f"nms-monitor run: {exc} (see {log_path})", file=sys.stderr)
        return 2
    try:
        kafka = settings.kafka.model_copy(update={"bootstrap": broker.bootstrap})
        settings = settings.model_copy(update={"kafka": kafka})
        return _serve_run(settings, bound, demo, True, loglevel, with_dashboard)
    finally:
        broker.stop()
        logging.getLogger(__name__).info("embedded broker stopped")

"""``nms-monitor forward``: the pager forwarder's command (settings read once, here)."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import sys
from typing import TYPE_CHECKING

from monitor.settings import Settings

if TYPE_CHECKING:
    from monitor.forward.metrics import ForwardMetrics
    from monitor.forward.settings import ForwardSettings, ReceiverSet
    from monitor.stream.health import Health

log = logging.getLogger(__name__)


def run_forward(settings: Settings, loglevel: str = "info") -> int:
    """Deliver alert transitions until SIGINT or SIGTERM; exit 2 when it cannot start."""
    from prometheus_client import CollectorRegistry  # noqa: PLC0415

    from monitor.cli.stream_cmds import has_brokers  # noqa: PLC0415
    from monitor.forward.metrics import ForwardMetrics  # noqa: PLC0415
    from monitor.forward.settings import ForwardSettings, ReceiversError, load_receivers  # noqa: PLC0415
    from monitor.stream.health import Health, register_health  # noqa: PLC0415
    from monitor.stream.kafka_io import ensure_topics  # noqa: PLC0415
    from monitor.stream.server import WorkerServer  # noqa: PLC0415

    logging.basicConfig(
        level=logging.getLevelName(loglevel.upper()),
        format="[%(asctime)s] [%(levelname)s] %(name)s: %(message)s",
    )
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not has_brokers(settings, "forward"):
        return 2
    forward = ForwardSettings()
    try:
        receivers = load_receivers(forward)
    except ReceiversError as exc:
        print(f"nms-monitor forward: {exc}", file=sys.stderr)
        return 2
    registry = CollectorRegistry()
    metrics = ForwardMetrics(registry, list(receivers.receivers))
    health = Health(forward.stall_timeout_s)
    register_health(registry, health)
    server = None
    if forward.metrics_port:
        try:
            server = WorkerServer(registry, health, forward.metrics_host, forward.metrics_port)
        except OSError as exc:
            what = "is already in use" if exc.errno == errno.EADDRINUSE else "cannot be bound"
            where = f"{forward.metrics_host}:{forward.metrics_port}"
            print(f"nms-monitor forward: {where} {what}: set NMS_FORWARD_METRICS_PORT (0 turns "
                  "/metrics off)", file=sys.stderr)  # fmt: skip
            return 2
    try:
        try:
            ensure_topics(settings.kafka)
        except Exception as exc:  # kafka-python: no broker within the deadline
            print(f"nms-monitor forward: cannot reach the brokers: {exc}", file=sys.stderr)
            return 2
        if server is not None:
            server.start()
            where = f"http://{forward.metrics_host}:{server.port}"
            print(f"forward: metrics on {where}/metrics, health on {where}/healthz/ready",
                  file=sys.stderr, flush=True)  # fmt: skip
        routes = ", ".join(
            f"{p}: {', '.join(receivers.routes.for_priority(p)) or 'none'}"
            for p in ("high", "medium", "low")
        )
        print(f"forward: {len(receivers.receivers)} receiver(s); {routes}", file=sys.stderr,
              flush=True)  # fmt: skip
        asyncio.run(_serve(settings, forward, receivers, metrics, health))
    finally:
        if server is not None:
            server.close()
    print("forward: stopped", file=sys.stderr, flush=True)
    return 0


async def _serve(
    settings: Settings,
    forward: ForwardSettings,
    receivers: ReceiverSet,
    metrics: ForwardMetrics,
    health: Health,
) -> None:
    from monitor.forward.http import HttpTransport  # noqa: PLC0415
    from monitor.forward.service import Forwarder  # noqa: PLC0415

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    transport = await HttpTransport(forward.max_in_flight).start()
    forwarder = Forwarder(settings.kafka, forward, receivers, metrics, health, transport)
    try:
        await forwarder.start()
        await forwarder.run(stop)
    finally:
        await forwarder.stop()
        await transport.close()

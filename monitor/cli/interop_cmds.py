"""``hl7-listen``, ``fhir-listen`` and ``import-fhir``: the composition roots of the adapters."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from monitor.cli.stream_cmds import has_brokers
from monitor.interop.codes import CodesError, CodeTables, load_tables
from monitor.interop.metrics import InteropMetrics, serve
from monitor.interop.publish import KafkaSink
from monitor.interop.settings import InteropSettings
from monitor.settings import Settings

log = logging.getLogger(__name__)


def _tables(interop: InteropSettings, command: str) -> CodeTables | None:
    try:
        return load_tables(interop.codes_file)
    except CodesError as exc:
        print(f"nms-monitor {command}: {exc}", file=sys.stderr)
        return None


def prepare(settings: Settings, interop: InteropSettings, command: str) -> CodeTables | None:
    """Brokers configured, code tables valid, topics present; None (exit 2) otherwise."""
    from monitor.stream.kafka_io import ensure_topics  # noqa: PLC0415

    if not has_brokers(settings, command):
        return None
    tables = _tables(interop, command)
    if tables is None:
        return None
    try:
        ensure_topics(settings.kafka)
    except Exception as exc:  # kafka-python: no broker within the deadline
        print(f"nms-monitor {command}: cannot reach the brokers: {exc}", file=sys.stderr)
        return None
    return tables


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a listener's event loop: uvloop where it is installed, else asyncio's own."""
    try:
        import uvloop  # noqa: PLC0415 - optional
    except ImportError:  # pragma: no cover - Windows
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def settle_heap() -> None:
    """Once a listener has started: the objects of start-up (modules, code tables, about
    50,000) go to the collector's permanent generation, and a collection of the youngest
    generation waits for 10,000 new objects instead of 700. A listener's objects live for one
    message and are freed by their reference counts; with the defaults the collector still ran
    every dozen messages, rescanned the start-up objects in full collections of 30 ms (an ACK
    held up that long) and took 7 % of the listener's CPU (benchmarks/hl7.py's load)."""
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def run_hl7_listen(
    settings: Settings, interop: InteropSettings, host: str | None, port: int | None
) -> int:
    """Serve MLLP until SIGINT or SIGTERM."""
    from monitor.interop.hl7.convert import Hl7Context  # noqa: PLC0415
    from monitor.interop.hl7.handler import MessageHandler  # noqa: PLC0415
    from monitor.interop.hl7.server import Limits, MllpServer  # noqa: PLC0415

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(levelname)s] %(message)s")
    tables = prepare(settings, interop, "hl7-listen")
    if tables is None:
        return 2
    cfg = interop.hl7
    metrics = InteropMetrics(CollectorRegistry())
    if cfg.metrics_port:
        serve(metrics, cfg.metrics_host, cfg.metrics_port)
    ctx = Hl7Context(tables, ZoneInfo(cfg.timezone), cfg.assigning_authority)
    limits = Limits(
        cfg.max_message_bytes, cfg.idle_timeout_s, cfg.frame_timeout_s, cfg.max_connections
    )

    async def main() -> None:
        sink = KafkaSink(settings.kafka)
        await sink.start()
        handler = MessageHandler(
            ctx,
            sink,
            metrics,
            publish_timeout_s=cfg.publish_timeout_s,
            max_message_bytes=cfg.max_message_bytes,
            dedupe_size=cfg.dedupe_size,
        )
        server = MllpServer(handler, limits, metrics)
        try:
            bound = await server.start(host or cfg.host, cfg.port if port is None else port)
            settle_heap()
            print(f"hl7-listen: MLLP on {bound[0]}:{bound[1]}", file=sys.stderr, flush=True)
            await _until_signalled()
        finally:
            await server.stop()
            await sink.stop()

    run_loop(main())
    print("hl7-listen: stopped", file=sys.stderr, flush=True)
    return 0


def run_interop(args: argparse.Namespace) -> int:
    """Dispatch one of the interoperability commands with the settings read once, here."""
    from monitor.cli.stream_cmds import with_bootstrap  # noqa: PLC0415
    from monitor.interop.settings import load_interop_settings  # noqa: PLC0415
    from monitor.settings import load_settings  # noqa: PLC0415

    settings = with_bootstrap(load_settings(), args.bootstrap)
    interop = load_interop_settings()
    if args.command == "hl7-listen":
        return run_hl7_listen(settings, interop, args.host, args.port)
    if args.command == "fhir-listen":
        from monitor.cli.fhir_cmds import run_fhir_listen  # noqa: PLC0415

        return run_fhir_listen(settings, interop, args.host, args.port)
    from monitor.cli.fhir_cmds import run_import_fhir  # noqa: PLC0415

    return run_import_fhir(settings, interop, args.files)
